"""A circuit breaker for one destination (pure: times are passed in, from the dispatcher's Clock).

Closed, it counts retryable failures in a row (connection errors, timeouts, 408/425/429, 5xx); at
`failures` it opens: nothing is sent, and the deliveries waiting spend no attempt. After `cooldown`
it is half-open: one delivery probes. The probe's success closes it; its failure opens it again for
another cooldown. An answer that is not a retryable failure (a 2xx, or a final 4xx: the receiver is
there) closes it and ends the run of failures; what never reached the receiver (a template that
cannot render, a destination the guard refuses) counts neither way.

A lane holds one Breaker per hook today; a hook with a templated host can later hold one per
destination host, so that one tenant's dead endpoint does not stop the others.
"""

from __future__ import annotations

from typing import Literal

from hookd.config.model import BreakerConfig
from hookd.units import format_duration

BreakerChange = Literal["opened", "reopened", "half_open", "closed"]


class Breaker:
    """One destination's breaker. Each method returns the change it made, or None."""

    __slots__ = ("failing_since", "in_a_row", "policy", "reason", "retry_at", "since", "state")

    def __init__(self, policy: BreakerConfig) -> None:
        self.policy = policy
        self.state: Literal["closed", "open", "half_open"] = "closed"
        self.in_a_row = 0  # retryable failures since the last success
        self.failing_since: float | None = None  # the first of them (for disable_after)
        self.since = 0.0  # when the current state began
        self.retry_at = 0.0  # open: when it becomes half-open
        self.reason = ""  # why it is in its state, for logs, status and hooks list

    @property
    def is_closed(self) -> bool:
        return self.state == "closed"

    def failed(self, now: float, error: str) -> BreakerChange | None:
        """A retryable failure (no answer, or 408/425/429/5xx)."""
        self.in_a_row += 1
        if self.failing_since is None:
            self.failing_since = now
        if self.state == "half_open":
            self._open(now, f"the probe failed: {error}")
            return "reopened"
        if self.state == "closed" and self.in_a_row >= self.policy.failures:
            self._open(now, f"{self.in_a_row} retryable failures in a row, the last: {error}")
            return "opened"
        return None

    def succeeded(self, now: float) -> BreakerChange | None:
        """An answer that is not a retryable failure: the receiver is there."""
        self.in_a_row = 0
        self.failing_since = None
        if self.state == "closed":
            return None
        probed = self.state == "half_open"
        self.state = "closed"
        self.since = now
        self.reason = "a probe was answered" if probed else "an answer came while it was open"
        return "closed"

    def tick(self, now: float) -> BreakerChange | None:
        """Open to half-open once the cooldown has passed."""
        if self.state == "open" and self.retry_at - now > self.policy.cooldown_s:
            # The wall clock was stepped back: the cooldown is counted from now, not from a time that
            # is now as far ahead as the step.
            self.retry_at = now + self.policy.cooldown_s
        if self.state == "open" and now >= self.retry_at:
            self.state = "half_open"
            self.since = now
            self.reason = f"probing with one delivery after {format_duration(self.policy.cooldown_s)} open"
            return "half_open"
        return None

    def failing_too_long(self, now: float) -> bool:
        """Whether it has failed without a success for `disable_after` (the hook is to be paused)."""
        limit = self.policy.disable_after_s
        return limit is not None and self.failing_since is not None and now - self.failing_since >= limit

    def resumed(self, now: float) -> BreakerChange | None:
        """The hook was resumed after a pause: the disable_after clock starts again, and an open
        breaker probes at once rather than waiting out its cooldown."""
        self.failing_since = None
        if self.state == "open":
            self.retry_at = now
            return self.tick(now)
        return None

    def _open(self, now: float, reason: str) -> None:
        self.state = "open"
        self.since = now
        self.retry_at = now + self.policy.cooldown_s
        self.reason = reason
