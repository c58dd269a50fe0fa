"""`hookd hooks pause|resume|list` (issue 21, new-user review findings 6, 7, 9): resuming a hook whose
circuit breaker is open says so, pause and list work before the first `hookd serve`, and a destination
is named the ways its url names it, and paused by an operator."""

from __future__ import annotations

from pathlib import Path

import orjson

from hookd.hook_state import OPERATOR_REASON
from hookd.store.base import BreakerRecord, HookPause
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    db_rows,
    event_line,
    open_store,
    running_daemon,
    send_lines,
    serving_receiver,
    socket_config,
    wait_db,
    wait_until,
)


def words(text: str) -> str:
    return " ".join(plain(text).split())


def brk_config(d: Path) -> Path:
    return socket_config(
        d,
        """
        hooks:
          - {name: brk, events: ["*"], url: "http://127.0.0.1:9/brk", breaker: {failures: 2, cooldown: 30s}}
        """,
    )


async def test_resuming_a_hook_whose_breaker_is_open_says_so(short_dir: Path) -> None:
    """1. Hook brk is not paused; its circuit breaker is open (stored by the daemon: since 1000, probe
    at 1030, reason `2 failures in a row`). 2. `hookd hooks resume brk` (and --json).
    Result: (2) exit 0, nothing changed; the message says the breaker is open, since when and why, and
    when it probes; --json has the breaker."""
    cfg = brk_config(short_dir)
    async with open_store(short_dir / "hookd.db") as store:
        breaker = BreakerRecord(state="open", reason="2 failures in a row: HTTP 503", since=1000.0, retry_at=1030.0)
        await store.set_breaker("brk", breaker, 1000.0)

    resumed = await hookd("hooks", "resume", "brk", "-c", str(cfg))
    assert resumed.exit_code == 0, resumed.output
    text = words(resumed.output)
    assert "brk is not paused; nothing changed: its circuit breaker is open since" in text
    assert "(2 failures in a row: HTTP 503)" in text and "it probes with one delivery at" in text
    as_json = orjson.loads((await hookd("hooks", "resume", "brk", "-c", str(cfg), "--json")).output)
    assert as_json["changed"] is False
    assert as_json["breaker"]["state"] == "open" and as_json["breaker"]["probe_at"].startswith("1970-01-01T00:17:10")


