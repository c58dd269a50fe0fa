"""A failing source in a running daemon: `hookd status` says degraded and why, then ok once it works.

The daemon runs on a ManualClock, so the file source's polls and the supervisor's retries happen
when the test advances it; deliveries and the admin listener are real.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tests.cli_helpers import plain
from tests.conftest import Receiver, event_line, running_daemon, send_lines, wait_db
from tests.manual_clock import ManualClock
from tests.test_admin import admin_config
from tests.test_cli_status import hookd_status

POLL_S = 0.25  # the file source's default poll interval


async def test_status_names_a_failing_source_until_it_works_again(short_dir: Path, receiver: Receiver) -> None:
    """1. The daemon tails events.jsonl (one line). 2. The file is moved away and its path becomes a
    symlink to /dev/zero; a poll. 3. `hookd status`. 4. A regular file with a new line takes the
    path back; the retry comes. 5. `hookd status`.

    Result: (3) exits 1, health degraded with the source's name and why (a character device, not a
    regular file), the source's `failing` entry in --json; the daemon still serves the socket. (5)
    the new line is stored, health ok, exit 0.
    """
    log = short_dir / "events.jsonl"
    log.write_bytes(event_line("user.created", id="f1") + b"\n")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(admin_config(short_dir, receiver), clock=clock) as daemon:
        await wait_db(db, "SELECT id FROM events", lambda r: r == [("f1",)])
        await clock.wait_sleeping(POLL_S)
        log.rename(short_dir / "events.jsonl.1")
        os.symlink("/dev/zero", log)
        clock.advance(POLL_S)
        await clock.wait_sleeping(1.0)  # the supervisor's first retry wait: it has seen the failure
        url = str(daemon.admin_url)
        degraded = await hookd_status(["status", "--url", url, "--json"])
        human = await hookd_status(["status", "--url", url])
        [reply] = await send_lines(short_dir / "s.sock", [event_line("user.created", id="s1")])
        assert reply["ok"] is True

        log.unlink()
        log.write_bytes(event_line("user.created", id="f2") + b"\n")
        clock.advance(1.0)
        await wait_db(db, "SELECT id FROM events ORDER BY id", lambda r: r == [("f1",), ("f2",), ("s1",)])
        ok = await hookd_status(["status", "--url", url, "--json"])

    assert degraded.exit_code == 1, degraded.output
    doc = orjson.loads(degraded.stdout)
    assert doc["health"]["status"] == "degraded"
    [reason] = [r for r in doc["health"]["reasons"] if r.startswith("source 'log'")]
    assert reason.startswith(f"source 'log' is not working: {str(log)!r} is a character device, not a regular file")
    failing = {s["name"]: s["failing"] for s in doc["sources"]}
    assert failing["app"] is None
    assert failing["log"]["failures"] == 1 and "character device" in failing["log"]["reason"]
    assert "health: degraded" in plain(human.stdout) and "source 'log' is not working" in plain(human.stdout)

    assert ok.exit_code == 0, ok.output
    doc = orjson.loads(ok.stdout)
    assert doc["health"] == {"status": "ok", "reasons": []}
    assert all(s["failing"] is None for s in doc["sources"])
