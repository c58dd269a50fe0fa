"""`retry: {schedule: [...]}`: the delays after each attempt written out, beside the exponential and
fixed forms; validate refuses the keys it replaces."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from hookd.config.load import load_config
from hookd.config.model import RetryPolicy
from hookd.retry import plan_next
from tests.conftest import Receiver, Reply, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_h20_guard_validate import validate
from tests.test_serve import basic_config

HOOK = 'version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: "https://example.com/h"\n'


def test_a_schedule_gives_each_delay_and_the_number_of_attempts(tmp_path: Path) -> None:
    """1. A hook with retry.schedule [5s, 1m, 1h] and jitter off. 2. Plan each failed attempt.
    Result: 5 s, 60 s, 3600 s after attempts 1-3, then failed (4 attempts in all); a Retry-After is
    capped at the longest delay."""
    path = tmp_path / "hookd.yaml"
    path.write_text(HOOK + "    retry: {schedule: [5s, 1m, 1h], jitter: false}\n", encoding="utf-8")
    policy = load_config(path).hooks[0].retry
    assert (policy.schedule, policy.max_attempts, policy.max_delay_s) == ((5.0, 60.0, 3600.0), 4, 3600.0)

    def plan(attempt: int, retry_after_s: float | None = None) -> tuple[str, float | None]:
        p = plan_next(ok=False, retryable=True, attempt=attempt, policy=policy, retry_after_s=retry_after_s,
                      now=0.0, rng=random.Random(1))  # fmt: skip
        return p.state, p.next_at

    assert [plan(n) for n in (1, 2, 3, 4)] == [
        ("pending", 5.0),
        ("pending", 60.0),
        ("pending", 3600.0),
        ("failed", None),
    ]
    assert plan(1, retry_after_s=86400.0) == ("pending", 3600.0)


def test_jitter_spreads_a_scheduled_delay_unless_turned_off() -> None:
    """A schedule with jitter on: each delay within ±20% of the written one."""
    policy = RetryPolicy(schedule=(100.0,), max_attempts=2, max_delay_s=100.0)
    rng = random.Random(7)
    delays = [plan_next(ok=False, retryable=True, attempt=1, policy=policy, retry_after_s=None, now=0.0,
                        rng=rng).next_at for _ in range(50)]  # fmt: skip
    assert all(d is not None and 80.0 <= d <= 100.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize("key", ["backoff: fixed", "initial_delay: 5s", "max_delay: 1h", "max_attempts: 3"])
def test_a_schedule_beside_a_key_it_replaces_is_an_error(tmp_path: Path, key: str) -> None:
    """validate names the key that cannot stand beside retry.schedule, at its line."""
    code, lines, _ = validate(tmp_path, HOOK + f"    retry: {{schedule: [5s, 1m], {key}}}\n")
    name = key.split(":")[0]
    assert code == 1
    assert any(f"retry.{name}" in line and "retry.schedule writes out every delay" in line for line in lines), lines


def test_a_schedule_must_list_durations(tmp_path: Path) -> None:
    """An empty schedule, or an entry that is not a duration, is a schema error."""
    for schedule in ("[]", "[5s, soon]"):
        code, lines, _ = validate(tmp_path, HOOK + f"    retry: {{schedule: {schedule}}}\n")
        assert code == 1, (schedule, lines)


async def test_a_daemon_follows_the_schedule_on_its_clock(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; a hook with schedule [1m, 1h], no jitter; the receiver answers
       503, 503, then 200. 2. One event; the clock is advanced a minute, then an hour.
    Result: the second attempt comes after the minute (not before), the third after the hour, and
    the delivery ends delivered with 3 attempts."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/h", Reply(status=503), Reply(status=503), Reply(status=200))
    hook = f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", retry: {{schedule: [1m, 1h], jitter: false}}}}'
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock):
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")])
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 1)])
        await wait_until(lambda: clock.waiting() > 0)
        clock.advance(59.0)
        for _ in range(20):  # turns for a wrongly woken dispatcher to send
            await asyncio.sleep(0)
        assert len(receiver.requests) == 1  # not yet: a minute has not passed
        clock.advance(1.0)
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 2)])
        [(next_at,)] = await wait_db(db, "SELECT next_at FROM deliveries", lambda r: True)
        assert next_at == pytest.approx(clock.now() + 3600.0)
        await wait_until(lambda: clock.waiting() > 0)
        clock.advance(3600.0)
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("delivered", 3)])
    assert len(receiver.requests) == 3
