"""A receiver answering 429 with `Retry-After: 0` (or a date in the past) on every attempt: the
delivery still waits what its retry policy says between attempts, rather than spending all of them at
once and being dead-lettered within a blink."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import Receiver, Reply, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config

ATTEMPTS = "SELECT attempt, outcome, next_at - started_at FROM attempts ORDER BY attempt"


@pytest.mark.parametrize("retry_after", ["0", "Thu, 01 Jan 1970 00:00:00 GMT"])
async def test_retry_after_now_waits_the_policys_delay(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, retry_after: str
) -> None:
    """1. A daemon on a ManualClock; hook h (initial_delay 5s, exponential, no jitter, 4 attempts) whose
       receiver answers every request 429 with the given Retry-After. 2. One event.
    Result: one request, then none while the clock stands; the attempt is recorded pending, due 5 s
    later. Advancing 5 s gives the second request (due 10 s later), 10 s the third, 20 s the fourth,
    which fails for good: 4 requests over 35 s, as without a Retry-After."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", *[Reply(status=429, headers={"Retry-After": retry_after}) for _ in range(10)])
    hook = f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", retry: {{max_attempts: 4, jitter: false}}}}'
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock):
        assert (await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))[0]["ok"]
        await wait_db(db, ATTEMPTS, lambda r: r == [(1, "pending", 5.0)])
        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):  # turns in which a retry due now would be sent
            await asyncio.sleep(0)
        assert len(receiver.at("/h")) == 1
        for step, last in ((5.0, (2, "pending", 10.0)), (10.0, (3, "pending", 20.0)), (20.0, (4, "failed", None))):
            clock.advance(step)
            rows = await wait_db(db, ATTEMPTS, lambda r, n=last[0]: len(r) == n)
            assert rows[-1] == last
    assert len(receiver.at("/h")) == 4
