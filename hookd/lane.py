"""One hook's lane: its queue of claimed deliveries, its in-flight count and its gates.

The dispatcher keeps the global limit and fairness across lanes; everything that holds back one hook's
sending (a rate limit, a Retry-After hold, a circuit breaker, a pause, per-destination gates) lives on
its lane, so the hot path asks one object and a hook without a gate pays one attribute test for it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hookd.batching import Batcher
from hookd.breaker import Breaker
from hookd.clock import Clock
from hookd.destinations import Destination, Destinations
from hookd.health import RecentErrors
from hookd.ratelimit import TokenBucket
from hookd.router import CompiledHook
from hookd.store.base import DueBatch, DueDelivery, HookPause, Store


class Lane:
    """One hook's sending state: the deliveries claimed for it ahead and not yet sent, how many it is
    sending, the room promised to ingest for a commit in flight, and whether its last claim came back
    short. The dispatcher keeps the global limit and fairness across lanes; what holds back one
    hook's sending (a rate limit, a breaker, a pause, key order) is a gate of its lane."""

    __slots__ = (
        "batch", "batch_at", "breaker", "bucket", "destinations", "exhausted", "held_until", "in_flight", "limit",
        "name", "paused", "ready", "reserved", "retry_at", "served", "slots", "stopped", "turns",
    )  # fmt: skip

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit  # the hook's own concurrency
        # How many may be in flight now: the limit, or one while its breaker probes (restate() sets it),
        # so has_slot() keeps to one probe at no extra cost.
        self.slots = limit
        # Claimed ahead, not yet sent: a freed slot starts the next delivery at once instead of
        # waiting for a claim transaction (bench/: the loop idled 60% of the time without it).
        self.ready: deque[DueDelivery] = deque()
        self.in_flight = 0
        self.reserved = 0  # promised to ingest for a commit in flight
        # The last claim came back short: nothing more was due then. Cleared by new work (ingest, a
        # due retry, the poll), so finishing deliveries does not trigger empty claims.
        self.exhausted = False
        # Every lane, in the order they are asked for a slot this one frees: the next one first.
        self.turns: tuple[Lane, ...] = ()
        # The receiver said "later" (429 or 503 with Retry-After): nothing starts or is claimed until
        # then (Clock time; 0 when open). The dispatcher opens it again once the time has come.
        self.held_until = 0.0
        # The hook's rate limit (one bucket shared by the lanes of a rate_limit_group); None: none.
        # Each delivery claimed takes a token, at the claim (or ingest's reservation), before its
        # attempt is counted: a delivery waits for a token without spending an attempt.
        self.bucket: TokenBucket | None = None
        # Rate-limited lanes only: the earliest time one of the hook's retries may be due (0: maybe
        # now, as at start), when its claims take due retries before fresh deliveries. Lowered as an
        # attempt schedules a retry, before the recorder stores it: a retry due within that moment
        # (a delay of ~0) may find no stored retry and lose its place, never its delivery.
        self.retry_at = 0.0
        # A rate_limit_group's lane: when it last got one of the group's tokens (a count of the tokens
        # the group handed out); the one served longest ago is asked first.
        self.served = 0
        # A hook with `batch:`: its units are batches (DueBatch, one slot each), claimed through its
        # Batcher, never one by one nor early at ingest. None for the others, who pay nothing more.
        self.batch: Batcher | None = None
        # When its claim came back short: when the deliveries waiting to fill a batch have waited
        # max_wait, or the next batch retry falls due (Clock time; 0: at the next wake-up).
        self.batch_at = 0.0
        # Paused (by an operator, the receiver or disable_after): run-time state kept in the database
        # (hook_state), mirrored here. None while the hook runs.
        self.paused: HookPause | None = None
        # The hook's circuit breaker (hookd.breaker), None unless configured: open, it stops the lane;
        # half-open, it lets one delivery through to probe.
        self.breaker: Breaker | None = None
        # No delivery of the hook may start or be claimed until further notice: paused, or the circuit
        # is open. The one attribute the hot path tests for these gates (restate() sets it when one of
        # them changes).
        self.stopped = False
        # A hook whose url host is templated: its rate limit, breaker, receiver's pause and Retry-After
        # hold are kept per destination host (hookd.destinations), and `bucket` and `breaker` are None
        # (but a rate_limit_group's shared bucket). None for the others: the one attribute they test.
        self.destinations: Destinations | None = None

    def restate(self) -> None:
        """Recompute `stopped` after a pause or the breaker changed."""
        self.stopped = self.paused is not None or (self.breaker is not None and self.breaker.state == "open")
        self.slots = 1 if self.breaker is not None and self.breaker.state == "half_open" else self.limit

    def has_slot(self) -> bool:
        """Under its own limit and not held or stopped (the dispatcher checks the global limit)."""
        return self.in_flight < self.slots and not self.held_until and not self.stopped

    def room(self) -> int:
        """How many more of its deliveries may be claimed: its free slots plus one round in reserve
        (none while held or stopped: a claim counts an attempt, and a held delivery would spend it waiting)."""
        if self.held_until or self.stopped:
            return 0
        if self.breaker is not None and self.breaker.state == "half_open":
            # One probe: nothing more is claimed while it (or a request from before) is out.
            probe = max(0, 1 - self.in_flight - len(self.ready) - self.reserved)
            return min(probe, self.bucket.available()) if self.bucket is not None else probe
        if self.bucket is not None:
            # No round in reserve, and no more than its tokens: a delivery claimed ahead has taken its
            # token, and several started late together would go out faster than the limit.
            return min(self.limit - self.in_flight - len(self.ready) - self.reserved, self.bucket.available())
        return 2 * self.limit - self.in_flight - len(self.ready) - self.reserved

    def wants_claim(self) -> bool:
        """Whether a claim for this hook is worth a round: it is not held or stopped, not known to have
        nothing due, and its reserve is half used (refilled in batches, not one claim per delivery); with
        a rate limit, a token is there."""
        return (
            not self.held_until
            and not self.stopped
            and not self.exhausted
            and len(self.ready) <= self.limit // 2
            and (self.bucket is None or self.bucket.available() > 0)
        )

    def take_back(self, now: float) -> list[DueDelivery]:
        """What the lane had claimed and not started, off it, to give back (a gate closed on it): their
        tokens come back, as their attempts do (Store.release)."""
        unsent = list(self.ready)
        self.ready.clear()
        if self.bucket is not None and unsent:
            self.bucket.give_back(len(unsent))
            self.retry_at = min(self.retry_at, now)  # retries among them are due at once
        if self.destinations is not None:
            for d in unsent:  # so do the tokens of their destinations' buckets, and a probe's place
                if d.destination is not None:
                    dest = self.destinations.get(d.destination)
                    if dest.bucket is not None:
                        dest.bucket.give_back(1)
                    if dest.probe == d.id:
                        dest.probe = None
        return unsent

    def take_back_destination(self, dest: Destination) -> list[DueDelivery]:
        """What the lane had claimed for `dest` and not started, off it (the destination's gate closed)."""
        unsent = [d for d in self.ready if d.destination == dest.host]
        if unsent:
            self.ready = deque(d for d in self.ready if d.destination != dest.host)
            if dest.bucket is not None:
                dest.bucket.give_back(len(unsent))
            if dest.probe is not None and any(d.id == dest.probe for d in unsent):
                dest.probe = None
        return unsent


async def release(store: Store, units: Sequence[DueDelivery], now: float) -> None:
    """Give back claimed units that were not sent, their attempt uncounted (Store.release): a batch as
    a whole."""
    batches = [u.id for u in units if type(u) is DueBatch]
    singles = [u.id for u in units if type(u) is not DueBatch] if batches else [u.id for u in units]
    await store.release(singles, now, batches=batches)


@dataclass(frozen=True, slots=True)
class LaneContext:
    """What the keepers of the lanes' gates (hookd.lane_stops, hookd.destination_gates) share with the
    dispatcher that owns the lanes."""

    lanes: Mapping[str, Lane]
    hooks: Mapping[str, CompiledHook]
    store: Store
    clock: Clock
    errors: RecentErrors
    wake: Callable[[], None]  # a gate opened or closed: the dispatcher's round looks again
    on_pause: Callable[[], None]  # a pause is being stored: a read of the stored states begun before is stale


class LaneKeeper:
    """Base of the keepers of the lanes' gates: the shared context as attributes."""

    def __init__(self, context: LaneContext) -> None:
        self.hooks = context.hooks
        self.store = context.store
        self.clock = context.clock
        self.errors = context.errors
        self._wake = context.wake
        self._on_pause = context.on_pause
