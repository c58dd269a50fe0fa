"""The retry schedule: backoff, jitter, Retry-After, and what a delivery becomes after an attempt."""

from __future__ import annotations

import random

import pytest

from hookd.config.model import RetryPolicy
from hookd.retry import JITTER_FRACTION, Plan, base_delay_s, delay_s, parse_retry_after, plan_next

EXPONENTIAL = RetryPolicy(max_attempts=5, backoff="exponential", initial_delay_s=5.0, max_delay_s=3600.0, jitter=False)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (5, 80.0), (10, 2560.0), (11, 3600.0), (12, 3600.0), (60, 3600.0)],
)
def test_exponential_doubles_from_the_initial_delay_up_to_max_delay(attempt: int, expected: float) -> None:
    assert base_delay_s(EXPONENTIAL, attempt) == expected


def test_exponential_is_capped_by_a_small_max_delay() -> None:
    policy = RetryPolicy(backoff="exponential", initial_delay_s=2.0, max_delay_s=30.0)

    assert [base_delay_s(policy, n) for n in range(1, 8)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_fixed_waits_the_initial_delay_every_time() -> None:
    policy = RetryPolicy(backoff="fixed", initial_delay_s=7.0, max_delay_s=3600.0)

    assert [base_delay_s(policy, n) for n in (1, 2, 5, 30)] == [7.0, 7.0, 7.0, 7.0]


def test_fixed_is_capped_by_max_delay() -> None:
    policy = RetryPolicy(backoff="fixed", initial_delay_s=100.0, max_delay_s=50.0)

    assert base_delay_s(policy, 1) == 50.0


def test_without_jitter_the_delay_is_the_base_delay() -> None:
    rng = random.Random(1)

    assert [delay_s(EXPONENTIAL, n, None, rng) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]


def test_jitter_is_the_seeded_draw_within_20_percent() -> None:
    policy = RetryPolicy(backoff="exponential", initial_delay_s=10.0, max_delay_s=3600.0, jitter=True)
    expected_rng = random.Random(42)
    expected = [base * (1 + expected_rng.uniform(-0.2, 0.2)) for base in (10.0, 20.0, 40.0)]

    rng = random.Random(42)
    assert [delay_s(policy, n, None, rng) for n in (1, 2, 3)] == expected


def test_jitter_spreads_over_the_whole_band_and_stays_inside_it() -> None:
    policy = RetryPolicy(backoff="fixed", initial_delay_s=100.0, max_delay_s=3600.0, jitter=True)
    rng = random.Random(7)

    delays = [delay_s(policy, 1, None, rng) for _ in range(2000)]

    assert JITTER_FRACTION == 0.2
    assert all(80.0 <= d <= 120.0 for d in delays)
    assert min(delays) < 82.0
    assert max(delays) > 118.0
    assert len(set(delays)) == 2000


def test_jitter_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(backoff="exponential", initial_delay_s=5.0, max_delay_s=60.0, jitter=True)
    rng = random.Random(3)

    delays = [delay_s(policy, 20, None, rng) for _ in range(500)]

    assert all(48.0 <= d <= 60.0 for d in delays)
    assert 60.0 in delays  # draws above +0% are capped


@pytest.mark.parametrize(
    ("retry_after_s", "expected"),
    [(42.0, 42.0), (0.0, 5.0), (3.0, 5.0), (3600.0, 3600.0), (99999.0, 3600.0), (-5.0, 5.0)],
)
def test_retry_after_lengthens_the_schedule_within_max_delay(retry_after_s: float, expected: float) -> None:
    policy = RetryPolicy(backoff="exponential", initial_delay_s=5.0, max_delay_s=3600.0, jitter=False)

    assert delay_s(policy, 1, retry_after_s, random.Random(0)) == expected


def test_retry_after_zero_never_shortens_the_backoff() -> None:
    # A receiver answering 429 with `Retry-After: 0` (or a past date) on every attempt: the delivery
    # still waits 5s, 10s, 20s ... as the policy says, not 12 attempts in a blink.
    policy = RetryPolicy(max_attempts=12, backoff="exponential", initial_delay_s=5.0, max_delay_s=3600.0, jitter=False)
    delays = [delay_s(policy, attempt, 0.0, random.Random(0)) for attempt in range(1, 12)]

    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0, 3600.0]
    schedule = RetryPolicy(schedule=(1.0, 60.0), jitter=False)
    assert [delay_s(schedule, a, 0.0, random.Random(0)) for a in (1, 2, 3)] == [1.0, 60.0, 60.0]
    assert delay_s(schedule, 1, 30.0, random.Random(0)) == 30.0  # longer than the schedule's: honoured


# -- plan_next ------------------------------------------------------------------------------------


def plan(*, ok: bool = False, retryable: bool = True, attempt: int = 1, retry_after_s: float | None = None) -> Plan:
    return plan_next(
        ok=ok,
        retryable=retryable,
        attempt=attempt,
        policy=EXPONENTIAL,
        retry_after_s=retry_after_s,
        now=1000.0,
        rng=random.Random(0),
    )


def test_ok_is_delivered() -> None:
    assert plan(ok=True) == Plan("delivered", None)
    assert plan(ok=True, attempt=5) == Plan("delivered", None)


def test_non_retryable_failure_is_failed_at_once() -> None:
    assert plan(retryable=False, attempt=1) == Plan("failed", None)


def test_retryable_failure_is_pending_until_the_next_attempt_time() -> None:
    assert plan(attempt=1) == Plan("pending", 1005.0)
    assert plan(attempt=3) == Plan("pending", 1020.0)
    assert plan(attempt=4) == Plan("pending", 1040.0)
    assert plan(attempt=2, retry_after_s=90.0) == Plan("pending", 1090.0)


def test_the_last_attempt_is_failed() -> None:
    assert plan(attempt=5) == Plan("failed", None)
    assert plan(attempt=6) == Plan("failed", None)
    assert plan(attempt=5, retry_after_s=1.0) == Plan("failed", None)


# -- parse_retry_after ----------------------------------------------------------------------------

HTTP_DATE_EPOCH = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
        ("Wed, 21 Oct 2015 08:28:00 +0000", 3630.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("1.5", None),
        ("-3", None),
        ("12 seconds", None),
        ("Mon, 99 Jan 2026 00:00:00 GMT", None),
        ("²", None),  # str.isdigit() is true for it, float() is not
        ("١٢", None),  # Arabic-Indic digits are not delta-seconds
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, HTTP_DATE_EPOCH - 30) == expected
