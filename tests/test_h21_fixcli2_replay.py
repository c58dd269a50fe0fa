"""`hookd replay --wait` and `--from-file` (issue 21, second new-user review finding 6): replays parked
at a paused destination are said to be untried, as a paused hook's are, not "not delivered"; and a file
whose every delivery is left out (still queued) does not then say no hook matches it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli_helpers import hookd, plain
from tests.conftest import FAILSAFE_S, Receiver, db_rows, running_daemon, send_lines, wait_db
from tests.manual_clock import ManualClock
from tests.test_h21_hosts_daemon import events, port, shops_config


def words(text: str) -> str:
    return " ".join(plain(text).split())


async def test_replays_parked_at_a_paused_destination_are_said_untried(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook shops (templated host and port); event a0 to localhost:A is delivered; the daemon stops.
    2. `hooks pause shops --destination localhost:A`. 3. `hookd replay --event a0 --wait`.
    Result: (3) exit 1; it says 1 not sent because their destination is paused (shops → localhost:A),
    nothing was attempted, with the resume command; no `not delivered; hookd history show ID has every
    attempt` table."""
    cfg = shops_config(short_dir, "")
    db = short_dir / "hookd.db"
    host = f"localhost:{port(receiver)}"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(receiver, receiver, ["a0"])))
        await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
    paused = await hookd("hooks", "pause", "shops", "--destination", host, "-c", str(cfg))
    assert paused.exit_code == 0, paused.output

    async with asyncio.timeout(FAILSAFE_S):
        replayed = await hookd("replay", "-c", str(cfg), "--event", "a0", "--wait")
    assert replayed.exit_code == 1, replayed.output
    text = words(replayed.output)
    assert f"1 not sent because their destination is paused (shops → {host}): they are queued, nothing was " in text
    assert f"`hookd hooks resume shops --destination {host}`" in text
    assert "not delivered; hookd history show ID has every attempt" not in text
    assert len(receiver.at("/shop")) == 1


async def test_a_file_whose_deliveries_are_all_queued_does_not_say_no_hook_matches(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook shops; event a0's delivery is parked (its destination paused before it came). 2. `hookd
    replay --from-file F --wait` with a0's line.
    Result: (2) it says 1 left out (still queued), then that every delivery they match is left out, not
    `no hook matches them`."""
    cfg = shops_config(short_dir, "")
    db = short_dir / "hookd.db"
    host = f"localhost:{port(receiver)}"
    assert (await hookd("hooks", "pause", "shops", "--destination", host, "-c", str(cfg))).exit_code == 0
    [line] = events(receiver, receiver, ["a0"])
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", [line]))
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 0)])
    (short_dir / "rf.jsonl").write_bytes(line + b"\n" if not line.endswith(b"\n") else line)

    async with asyncio.timeout(FAILSAFE_S):
        replayed = await hookd("replay", "-c", str(cfg), "--from-file", str(short_dir / "rf.jsonl"), "--wait")
    text = words(replayed.output)
    assert "1 left out: a delivery of that event to that hook is still queued" in text
    assert "nothing to replay: every delivery they match is left out (above)" in text
    assert "no hook matches them" not in text
    assert db_rows(db, "SELECT count(*) FROM deliveries") == [(1,)]
