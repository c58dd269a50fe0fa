"""`hookd hooks pause|resume|list` (issue 21, new-user review findings 6, 7, 9): resuming a hook whose
circuit breaker is open says so, pause and list work before the first `hookd serve`, and a destination
is named the ways its url names it, and paused by an operator."""

from __future__ import annotations

from pathlib import Path

import orjson

from hookd.store.base import BreakerRecord
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, db_rows, event_line, open_store, running_daemon, send_lines, socket_config, wait_db


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
