"""A 429 or 503 with Retry-After slows the hook's whole lane for that time: the deliveries queued
behind the one that was told "later" wait too, and waiting spends no attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from hookd.events import utc_now_rfc3339
from tests.cli_helpers import plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_cli_status import hookd_status
from tests.test_serve import basic_config


async def test_retry_after_holds_the_whole_lane_without_spending_attempts(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook h (concurrency 1) whose receiver answers the first request
       429 with Retry-After: 60, then 200; hook other, to another path, always 200.
    2. Three events, each for both hooks.
    Result: h's receiver gets one request, then nothing while the clock stands (its two queued
    deliveries wait, back to pending with no attempt counted), while hook other delivers all three;
    once the clock passes the minute, h delivers all three: the told one on its second attempt, the
    two that waited on their first."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", Reply(status=429, headers={"Retry-After": "60"}))
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", concurrency: 1, '
        "retry: {max_delay: 1h, jitter: false}}\n"
        f'          - {{name: other, events: ["*"], url: "{receiver.url("/other")}"}}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'other' AND state = 'delivered'",
                      lambda r: r == [(3,)])  # fmt: skip
        await wait_db(db, "SELECT event_id, state, attempts FROM deliveries WHERE hook = 'h' ORDER BY event_id",
                      lambda r: r == [("e1", "pending", 1), ("e2", "pending", 0), ("e3", "pending", 0)])  # fmt: skip
        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):  # turns for a lane that was not held to send
            await asyncio.sleep(0)
        assert len(receiver.at("/h")) == 1

        clock.advance(60.0)
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries WHERE hook = 'h' ORDER BY event_id",
                             lambda r: all(state == "delivered" for _, state, _ in r))  # fmt: skip
    assert rows == [("e1", "delivered", 2), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert len(receiver.at("/h")) == 4
    assert db_rows(db, "SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                       "WHERE d.hook = 'h'") == [(4,)]  # fmt: skip


async def test_retry_after_zero_holds_nothing_but_the_told_delivery_waits_its_backoff(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook h (concurrency 1, initial_delay 5s) whose receiver answers
       the first request 429 with Retry-After: 0, then 200. 2. Three events.
    Result: the receiver asked for no wait, so the lane is not held: e2 and e3 are delivered while the
    clock stands; e1 waits its policy's 5 s (Retry-After never shortens a delay) and goes once the
    clock has moved them."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", Reply(status=429, headers={"Retry-After": "0"}))
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", concurrency: 1, '
        "retry: {initial_delay: 5s, jitter: false}}"
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        query = "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id"
        await wait_db(db, query, lambda r: r == [("e1", "pending", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)])
        clock.advance(5.0)
        await wait_db(db, query, lambda r: r[0] == ("e1", "delivered", 2))
    assert len(receiver.at("/h")) == 4


async def test_a_hold_is_not_lengthened_by_a_clock_stepped_back(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. As above, hook h alone, retry max_delay 2m: its receiver answers e1 429 with Retry-After: 60
       (the lane is held a minute), then 200. 2. The wall clock is stepped back an hour (NTP); e2
       arrives; the clock moves on 3 minutes.
    Result: e2 is delivered on its first attempt: the hold lasts at most max_delay from the first look
    after the step, not the hour the step added. (e1's retry is due at the time stored for it, which
    the step moved an hour away, as it does every stored due time: it stays pending.)"""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", Reply(status=429, headers={"Retry-After": "60"}))
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", concurrency: 1, '
        "retry: {max_delay: 2m, jitter: false}}"
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock):
        [ack] = await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")])
        assert ack["ok"]
        await wait_db(db, "SELECT event_id, state, attempts FROM deliveries", lambda r: r == [("e1", "pending", 1)])
        await wait_until(lambda: clock.waiting() > 0)

        clock.set_back(3600.0)
        [ack] = await send_lines(short_dir / "s.sock", [event_line("order.created", id="e2")])
        assert ack["ok"]
        clock.advance(60.0)  # the wait the dispatcher began wakes after its own minute, as a real one does
        await wait_until(lambda: clock.waiting() > 0)
        assert len(receiver.at("/h")) == 1
        clock.advance(120.0)
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: r[1][1] == "delivered")  # fmt: skip
    assert rows == [("e1", "pending", 1), ("e2", "delivered", 1)]


async def test_status_shows_a_hold_until_its_end(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook h's receiver answers 429 with Retry-After: 60; an admin listener. 2. One event: the lane
    is held. 3. `hookd status --json` and `hookd status`.
    Result: h's held_until is a minute on; the table's state says held until then (the receiver's
    Retry-After); the hold is not a health reason (the receiver asked for the wait; its 429 is)."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", Reply(status=429, headers={"Retry-After": "60"}))
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", retry: {{max_delay: 1h, jitter: false}}}}\n'
        '        admin: {listen: "127.0.0.1:0"}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock) as daemon:
        assert (await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))[0]["ok"]
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 1)])
        await wait_until(lambda: bool(daemon.dispatcher.lanes["h"].held_until))
        url = str(daemon.admin_url)
        as_json = await hookd_status(["status", "--url", url, "--json"])
        human = await hookd_status(["status", "--url", url])
    doc = orjson.loads(as_json.stdout)
    [hook] = doc["hooks"]
    assert hook["held_until"] == utc_now_rfc3339(daemon.dispatcher.lanes["h"].held_until)
    assert not any("held" in reason for reason in doc["health"]["reasons"])  # (the 429 itself is one)
    assert f"held until {hook['held_until']} (the receiver's Retry-After)" in " ".join(plain(human.stdout).split())
