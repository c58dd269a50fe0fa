"""The dispatcher's waits (its poll, and the wait for a retry's due time) go through the injected
Clock: with a fake one, a test decides when an hour has passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Receiver, Reply, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config

HOUR = 3600.0


async def test_a_retry_due_in_an_hour_goes_when_the_clock_says_so(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock, no idle poll to speak of (an hour), one hook whose retries wait
       an hour (fixed, no jitter); the receiver answers 503, then 200.
    2. One event: the first attempt fails, the retry is scheduled an hour on, and the dispatcher
       waits on the clock (the receiver has one request).
    3. The clock is advanced by an hour.
    Result: the retry is sent and delivered at once, in real time: nothing waited for a real hour."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    receiver.on("/h", Reply(status=503), Reply(status=200))
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", '
        "retry: {backoff: fixed, initial_delay: 1h, max_attempts: 3, jitter: false}}"
    )
    cfg = basic_config(short_dir, receiver, hook)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock):
        [ack] = await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")])
        assert ack["ok"]
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 1)])
        [(next_at,)] = await wait_db(db, "SELECT next_at FROM deliveries", lambda r: r[0][0] is not None)
        assert next_at == pytest.approx(clock.now() + HOUR)
        await wait_until(lambda: clock.waiting() > 0)  # the dispatcher is in its timed wait, on the clock
        assert len(receiver.requests) == 1

        clock.advance(HOUR)
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("delivered", 2)])
    assert [r.path for r in receiver.requests] == ["/h", "/h"]
