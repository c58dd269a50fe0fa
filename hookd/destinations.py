"""Per-destination gates of a hook whose url host is templated: one tenant's dead endpoint does not
pause or slow the others (issue 21).

Such a hook's lane keeps, per destination host, what it would otherwise keep for the whole hook: a
token bucket with the hook's rate (unless the hook is in a rate_limit_group: the group's one bucket
stays shared), a circuit breaker, the receiver's pause (410 or webhook-delivery: disable, and
breaker.disable_after) and a Retry-After hold. A closed destination's deliveries are parked in the
store (next_at moved past every claim's range, store.base.PARK_OFFSET_S), so the hook's claim stays an
index range however large a dead host's backlog; they are unparked when the gate opens: all of them on
a resume, a breaker closing or a hold's end; one for a breaker's probe; as many as there are tokens for
a rate limit. The map is bounded: a destination with nothing to remember is dropped first.
"""

from __future__ import annotations

from collections.abc import Iterator

from hookd.breaker import Breaker
from hookd.clock import Clock
from hookd.config.model import BreakerConfig
from hookd.ratelimit import TokenBucket
from hookd.store.base import HookPause
from hookd.units import Rate

# Destinations remembered per hook. Past it, those with nothing to remember (no pause, nothing parked,
# a closed breaker with no failure counted, a full bucket) are forgotten: a new one starts the same.
MAX_DESTINATIONS = 10_000


class Destination:
    """One destination host's gates."""

    __slots__ = ("breaker", "bucket", "held_until", "host", "parked", "paused", "probe")

    def __init__(self, host: str, bucket: TokenBucket | None, breaker: Breaker | None) -> None:
        self.host = host
        self.bucket = bucket
        self.breaker = breaker
        self.paused: HookPause | None = None  # by the receiver or disable_after; stored (destination_state)
        self.held_until = 0.0  # a Retry-After's end (Clock time; 0: not held)
        # Its pending deliveries were parked and some may still be: unparked as its gate opens.
        self.parked = False
        # Half-open: the id of the one delivery out to probe, admitted and not yet ended or given back
        # (None: none is). By id, so that whichever way it leaves (an answer, no verdict, a receiver's
        # stop, taken back unsent) ends it, and the next one may probe.
        self.probe: str | None = None

    def closed(self, now: float) -> bool:
        """Whether none of its deliveries may be sent now (before a token is taken)."""
        if self.paused is not None or self.held_until > now:
            return True
        breaker = self.breaker
        if breaker is None or breaker.state == "closed":
            return False
        return breaker.state == "open" or self.probe is not None

    @property
    def idle(self) -> bool:
        """Nothing to remember: forgetting it changes nothing."""
        return (
            self.paused is None
            and not self.parked
            and not self.held_until
            and (self.breaker is None or (self.breaker.is_closed and self.breaker.in_a_row == 0))
            and (self.bucket is None or self.bucket.available() >= self.bucket.burst)
        )


class Destinations:
    """A lane's destinations by host, made on first use with the hook's rate and breaker policy."""

    __slots__ = ("_forget_at", "breaker", "by_host", "clock", "gated", "rate")

    def __init__(self, rate: Rate | None, breaker: BreakerConfig | None, clock: Clock) -> None:
        self.rate = rate  # None: no rate limit, or the rate_limit_group's shared bucket (on the lane)
        self.breaker = breaker
        self.clock = clock
        self.by_host: dict[str, Destination] = {}
        # Those whose gate has something to open (parked, held, a breaker not closed): looked at each round.
        self.gated: set[Destination] = set()
        self._forget_at = MAX_DESTINATIONS  # the size at which a new host makes room first

    def get(self, host: str) -> Destination:
        dest = self.by_host.get(host)
        if dest is None:
            if len(self.by_host) >= self._forget_at:
                self._forget()
            dest = Destination(
                host,
                TokenBucket(self.rate, self.clock) if self.rate is not None else None,
                Breaker(self.breaker) if self.breaker is not None else None,
            )
            self.by_host[host] = dest
        return dest

    def __iter__(self) -> Iterator[Destination]:
        return iter(self.by_host.values())

    def _forget(self) -> None:
        """Make room for a tenth of the bound at once (a stream of new hosts pays for one scan per that
        many, not one each): first the hosts with nothing to remember, then the oldest of those whose
        gate is open (a breaker's first failures or a bucket not yet full start afresh: the price of a
        bound an event's producer, who picks the host, cannot grow). Hosts that are paused, held or
        parked stay whatever their number: their deliveries wait on them, stored, one host each."""
        spare = max(1, MAX_DESTINATIONS // 10)
        target = MAX_DESTINATIONS - spare

        def kept(d: Destination) -> bool:
            return d in self.gated or d.paused is not None or d.parked or bool(d.held_until)

        for idle_only in (True, False):
            excess = len(self.by_host) - target
            if excess <= 0:
                break
            for host in [h for h, d in self.by_host.items() if not kept(d) and (d.idle or not idle_only)][:excess]:
                del self.by_host[host]
        self._forget_at = max(MAX_DESTINATIONS, len(self.by_host) + spare)