async def test_pause_and_list_work_before_the_first_start(short_dir: Path, receiver: Receiver) -> None:
    """1. A config with hooks rl and other; no database yet (hookd serve never ran).
    2. `hookd hooks list` (and --json). 3. `hookd hooks pause rl --reason maint`; `hooks list --json`.
    4. `hookd hooks pause rl --db OTHER.db` (a path that does not exist).
    5. hookd serve starts; an event for rl and other.
    Result: (2) exit 0: both hooks, active, backlog 0, and a note on stderr that there is no database
    yet; no file is made. (3) exit 0: the database is created (the message says so) with the pause;
    list shows rl paused by operator. (4) exit 2: --db never creates a file. (5) the daemon takes the
    pause up: other's delivery is sent, rl's waits."""
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: rl, events: ["*"], url: "{receiver.url("/rl")}"}}
          - {{name: other, events: ["*"], url: "{receiver.url("/other")}"}}
        """,
    )
    db = short_dir / "hookd.db"

    listed = await hookd("hooks", "list", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    assert "no database yet at" in words(listed.stderr) and "every configured hook is active" in words(listed.stderr)
    as_json = orjson.loads((await hookd("hooks", "list", "-c", str(cfg), "--json")).stdout)
    assert [(h["name"], h["state"], h["backlog"]) for h in as_json] == [("rl", "active", 0), ("other", "active", 0)]
    assert not db.exists()

    paused = await hookd("hooks", "pause", "rl", "-c", str(cfg), "--reason", "maint")
    assert paused.exit_code == 0, paused.output
    assert f"created the database at {db}" in words(paused.output) and "paused rl" in words(paused.output)
    assert db_rows(db, "SELECT paused_by, paused_reason FROM hook_state WHERE hook = 'rl'") == [("operator", "maint")]
    as_json = orjson.loads((await hookd("hooks", "list", "-c", str(cfg), "--json")).stdout)
    assert [(h["name"], h["state"]) for h in as_json] == [("rl", "paused"), ("other", "active")]

    typo = await hookd("hooks", "pause", "rl", "--db", str(short_dir / "typo.db"))
    assert typo.exit_code == 2, typo.output
    assert not (short_dir / "typo.db").exists()

    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        await receiver.wait_count(1, "/other")
        await wait_db(
            db, "SELECT count(*) FROM deliveries WHERE hook = 'rl' AND state = 'pending'", lambda r: r == [(1,)]
        )
    assert receiver.at("/rl") == []


def tenant_config(d: Path) -> Path:
    """Hook tenant: a templated host, no port written (http: port 80); hook fixed: a fixed url."""
    return socket_config(
        d,
        """
        hooks:
          - name: tenant
            events: ["*"]
            url: "http://{{ data.tenant }}.t.example/tenant"
            allow_hosts: ["*.t.example"]
          - {name: fixed, events: ["*"], url: "http://127.0.0.1:9/fixed"}
        """,
    )


PAUSED = "SELECT destination, paused_by, paused_reason FROM destination_state WHERE hook = 'tenant'"


async def test_a_destination_is_named_the_ways_its_url_names_it(short_dir: Path) -> None:
    """1. Hook tenant (`http://{{ data.tenant }}.t.example/tenant`); its destination a.t.example is paused.
    2. `hooks resume tenant --destination` with `a.t.example.`, `a.t.example:80`, `http://a.t.example:80/x`
    (each after pausing it again). 3. `--destination https://a.t.example/`, `a.t.example:8080`.
    Result: (2) each resumes a.t.example (a trailing dot and the default port name the same host).
    (3) exit 2: the scheme is not the hook's; the port is not the one it sends to; nothing resumed."""
    cfg = tenant_config(short_dir)
    db = short_dir / "hookd.db"
    for given in ("a.t.example.", "a.t.example:80", "http://a.t.example:80/x", "A.T.Example"):
        paused = await hookd("hooks", "pause", "tenant", "--destination", "a.t.example", "-c", str(cfg))
        assert paused.exit_code == 0, paused.output
        resumed = await hookd("hooks", "resume", "tenant", "--destination", given, "-c", str(cfg))
        assert resumed.exit_code == 0, (given, resumed.output)
        assert "resumed tenant → a.t.example" in words(resumed.output)
        assert db_rows(db, PAUSED) == []

    assert (await hookd("hooks", "pause", "tenant", "--destination", "a.t.example", "-c", str(cfg))).exit_code == 0
    scheme = await hookd("hooks", "resume", "tenant", "--destination", "https://a.t.example/", "-c", str(cfg))
    assert scheme.exit_code == 2, scheme.output
    assert "but hook 'tenant' sends over http" in words(scheme.output)
    port = await hookd("hooks", "resume", "tenant", "--destination", "a.t.example:8080", "-c", str(cfg))
    assert port.exit_code == 2, port.output
    assert "hook 'tenant' sends to port 80 of every destination" in words(port.output)
    assert "give the host alone: a.t.example" in words(port.output)
    assert len(db_rows(db, PAUSED)) == 1


async def test_an_operator_pauses_one_destination(short_dir: Path) -> None:
    """1. Hook tenant (templated host) and hook fixed (a fixed url); no daemon.
    2. `hooks pause tenant --destination a.t.example --reason maint` (twice; and --json).
    3. `hooks list --json`. 4. `hooks pause tenant --destination evil.example`;
    `hooks pause fixed --destination a.t.example`.
    Result: (2) the destination is stored paused by operator with the reason; the second says it is
    paused already. (3) tenant is active with the destination paused. (4) exit 2: evil.example is not
    in tenant's allow_hosts; fixed has no destinations of its own."""
    cfg = tenant_config(short_dir)
    db = short_dir / "hookd.db"
    paused = await hookd(
        "hooks", "pause", "tenant", "--destination", "a.t.example", "--reason", "maint", "-c", str(cfg)
    )
    assert paused.exit_code == 0, paused.output
    assert "paused tenant → a.t.example: its deliveries to a.t.example are kept" in words(paused.output)
    assert "its other destinations go on" in words(paused.output)
    assert db_rows(db, PAUSED) == [("a.t.example", "operator", "maint")]
    again = await hookd("hooks", "pause", "tenant", "--destination", "a.t.example", "-c", str(cfg), "--json")
    assert again.exit_code == 0, again.output
    got = orjson.loads(again.stdout)
    assert (got["destination"], got["changed"], got["paused"]["reason"]) == ("a.t.example", False, "maint")

    [tenant, _] = orjson.loads((await hookd("hooks", "list", "-c", str(cfg), "--json")).stdout)
    assert tenant["state"] == "active"
    assert [(d["destination"], d["paused"]["by"]) for d in tenant["destinations"]] == [("a.t.example", "operator")]

    evil = await hookd("hooks", "pause", "tenant", "--destination", "evil.example", "-c", str(cfg))
    assert evil.exit_code == 2, evil.output
    assert "hook 'tenant' never sends to 'evil.example': it matches none of its allow_hosts" in words(evil.output)
    fixed = await hookd("hooks", "pause", "fixed", "--destination", "a.t.example", "-c", str(cfg))
    assert fixed.exit_code == 2, fixed.output
    assert "hook 'fixed' has no destinations of its own" in words(fixed.output)
    assert db_rows(db, PAUSED) == [("a.t.example", "operator", "maint")]


