"""When to try again (pure): the backoff schedule, jitter and Retry-After.

tenacity computes the base delays so the exponential/fixed semantics match what Python users know;
hookd stores the resulting time in SQLite, so the schedule survives restarts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import tenacity

from hookd.config.model import RetryPolicy
from hookd.store.base import DeliveryState

JITTER_FRACTION = 0.2


def base_delay_s(policy: RetryPolicy, attempt: int) -> float:
    """Delay after failed attempt number `attempt` (1-based), before jitter."""
    if policy.schedule is not None:
        return policy.schedule[min(attempt, len(policy.schedule)) - 1]
    strategy: tenacity.wait.wait_base
    if policy.backoff == "fixed":
        strategy = tenacity.wait_fixed(policy.initial_delay_s)
    else:
        strategy = tenacity.wait_exponential(multiplier=policy.initial_delay_s, exp_base=2, max=policy.max_delay_s)
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return min(float(strategy(state)), policy.max_delay_s)


def delay_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None, rng: random.Random) -> float:
    base = base_delay_s(policy, attempt)
    if policy.jitter:
        base *= 1 + rng.uniform(-JITTER_FRACTION, JITTER_FRACTION)
    if retry_after_s is not None:
        # A receiver may ask for longer than the schedule, never for less: `Retry-After: 0` or a past
        # date on every answer would otherwise spend all the attempts at once and dead-letter the
        # delivery in a blink. Within the hook's max_delay either way.
        base = max(base, retry_after_s)
    return min(base, policy.max_delay_s)


@dataclass(frozen=True, slots=True)
class Plan:
    state: DeliveryState
    next_at: float | None


_DELIVERED = Plan("delivered", None)
_FAILED = Plan("failed", None)


def plan_next(
    *, ok: bool, retryable: bool, attempt: int, policy: RetryPolicy, retry_after_s: float | None, now: float,
    rng: random.Random,
) -> Plan:  # fmt: skip
    """What a delivery becomes after an attempt: delivered, failed, or pending until next_at."""
    if ok:
        return _DELIVERED
    if not retryable or attempt >= policy.max_attempts:
        return _FAILED
    return Plan("pending", now + delay_s(policy, attempt, retry_after_s, rng))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # not "²" or "١٢": isdigit() accepts those
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(now, UTC).timestamp())
