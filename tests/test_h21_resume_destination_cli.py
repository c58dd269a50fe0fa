"""`hookd hooks resume NAME --destination HOST` and the `NAME → HOST` rows of `hookd hooks list`
(issue 21, review findings): a host written another way is the daemon's key, a host that is not a
paused destination is an error naming those that are, the message says what is really sent, and a host
row does not show the hook's last success and failure as its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from hookd.store.base import HookPause
from tests.cli_helpers import hookd, plain
from tests.conftest import db_rows, open_store, socket_config

HOST = "localhost:36053"
OTHER = "localhost:36054"
PAUSED = "SELECT destination FROM destination_state WHERE hook = 'shops' ORDER BY destination"


def shops_config(d: Path) -> Path:
    """Hook shops (templated host and port) and hook orders (a fixed url)."""
    return socket_config(
        d,
        """
        hooks:
          - name: shops
            events: ["*"]
            url: "http://{{ data.host }}:{{ data.port }}/shop"
            allow_hosts: [localhost]
          - {name: orders, events: ["*"], url: "http://127.0.0.1:9/orders"}
        """,
    )


async def paused_database(db: Path, *hosts: str, hook_paused: bool = False) -> None:
    """shops' `hosts` paused by the receiver; shops' last success at 1000 and failure at 2000."""
    async with open_store(db) as store:
        for host in hosts:
            await store.pause_destination("shops", host, HookPause(by="receiver", reason="410 Gone", at=500.0))
        if hook_paused:
            await store.pause_hook("shops", HookPause(by="operator", reason="maintenance", at=600.0))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO hook_state (hook, last_success_at, last_failure_at, updated_at) "
            "VALUES ('shops', 1000, 2000, 0) "
            "ON CONFLICT (hook) DO UPDATE SET last_success_at = 1000, last_failure_at = 2000"
        )
    conn.close()


async def test_a_host_written_another_way_resumes_the_destination(short_dir: Path) -> None:
    """1. shops' destinations localhost:36053 and localhost:36054 are paused.
    2. `hooks resume shops --destination LOCALHOST:036053`; then `--destination http://localhost:36054/x`.
    Result: (2) each resumes the destination the daemon keys (lower case, the port without leading zeros;
    a URL's host:port, which the message says it took)."""
    cfg = shops_config(short_dir)
    db = short_dir / "hookd.db"
    await paused_database(db, HOST, OTHER)

    upper = await hookd("hooks", "resume", "shops", "--destination", "LOCALHOST:036053", "-c", str(cfg))
    assert upper.exit_code == 0, upper.output
    assert f"resumed shops → {HOST} (paused by the receiver" in plain(upper.output)
    assert db_rows(db, PAUSED) == [(OTHER,)]

    url = await hookd("hooks", "resume", "shops", "--destination", f"http://{OTHER}/x", "-c", str(cfg))
    assert url.exit_code == 0, url.output
    assert f"resumed shops → {OTHER} (the host of the URL http://{OTHER}/x)" in plain(url.output)
    assert db_rows(db, PAUSED) == []


async def test_a_host_that_is_not_a_paused_destination_exits_2(short_dir: Path) -> None:
    """1. shops' destinations localhost:36053 and localhost:36054 are paused.
    2. `hooks resume shops --destination localhost:3605` (a typo); `--destination example.com`.
    3. `hooks resume orders --destination localhost:36053` (orders' url host is not templated).
    Result: (2) each exits 2 naming the paused destinations, the typo with a did-you-mean; nothing is
    resumed. (3) exits 2 saying orders has no destinations of its own."""
    cfg = shops_config(short_dir)
    db = short_dir / "hookd.db"
    await paused_database(db, HOST, OTHER)

    typo = await hookd("hooks", "resume", "shops", "--destination", "localhost:3605", "-c", str(cfg))
    assert typo.exit_code == 2, typo.output
    out = " ".join(plain(typo.output).split())
    assert "hook 'shops' has no paused destination 'localhost:3605'; did you mean" in out
    assert f"its paused destinations are: {HOST}, {OTHER}" in out
    other = await hookd("hooks", "resume", "shops", "--destination", "example.com", "-c", str(cfg))
    assert other.exit_code == 2, other.output
    assert f"its paused destinations are: {HOST}, {OTHER}" in " ".join(plain(other.output).split())
    assert db_rows(db, PAUSED) == [(HOST,), (OTHER,)]

    fixed = await hookd("hooks", "resume", "orders", "--destination", HOST, "-c", str(cfg))
    assert fixed.exit_code == 2, fixed.output
    out = " ".join(plain(fixed.output).split())
    assert "hook 'orders' has no destinations of its own: its url host is not templated" in out
    assert "drop --destination (hookd hooks resume orders)" in out


async def test_resuming_a_destination_of_a_paused_hook_says_nothing_is_sent(short_dir: Path) -> None:
    """1. shops is paused by operator and its destination localhost:36053 by the receiver.
    2. `hooks resume shops --destination localhost:36053` (and with --json).
    Result: (2) the destination is resumed; the message says the hook itself is still paused and nothing
    is sent until it is resumed, with no count of the hook's whole backlog; --json says so too."""
    cfg = shops_config(short_dir)
    db = short_dir / "hookd.db"
    await paused_database(db, HOST, hook_paused=True)

    resumed = await hookd("hooks", "resume", "shops", "--destination", HOST, "-c", str(cfg))
    assert resumed.exit_code == 0, resumed.output
    out = " ".join(plain(resumed.output).split())
    assert f"resumed shops → {HOST} (paused by the receiver" in out
    assert "the hook itself is still paused by operator, so nothing is sent until `hookd hooks resume shops`" in out
    assert "waiting are sent" not in out

    await paused_database(db, HOST)
    as_json = await hookd("hooks", "resume", "shops", "--destination", HOST, "-c", str(cfg), "--json")
    assert as_json.exit_code == 0, as_json.output
    got = orjson.loads(as_json.output)
    assert got["hook_paused"]["by"] == "operator" and got["backlog"] is None


async def test_a_host_row_does_not_show_the_hooks_last_success_and_failure(short_dir: Path) -> None:
    """1. shops (last success and failure recorded) has its destination localhost:36053 paused.
    2. `hooks list` and `hooks list --json`.
    Result: the `shops → localhost:36053` row leaves last success and last failure empty (-) while the
    shops row shows them; --json's destinations entry has them null."""
    cfg = shops_config(short_dir)
    db = short_dir / "hookd.db"
    await paused_database(db, HOST)

    table = await hookd("hooks", "list", "-c", str(cfg), "--json")
    assert table.exit_code == 0, table.output
    [shops] = [item for item in orjson.loads(table.output) if item["name"] == "shops"]
    assert shops["last_success_at"] is not None and shops["last_failure_at"] is not None
    [entry] = shops["destinations"]
    assert entry["destination"] == HOST
    assert entry["last_success_at"] is None and entry["last_failure_at"] is None

    listed = await hookd("hooks", "list", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    lines = plain(listed.output).splitlines()
    [host_line] = [line for line in lines if "→" in line]
    [hook_line] = [line for line in lines if line.startswith("shops ") and "→" not in line]
    assert "00:16:40" in hook_line and "00:33:20" in hook_line, hook_line
    assert "00:16:40" not in host_line and "00:33:20" not in host_line, host_line
    assert "paused" in host_line