async def test_a_running_daemon_holds_a_destination_an_operator_paused(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook shops sends to `http://{{ data.host }}:{{ data.port }}/shop` (allow_hosts: localhost);
    two receivers (ports A and B); a running daemon.
    2. `hooks pause shops --destination http://localhost:A/`. 3. An event to each receiver.
    4. `hooks resume shops --destination localhost:A`.
    Result: (3) B's receiver gets its event; A's delivery waits (pending, no attempt). (4) A's is sent."""
    async with serving_receiver() as other:
        assert receiver.server is not None and other.server is not None
        a, b = receiver.server.port, other.server.port
        cfg = socket_config(
            short_dir,
            """
            hooks:
              - name: shops
                events: ["*"]
                url: "http://{{ data.host }}:{{ data.port }}/shop"
                allow_hosts: [localhost]
                allow_destinations: [127.0.0.0/8]
            """,
        )
        db = short_dir / "hookd.db"
        async with running_daemon(cfg) as daemon:
            told: list[tuple[str, str, str, str]] = []
            daemon.dispatcher.on_destination_event = lambda kind, hook, reason, host: told.append(
                (kind, hook, reason, host)
            )
            paused = await hookd("hooks", "pause", "shops", "--destination", f"http://localhost:{a}/", "-c", str(cfg))
            assert paused.exit_code == 0, paused.output
            # What the admin listener's POST /hooks/refresh does (the command tells a daemon with a fixed port).
            daemon.dispatcher.refresh_hook_states()
            await wait_until(lambda: ("hook.paused", "shops", OPERATOR_REASON, f"localhost:{a}") in told)
            lines = [
                event_line(id="ea", data={"host": "localhost", "port": a}),
                event_line(id="eb", data={"host": "localhost", "port": b}),
            ]
            await send_lines(short_dir / "s.sock", lines)
            await other.wait_count(1, "/shop")
            rows = "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id"
            await wait_db(db, rows, lambda r: r == [("ea", "pending", 0), ("eb", "delivered", 1)])
            assert receiver.at("/shop") == []

            resumed = await hookd("hooks", "resume", "shops", "--destination", f"localhost:{a}", "-c", str(cfg))
            assert resumed.exit_code == 0, resumed.output
            daemon.dispatcher.refresh_hook_states()
            await receiver.wait_count(1, "/shop")
            await wait_db(db, rows, lambda r: r == [("ea", "delivered", 1), ("eb", "delivered", 1)])


def test_an_operators_destination_pause_is_no_health_problem() -> None:
    """As a hook's: an operator meant it. A receiver's or disable_after's pause of a destination is one,
    named for who paused it."""
    from hookd.health import paused_destination_reason

    by = {who: HookPause(by=who, reason="why", at=0.0) for who in ("operator", "receiver", "disable_after")}
    assert paused_destination_reason("shops", "a.example", by["operator"], "then") is None
    assert "paused by the receiver" in str(paused_destination_reason("shops", "a.example", by["receiver"], "then"))
    assert "paused by breaker.disable_after" in str(
        paused_destination_reason("shops", "a.example", by["disable_after"], "then")
    )
