"""Token buckets on an injected clock: a hook's `rate_limit` (or its group's) as a gate of its lane.

A bucket holds up to `burst` tokens and gains `rate_per_s` of them a second. Each delivery claimed
for sending takes one (at the claim, before its attempt is counted), so a delivery waits for a token
without spending an attempt. One bucket may serve several lanes (a `rate_limit_group`).
"""

from __future__ import annotations

import math

from hookd.clock import Clock
from hookd.units import Rate

# The longest burst, in seconds of the rate: "at most a tenth of a minute's worth".
MAX_BURST_S = 6.0
# Token counts are compared with this much slack (a microsecond of the rate): times near 1.8e9 s are
# exact to only ~0.24 µs, so a bucket woken exactly at its next token's time must find it there.
_SLACK_S = 1e-6


def burst_for(rate: Rate) -> int:
    """How many requests may go at once after a quiet spell: a tenth of the limit as written, at most
    6 seconds' worth, at least 1. `100/min` → 10, `600/min` → 60, `10/s` → 1, `50/s` → 5, `1000/h` → 1.
    The written unit is how the receiver counts: any such window sees at most the limit plus the burst
    (110% of it from a count of 10 up), and the 6 s cap keeps an hourly limit from sending its tenth
    at once."""
    per_unit = rate.per_s * rate.unit_s
    return max(1, math.floor(min(per_unit / 10, rate.per_s * MAX_BURST_S) + 1e-9))


class TokenBucket:
    """Up to `burst` tokens, refilled at `rate_per_s`; starts full. Times are `clock.now()`."""

    __slots__ = ("burst", "clock", "rate", "rate_per_s", "tokens", "updated_at")

    def __init__(self, rate: Rate, clock: Clock, *, burst: int | None = None) -> None:
        self.rate = rate  # as written, for status and logs
        self.rate_per_s = rate.per_s
        self.burst = burst if burst is not None else burst_for(rate)
        self.clock = clock
        self.tokens = float(self.burst)
        self.updated_at = clock.now()

    def _refill(self) -> float:
        now = self.clock.now()
        if now > self.updated_at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated_at) * self.rate_per_s)
        # The clock is wall time: stepped back (NTP, an operator), `now` is before the last refill. No
        # time has passed then, and counting from `now` on keeps the bucket filling; waiting for the
        # clock to catch up with the old time would stop the hook for as long as the step.
        self.updated_at = now
        return self.tokens

    def available(self) -> int:
        """Whole tokens there now."""
        return max(0, math.floor(self._refill() + _SLACK_S * self.rate_per_s))

    def take(self, n: int) -> int:
        """Take up to `n` tokens at once; returns how many were taken (0 when none is there). One call
        whatever `n` is: a claim of n deliveries (later: a batch's one request) takes them together."""
        taken = min(n, self.available())
        if taken > 0:
            self.tokens = max(0.0, self.tokens - taken)
        return taken

    def give_back(self, n: int) -> None:
        """Return `n` tokens taken for deliveries that were not sent after all (a claim that came back
        short, a reservation left unused, deliveries given back by a hold); never above the burst."""
        if n > 0:
            self._refill()
            self.tokens = min(float(self.burst), self.tokens + n)

    def next_token_at(self) -> float:
        """When the next whole token is there (now, when one is)."""
        missing = 1.0 - self._refill()
        return self.updated_at + max(0.0, missing) / self.rate_per_s
