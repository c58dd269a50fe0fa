"""Claims due deliveries, sends them within concurrency limits, and records every attempt.

The database is the queue: `claim_due` marks deliveries `delivering` and counts the attempt
before anything is sent, so a crash can only cause a re-send (at-least-once), never a loss or a
retry budget that resets. Outcomes are written by one recorder task in batches, at most one write
per RECORD_INTERVAL_S: while one write is in flight or the interval runs, the next outcomes gather
(group commit for status updates).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from typing import Any

import orjson

from hookd.batching import Batcher
from hookd.breaker import Breaker, BreakerChange
from hookd.clock import Clock
from hookd.destinations import Destination, Destinations
from hookd.health import RecentErrors
from hookd.hook_errors import EvaluationFailure, HookErrors, unlogged_note
from hookd.ids import uuid7
from hookd.logs import LogLine, isoformat
from hookd.ratelimit import TokenBucket
from hookd.rendering import RequestRenderError, render_failure, render_request
from hookd.retry import Plan, plan_next
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest, Outcome, Sender, no_response, redact_outcome
from hookd.senders.endpoint import shown_headers
from hookd.store.base import (
    AttemptRecord,
    BreakerRecord,
    DeliveryState,
    DueBatch,
    DueDelivery,
    HookPause,
    Store,
)
from hookd.units import format_duration

log = logging.getLogger("hookd.dispatcher")

# Upper bound on how long a delivery queued by another process (hookd replay) waits to be seen.
POLL_INTERVAL_S = 1.0
# Pause before trying the store again after it failed (locked by another writer, disk full, ...).
STORE_RETRY_S = 1.0
# Outcomes are written at most once per interval, unless this many are waiting.
RECORD_INTERVAL_S = 0.01
RECORD_BATCH_FULL = 1000
# The error recorded for an attempt cut off by the end of the shutdown grace period.
CUT_OFF = (
    "cancelled: hookd was stopping and the receiver did not answer within delivery.shutdown_timeout; "
    "sent again at the next start"
)
# ... and for one cut off by a second stop signal (Ctrl-C twice), which does not wait at all.
CUT_OFF_FORCED = (
    "cancelled: hookd was told to stop at once (a second Ctrl-C or stop signal) before the receiver answered; "
    "sent again at the next start"
)


class Recorder:
    """Writes attempt records in batches; `flush()` waits until everything added so far is stored."""

    def __init__(
        self, store: Store, errors: RecentErrors, on_retry_scheduled: Callable[[], None] = lambda: None
    ) -> None:
        self.store = store
        self.errors = errors
        self.on_retry_scheduled = on_retry_scheduled
        self._buffer: list[AttemptRecord] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._last_write = float("-inf")

    def add(self, record: AttemptRecord) -> None:
        self._buffer.append(record)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookd-recorder")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer:
                # At most one write per interval: at a steady 2,000 events/s each write otherwise held
                # one outcome, and a write's fixed cost (~80 µs of SQLite and its WAL pages, a thread
                # hop) dominated (bench/). Under load batches are large anyway. A crash re-sends what
                # waited here, so the interval stays short.
                wait = self._last_write + RECORD_INTERVAL_S - loop.time()
                if wait > 0 and len(self._buffer) < RECORD_BATCH_FULL:
                    await asyncio.sleep(wait)
                self._last_write = loop.time()
                batch, self._buffer = self._buffer, []
                try:
                    await asyncio.shield(self.store.record_attempts(batch))
                    if log.isEnabledFor(logging.DEBUG):
                        _log_recorded(batch)
                    if any(r.state == "pending" or r.ordered for r in batch):
                        # A retry's due time is in the store only now, and so is the next delivery of a
                        # key whose delivery ended (it became due in the same write).
                        self.on_retry_scheduled()
                except asyncio.CancelledError:
                    self._buffer[:0] = batch
                    raise
                except Exception as e:
                    escaped = (
                        [storable(r) for r in batch] if isinstance(e, UnicodeError | ValueError | TypeError) else batch
                    )
                    if any(a is not b for a, b in zip(escaped, batch, strict=True)):
                        # Text the store cannot take (a lone surrogate from undecodable bytes): one such
                        # row must not hold up every other attempt's record. Written again at once.
                        log.error(LogLine("an attempt held text that cannot be stored; recorded with it escaped",
                                          {"attempts": len(batch), "error": str(e)}))  # fmt: skip
                        self._buffer[:0] = escaped
                        continue
                    # Kept and written again (idempotent by delivery and attempt): dropping the batch
                    # would leave its deliveries `delivering`, unsent, until a restart.
                    log.error(LogLine(f"could not record the attempts; retrying in {STORE_RETRY_S:.0f}s",
                                      {"attempts": len(batch), "error": str(e)}))  # fmt: skip
                    self.errors.add(f"recording {len(batch)} attempt(s) failed: {e}")
                    self._buffer[:0] = batch
                    await asyncio.sleep(STORE_RETRY_S)
            self._idle.set()

    async def flush(self) -> None:
        if self._buffer:
            self._wake.set()
        await self._idle.wait()

    async def close(self, timeout_s: float = 10.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            # Their deliveries stay `delivering`: recovered and sent again at the next start.
            log.error(LogLine("could not record the attempts before stopping; they are sent again at the next start",
                              {"attempts": len(self._buffer)}))  # fmt: skip
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None


def _log_claimed(due: Sequence[DueDelivery], how: str) -> None:
    """Debug: one line per claimed delivery (a person following one delivery greps its id)."""
    for d in due:
        fields = {"delivery": d.id, "event": d.event_id, "hook": d.hook, "try": d.attempt}
        if d.replay_of is not None:
            fields["replay_of"] = d.replay_of
        log.debug(LogLine(how, fields))


def _log_recorded(batch: Sequence[AttemptRecord]) -> None:
    """Debug: each write of outcomes, with its counts, and each retry it scheduled with its due time."""
    states = Counter(r.state for r in batch)
    log.debug(LogLine("recorded attempts", {"attempts": len(batch), **{s: states[s] for s in sorted(states)}}))
    for r in batch:
        if r.state == "pending" and r.next_at is not None:
            log.debug(LogLine("retry scheduled", {"delivery": r.delivery_id, "try": r.attempt + 1,
                                                  "due_at": isoformat(r.next_at)}))  # fmt: skip


# Told of each change of a lane's state, with the hook and the reason: ("hook.paused" | "hook.resumed" |
# "breaker.opened" | "breaker.closed", hook, reason). The daemon's integrator turns them into alerts.
LaneEvent = Callable[[str, str, str], None]


def _no_lane_event(kind: str, hook: str, reason: str) -> None:
    pass


# The same for one destination of a hook with a templated url host: (kind, hook, reason, destination).
DestinationEvent = Callable[[str, str, str, str], None]


# The response header of the Standard Webhooks proposal by which a receiver asks not to be sent more.
STOP_HEADER = "webhook-delivery"


def asks_to_stop(hook: CompiledHook, outcome: Outcome) -> str | None:
    """Why the receiver asked the hook to stop sending (410 Gone with on_gone: pause, or the header
    `webhook-delivery: disable` on any answer), or None when it did not."""
    value = outcome.response_headers.get(STOP_HEADER)
    if value is not None and value.strip().lower() == "disable":
        return f"the receiver answered HTTP {outcome.status} with the header {STOP_HEADER}: disable"
    if outcome.status == 410 and hook.config.on_gone == "pause":
        return "the receiver answered 410 Gone (on_gone: pause)"
    return None


# What an attempt cut off by a stop records, per delivery: the error, and the delivery's state after
# it (`pending` is due again at once). The daemon's: CUT_OFF (or CUT_OFF_FORCED) and pending.
CutOffPolicy = Callable[[DueDelivery], tuple[str, DeliveryState]]


def storable(record: AttemptRecord) -> AttemptRecord:
    """`record` with every text escaped to valid UTF-8 (lone surrogates as \\udcNN), or itself when it
    holds none to escape."""
    fixed = dataclasses.replace(
        record,
        error=_valid(record.error),
        request=_valid_tree(record.request),
        response_headers={_valid(k): _valid(v) for k, v in record.response_headers.items()},
        response_excerpt=_valid(record.response_excerpt),
        hops=tuple(dataclasses.replace(h, url=_valid(h.url)) for h in record.hops),
    )
    return record if fixed == record else fixed


def _valid(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _valid_tree(value: Mapping[str, object]) -> dict[str, object]:
    def walk(v: object) -> object:
        if isinstance(v, str):
            return _valid(v)
        if isinstance(v, Mapping):
            return {_valid(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return {_valid(k): walk(v) for k, v in value.items()}


class Lane:
    """One hook's sending state: the deliveries claimed for it ahead and not yet sent, how many it is
    sending, the room promised to ingest for a commit in flight, and whether its last claim came back
    short. The dispatcher keeps the global limit and fairness across lanes; what holds back one
    hook's sending (a rate limit, a breaker, a pause, key order) is a gate of its lane."""

    __slots__ = (
        "batch", "batch_at", "breaker", "bucket", "destinations", "exhausted", "held_until", "in_flight", "limit",
        "name", "paused", "ready", "reserved", "retry_at", "slots", "stopped", "turns",
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


def _items(batcher: Batcher, b: DueBatch) -> tuple[bytes, ...] | None:
    """The payloads the batcher rendered while forming `b`, in member order; None: render at sending."""
    try:
        return tuple(batcher.item(m) for m in b.members)
    except RequestRenderError:
        return None


def _internal_failure(hook: CompiledHook, request: OutboundRequest | None, e: Exception, t0: float) -> Outcome:
    """The outcome of an attempt a bug cut short: retried when the request was made (sending may work
    next time), final when rendering it failed (it fails the same way every time)."""
    what = "sending" if request is not None else "rendering the request"
    error = f"internal error while {what}: {type(e).__name__}: {e}"
    return no_response(hook.redactor.text(error), t0, retryable=request is not None)


def _stop_reason(hook: CompiledHook, outcome: Outcome) -> str | None:
    """Why the receiver asked to stop (410 with on_gone: pause, or webhook-delivery: disable), or None.
    Looked into only for a 410 or the header: every other attempt pays a comparison and a lookup."""
    if outcome.status == 410 or STOP_HEADER in outcome.response_headers:
        return asks_to_stop(hook, outcome)
    return None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        hooks: Sequence[CompiledHook],
        clock: Clock,
        *,
        concurrency: int,
        rng: random.Random | None = None,
        errors: RecentErrors | None = None,
        cut_off: CutOffPolicy | None = None,
        hook_errors: HookErrors | None = None,
        on_lane_event: LaneEvent = _no_lane_event,
        on_failed: Callable[[DueDelivery, Outcome], None] | None = None,
        on_destination_event: DestinationEvent | None = None,
    ) -> None:
        self.store = store
        # Called on every pause, resume and breaker change (kind, hook, reason): alerts hang here.
        self.on_lane_event = on_lane_event
        # ... and for one destination of a hook with a templated url host (kind, hook, reason, host);
        # without one, told to on_lane_event without the host.
        self.on_destination_event: DestinationEvent = on_destination_event or (
            lambda kind, hook, reason, _host: self.on_lane_event(kind, hook, reason)
        )
        # How an attempt cut off by a stop is recorded: the daemon sends it again at its next start;
        # an interrupted `hookd replay --wait` withdraws it (state `cancelled`).
        # The daemon's own: CUT_OFF (CUT_OFF_FORCED after a second stop signal), due again at once.
        self.cut_off: CutOffPolicy = cut_off or (lambda _: (self._cut_off_reason, "pending"))
        self.sender = sender
        self.hooks: Mapping[str, CompiledHook] = {h.name: h for h in hooks}
        self.clock = clock
        self.concurrency = concurrency
        self.rng = rng or random.Random()
        self.errors = errors or RecentErrors()  # one sink for the recorder's errors and these
        self.hook_errors = hook_errors or HookErrors()  # templates that fail on an event
        # Told of each delivery that failed for good (its last attempt, a permanent failure, a template
        # that cannot render): the daemon raises an alert (hookd.alerts). Only on that path: None costs
        # a delivery nothing.
        self.on_failed = on_failed
        self.recorder = Recorder(store, self.errors, on_retry_scheduled=self.wake)
        self.lanes: dict[str, Lane] = {h.name: Lane(h.name, h.config.concurrency) for h in hooks}
        for h in hooks:
            if h.config.batch is not None:
                self.lanes[h.name].batch = Batcher(h)
            elif h.url is not None and h.url.templated_host:
                # Gates per destination host (a batch may mix hosts: a batched hook keeps its gates whole).
                own_rate = h.config.rate_limit if h.config.rate_limit_group is None else None
                self.lanes[h.name].destinations = Destinations(own_rate, h.config.breaker, clock)
        # The lanes with gates per destination: only they are looked at for them.
        self._destined = tuple(lane for lane in self.lanes.values() if lane.destinations is not None)
        # Deliveries ingest claimed for a destination that is closed: parked at the next round.
        self._to_park: list[tuple[Lane, DueDelivery]] = []
        self._dest_gate_at: float | None = None  # when the next destination's gate opens (this round's)
        # Whether any hook batches: without, a round does nothing more than before batching existed.
        self._batching = any(lane.batch is not None for lane in self.lanes.values())
        # Counts the calls that say new work may be due (wake, ingest's pending deliveries): a batched
        # lane's claim that saw one come in meanwhile read the store before it, so it does not mark the
        # lane as having nothing due (that wake-up would be lost until the poll).
        self._woken = 0
        order = list(self.lanes.values())
        for i, lane in enumerate(order):
            lane.turns = tuple(order[i + 1 :] + order[: i + 1])
        self._rated = self._rate_limits(hooks)  # the lanes with a token bucket: only they pay for it
        # The lanes with a breaker: only they are looked at for one (a hook without pays nothing).
        self._breakers: list[Lane] = []
        for h in hooks:
            if h.config.breaker is not None and self.lanes[h.name].destinations is None:
                lane = self.lanes[h.name]
                lane.breaker = Breaker(h.config.breaker)
                self._breakers.append(lane)
        self._unsaved_breakers: set[Lane] = set()  # changed by _open_lanes: stored at the round
        self._tasks: set[asyncio.Task[None]] = set()  # each runs deliveries one after another
        self._unstarted: list[DueDelivery] = []  # claimed units whose task was cancelled before it sent them
        self._active = 0  # deliveries being sent: the sum of the lanes' in_flight
        self._wake = asyncio.Event()
        self._stopping = False
        # The daemon's CUT_OFF becomes CUT_OFF_FORCED once a second stop signal skips the grace period.
        self._cut_off_reason = CUT_OFF
        self._draining = False
        self._stop_requested = asyncio.Event()
        self.delivered_total = 0
        self.failed_total = 0
        self.retried_total = 0
        # Hook states (pauses) are read from the store at the first round and then at the poll
        # interval, or at once after refresh_hook_states(); `_states_epoch` counts the changes made
        # here, so that a read that began before one does not undo it.
        self._states_due = float("-inf")
        self._states_read = False  # the stored hook states were read once (pauses restored)
        self._states_epoch = 0
        self._stopped_ready = False  # a stopped lane got claimed deliveries from ingest: give them back

    def _rate_limits(self, hooks: Sequence[CompiledHook]) -> tuple[Lane, ...]:
        """Give each rate-limited hook's lane its token bucket: its own, or its rate_limit_group's, one
        object shared by the group's lanes (so together they take no more than the group's rate).
        Returns those lanes."""
        buckets: dict[tuple[str, str], TokenBucket] = {}
        for h in hooks:
            rate = h.config.rate_limit
            if rate is None or (self.lanes[h.name].destinations is not None and h.config.rate_limit_group is None):
                continue  # none, or one per destination (hookd.destinations)
            group = h.config.rate_limit_group
            key = ("group", group) if group is not None else ("hook", h.name)
            if key not in buckets:
                buckets[key] = TokenBucket(rate, self.clock)
            self.lanes[h.name].bucket = buckets[key]
        return tuple(lane for lane in self.lanes.values() if lane.bucket is not None)

    def wake(self) -> None:
        """New deliveries may be due for any hook (a replay queued some, say)."""
        self._woken += 1
        self._not_exhausted()
        self._wake.set()

    def refresh_hook_states(self) -> None:
        """Read the hooks' stored states (pauses) at the next round, not at the next poll: `hookd hooks
        pause` or `resume` changed them (the admin listener's POST /hooks/refresh)."""
        self._states_due = float("-inf")
        self._wake.set()

    def _not_exhausted(self) -> None:
        for lane in self.lanes.values():
            lane.exhausted = False

    def reserve(self, hook: str, n: int) -> int:
        """Ingest asks to hand over `n` fresh deliveries of `hook`. Only when nothing older is due
        for the hook (its last claim came back short), so fresh events never overtake due retries."""
        lane = self.lanes.get(hook)
        if self._stopping or lane is None or not lane.exhausted or lane.batch is not None:
            return 0  # a batched hook's deliveries wait in the store for their batch to form
        k = max(0, min(n, lane.room(), self._claim_room()))
        if lane.bucket is not None:
            k = lane.bucket.take(k)  # no more than room() said: nothing else ran in between
        lane.reserved += k
        return k

    def committed(self, claimed: Sequence[DueDelivery], pending_hooks: Set[str], reserved: Mapping[str, int]) -> None:
        for hook, n in reserved.items():
            reserving = self.lanes[hook]
            reserving.reserved -= n
            if reserving.stopped:  # stopped while the commit was in flight: the round gives them back
                self._stopped_ready = True
                self._wake.set()
            if reserving.bucket is not None and n:
                # The tokens of room left unused (duplicates, a failed commit) go back.
                reserving.bucket.give_back(n - sum(1 for d in claimed if d.hook == hook))
        if claimed and log.isEnabledFor(logging.DEBUG):
            _log_claimed(claimed, "claimed at ingest")
        if self._destined:
            self._admit(claimed, self._to_park)
            if self._to_park:
                self._wake.set()  # the round parks them
        else:
            for d in claimed:
                self.lanes[d.hook].ready.append(d)
        if pending_hooks:
            self._woken += 1
            for hook in pending_hooks:
                lane = self.lanes.get(hook)
                if lane is not None:
                    lane.exhausted = False
            self._wake.set()
        self._fill()
        if sum(reserved.values()) > len(claimed) and self._should_claim(next(iter(reserved))):
            # Room promised to this commit came back unused (duplicates, or the commit failed): a
            # round that found none meanwhile would otherwise wait for the poll.
            self._wake.set()

    @property
    def in_flight_total(self) -> int:
        return self._active

    @property
    def buffered_total(self) -> int:
        return sum(len(lane.ready) for lane in self.lanes.values())

    def _claim_room(self) -> int:
        """How many more deliveries may be claimed in all: the free slots plus one round in reserve."""
        reserved = sum(lane.reserved for lane in self.lanes.values())
        return 2 * self.concurrency - self._active - self.buffered_total - reserved

    def _has_slot(self, lane: Lane) -> bool:
        """Whether a delivery of this lane may start now: under its own limit and the global one."""
        return lane.has_slot() and self._active < self.concurrency

    def _should_claim(self, first: str) -> bool:
        """Whether a claim round could start more deliveries now: for `first` (the hook at hand) when
        its reserve is half used; for another hook only when there is room to claim for it."""
        if self.lanes[first].wants_claim():
            return True
        return any(lane.wants_claim() for name, lane in self.lanes.items() if name != first) and self._claim_room() > 0

    def _limits(self) -> dict[str, int]:
        """How many to claim per hook: enough for its free slots plus one more round in reserve. When
        the global room is short, it is shared out evenly among the hooks that want some, so a hook
        with a backlog cannot hold every slot while another waits for one."""
        free = self._claim_room()
        # Rotated, so the hook that gets the odd one out changes from round to round.
        lanes = list(self.lanes.values())
        if lanes:
            start = self.rng.randrange(len(lanes))
            lanes = lanes[start:] + lanes[:start]
        needs: dict[str, int] = {}
        for lane in lanes:
            if lane.wants_claim() and (need := lane.room()) > 0:
                needs[lane.name] = need
        limits: dict[str, int] = {}
        while free > 0 and needs:
            share = max(1, free // len(needs))
            for name in list(needs):
                n = min(needs[name], share, free)
                limits[name] = limits.get(name, 0) + n
                free -= n
                needs[name] -= n
                if not needs[name]:
                    del needs[name]
                if free <= 0:
                    break
        if self._rated:
            # Each claim takes its tokens now, before its attempt is counted; in the rotated order, so
            # that lanes sharing a group's bucket take turns at its tokens.
            for lane in lanes:
                asked = limits.get(lane.name)
                if asked and lane.bucket is not None:
                    taken = lane.bucket.take(asked)
                    if taken:
                        limits[lane.name] = taken
                    else:
                        del limits[lane.name]
        return limits

    async def run(self, *, drain: bool = False) -> None:
        """Deliver until `stop()` (or, with drain=True, until nothing is due or in flight).

        A store error does not end the loop (it would leave every retry unsent until a restart):
        it is logged, counted for health, and the loop tries again after a pause. In drain mode
        (a CLI command) it is raised instead.
        """
        self._draining = drain
        self.recorder.start()
        while not self._stopping:
            # Cleared first: whatever set it is re-read below, and a stale wake-up would spin the loop.
            self._wake.clear()
            try:
                if await self._round(drain=drain):
                    break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if drain:
                    raise
                log.error(
                    LogLine(f"dispatcher: the store failed; trying again in {STORE_RETRY_S:.0f}s", {"error": str(e)})
                )
                self.errors.add(f"claiming deliveries failed: {e}")
                self._not_exhausted()
                await self.clock.wait(self._stop_requested, STORE_RETRY_S)
        if drain:
            await self.recorder.flush()
            await self._unpark_unkept()

    async def _unpark_unkept(self) -> None:
        """A command that drains (replay --wait) leaves nothing parked for a gate that only it knows (a
        destination's tokens): the running daemon would not know to unpark it. A stored pause stays."""
        for lane in self._destined:
            assert lane.destinations is not None
            for dest in lane.destinations:
                if dest.parked and dest.paused is None:
                    await self._unpark(lane, dest)

    async def _round(self, *, drain: bool) -> bool:
        """One claim-and-wait round. Returns True when drain mode is done."""
        now = self.clock.now()
        # Also when the (wall) clock was stepped back since the last read: the next read's time would
        # otherwise be as far off as the step, and a `hookd hooks pause` would wait that long.
        if now >= self._states_due or now < self._states_due - POLL_INTERVAL_S:
            await self._read_hook_states()
        if self._stopped_ready:
            await self._give_back_stopped()
        gate_at = self._open_lanes()
        if self._destined:
            if self._to_park:
                await self._park_claimed()
            dest_at = self._dest_gate_at = await self._open_destinations()
            if dest_at is not None and (gate_at is None or dest_at < gate_at):
                gate_at = dest_at
        if self._unsaved_breakers:
            for lane in list(self._unsaved_breakers):
                self._unsaved_breakers.discard(lane)
                await self._save_breaker(lane)
        if self._batching:
            self._batches_due()
        limits = self._limits()
        batched_full = await self._claim_batched(limits, drain=drain) if self._batching else False
        if limits:
            # A rate-limited hook may claim its due retries first (_claim); the others as always.
            due = await (self._claim(limits) if self._rated else self.store.claim_due(self.clock.now(), limits))
            if due and log.isEnabledFor(logging.DEBUG):
                _log_claimed(due, "claimed")
            got = Counter(d.hook for d in due)
            if self._destined:
                self._admit(due, self._to_park)
            else:
                for d in due:
                    self.lanes[d.hook].ready.append(d)
            if self._rated:
                self._give_back_tokens(limits, got)
            for hook, n in limits.items():
                if got[hook] < n:
                    self.lanes[hook].exhausted = True
            if due:
                await self._give_back_gated(got)
            self._fill()
            if self._to_park:
                await self._park_claimed()
            if any(got[h] >= n for h, n in limits.items()):
                return False  # some hook got all it asked for: more may be due right now
            if self._should_claim(next(iter(limits))):
                # Hooks this round left out, because others were given the room first and came back
                # short: ask them now rather than at the next poll (it stalled deliveries for 1 s).
                return False
        if batched_full:
            return False  # a batched hook got all it asked for: more may be due right now
        if drain and not self._active and not self.buffered_total:
            if any(h.ordering is not None for h in self.hooks.values()):
                # The outcomes written decide which deliveries of a key are due next: write them first.
                await self.recorder.flush()
            next_at = await self.store.next_due_at([name for name, lane in self.lanes.items() if not lane.stopped])
            if (next_at is None or next_at > self.clock.now()) and self._dest_gate_at is None:
                return True  # (deliveries parked for a destination's tokens are not done: its gate opens)
            if gate_at is None:
                self._not_exhausted()
                return False
            # Due, but waiting for a gate (a rate limit's next token): the wait below is for it.
        timeout = POLL_INTERVAL_S
        exhausted = [
            name
            for name, lane in self.lanes.items()
            if lane.exhausted and not lane.held_until and not lane.stopped and lane.batch is None
        ]
        if exhausted:
            next_at = await self.store.next_due_at(exhausted)
            if next_at is not None:
                timeout = min(timeout, max(0.0, next_at - self.clock.now()))
        if self._batching and (batch_at := self._batches_due()) is not None:
            gate_at = batch_at if gate_at is None else min(gate_at, batch_at)
        # A gate opening first (a hold's end, a token, a batch's wait) needs no fresh look at the
        # other lanes: the next round opens its own lane (_open_lanes, _batches_due).
        by_gate = gate_at is not None and gate_at - self.clock.now() < timeout
        if gate_at is not None and by_gate:
            timeout = max(0.0, gate_at - self.clock.now())
        # Through the Clock, so a test drives the poll and the retries' due times with a fake one.
        # (Work queued meanwhile for an exhausted lane is still seen: each round asks next_due_at.)
        if (timeout <= 0 or not await self.clock.wait(self._wake, timeout)) and not by_gate:
            self._not_exhausted()  # a retry fell due, or another process queued work
        return False

    def _give_back_tokens(self, limits: Mapping[str, int], got: Mapping[str, int]) -> None:
        """The tokens a rate-limited hook took for a claim that came back short go back."""
        for lane in self._rated:
            if lane.name in limits and lane.bucket is not None:
                lane.bucket.give_back(limits[lane.name] - got.get(lane.name, 0))

    async def _claim(self, limits: Mapping[str, int]) -> list[DueDelivery]:
        """Claim up to `limits` per hook when some hook is rate-limited. One that may have a due retry
        claims its due retries first, fresh deliveries with what is left: its tokens go to what has
        waited longest."""
        now = self.clock.now()
        retries = {lane.name: limits[lane.name] for lane in self._rated if lane.name in limits and lane.retry_at <= now}
        if not retries:
            return await self.store.claim_due(now, limits)
        due = await self.store.claim_retries(now, retries)
        got = Counter(d.hook for d in due)
        for hook, n in retries.items():
            if got[hook] < n:  # none of its retries is due any more: when is the next one?
                next_at = await self.store.next_retry_at(hook)
                self.lanes[hook].retry_at = math.inf if next_at is None else next_at
        rest = {hook: n - got[hook] for hook, n in limits.items() if n > got[hook]}
        if rest:
            due += await self.store.claim_due(now, rest)
        return due

    def _open_lanes(self) -> float | None:
        """Open the lanes whose hold has ended (their deliveries are due again), and let those whose
        circuit breaker has cooled down probe; when the next gate opens: a hold's end, a breaker's
        cooldown, or the next token of a rate-limited lane with work that waits for one; None if no
        gate is closed."""
        now = self.clock.now()
        next_end: float | None = None
        for lane in self.lanes.values():
            if not lane.held_until:
                continue
            if lane.held_until <= now:
                lane.held_until = 0.0
                lane.exhausted = False
            elif next_end is None or lane.held_until < next_end:
                next_end = lane.held_until
        for lane in self._rated:
            # An exhausted lane has nothing due, so no token to wait for; a held one waits for its hold.
            if lane.bucket is not None and not lane.exhausted and not lane.held_until and not lane.bucket.available():
                at = lane.bucket.next_token_at()
                if next_end is None or at < next_end:
                    next_end = at
        for lane in self._breakers:
            breaker = lane.breaker
            assert breaker is not None
            if breaker.state != "open" or lane.paused is not None:
                continue  # a paused lane probes when it is resumed
            change = breaker.tick(now)
            if change is not None:
                self._breaker_changed(lane, change)
                self._unsaved_breakers.add(lane)
            elif next_end is None or breaker.retry_at < next_end:
                next_end = breaker.retry_at
        return next_end

    def _batches_due(self) -> float | None:
        """Let the batched lanes whose wait has ended claim again (deliveries that waited max_wait for a
        batch to fill, a batch retry due); when the next such wait ends (now, if one just did), or None
        if none waits."""
        now = self.clock.now()
        next_at: float | None = None
        for lane in self.lanes.values():
            if lane.batch is None or not lane.exhausted or not lane.batch_at:
                continue
            if lane.batch_at <= now:
                lane.exhausted = False
                lane.batch_at = 0.0
                next_at = now
            elif next_at is None or lane.batch_at < next_at:
                next_at = lane.batch_at
        return next_at

    async def _claim_batched(self, limits: dict[str, int], *, drain: bool) -> bool:
        """Claim the units of the batched lanes among `limits` (taken out of it, the rest being claimed
        one by one): first their batches due again, then new batches of what is due, formed and claimed
        in one transaction. Returns whether one of them got all it asked for (more may be due now).
        In drain mode (replay --wait) a batch does not wait to fill: what is due goes now."""
        full = False
        claimed = False
        for name in [h for h in limits if self.lanes[h].batch is not None]:
            lane = self.lanes[name]
            batcher = lane.batch
            assert batcher is not None
            units = limits.pop(name)
            woken = self._woken
            now = self.clock.now()
            ready: list[DueDelivery] = list(await self.store.claim_batches(name, now, units))
            wait_at: float | None = None
            if len(ready) < units:
                found = await self.store.batch_candidates(
                    name, now, (units - len(ready)) * batcher.max_events, batcher.known
                )
                formed = batcher.form(found, now, units - len(ready), flush=drain)
                batches, singles = await self.store.claim_formed(
                    name, now, [(uuid7(), [d.id for d in g]) for g in formed.batches], [d.id for d in formed.singles]
                )
                for b in batches:
                    b.items = _items(batcher, b)
                ready += batches
                ready += singles
                # A delivery falling due later may have been stored long before: looked at then (form() says
                # how much of max_wait it still has to wait).
                later = found.later_at
                wait_at = min((t for t in (formed.wait_until, found.retry_at, later) if t is not None), default=None)
            if ready and log.isEnabledFor(logging.DEBUG):
                _log_claimed(ready, "claimed")
            if lane.bucket is not None and len(ready) < units:
                lane.bucket.give_back(units - len(ready))  # a request each: the ones not claimed come back
            lane.ready.extend(ready)
            if ready:
                await self._give_back_gated((name,))
            claimed = claimed or bool(ready)
            if len(ready) >= units:
                full = True
            elif self._woken == woken:
                lane.exhausted = True
                lane.batch_at = wait_at or 0.0
        if claimed:
            self._fill()
        return full

    async def _hold(self, lane: Lane, until: float) -> None:
        """The receiver asked to wait until `until`: the whole lane waits, not only the delivery that
        was told so. What it had claimed and not started goes back, its attempt uncounted; what is in
        flight finishes."""
        first = not lane.held_until
        lane.held_until = max(lane.held_until, until)
        unsent = self._take_back(lane)
        if first:
            log.info(LogLine("the receiver asked to wait (Retry-After): the hook's deliveries wait, spending no "
                             "attempt", {"hook": lane.name, "until": isoformat(lane.held_until),
                                         "given_back": len(unsent)}))  # fmt: skip
        self._wake.set()  # the round waits for the hold's end
        if unsent:
            await self._release(unsent)

    def _take_back(self, lane: Lane) -> list[DueDelivery]:
        """What `lane` had claimed and not started, off it, for `_release` (a gate closed on it)."""
        unsent = list(lane.ready)
        lane.ready.clear()
        if lane.bucket is not None and unsent:
            lane.bucket.give_back(len(unsent))  # not sent: their tokens come back, as their attempts do
            lane.retry_at = min(lane.retry_at, self.clock.now())  # retries among them are due at once
        if lane.destinations is not None:
            for d in unsent:  # so do the tokens of their destinations' buckets
                if d.destination is not None and (bucket := lane.destinations.get(d.destination).bucket):
                    bucket.give_back(1)
        return unsent

    async def _give_back_gated(self, hooks: Iterable[str]) -> None:
        """After an awaited claim for `hooks`: a lane that a gate closed on meanwhile (a pause, the
        receiver asking to stop, its breaker opening, a hold) had its ready deliveries given back then,
        but not what this claim brought: it goes back now, attempt uncounted, as committed() has the
        round do for ingest. Else it would wait `delivering`, its attempt spent, for the whole pause."""
        unsent: list[DueDelivery] = []
        for hook in hooks:
            lane = self.lanes[hook]
            if (lane.stopped or lane.held_until) and lane.ready:
                unsent.extend(self._take_back(lane))
        if unsent:
            await self._release(unsent)

    async def _release(self, units: Sequence[DueDelivery]) -> None:
        """Give back claimed units that were not sent (Store.release): a batch as a whole."""
        batches = [u.id for u in units if type(u) is DueBatch]
        singles = [u.id for u in units if type(u) is not DueBatch] if batches else [u.id for u in units]
        await self.store.release(singles, self.clock.now(), batches=batches)

    # -- pauses (run-time state in the store's hook_state table) -----------------------------------------

    async def _read_hook_states(self) -> None:
        """Take up the pauses and resumes written by another process (`hookd hooks pause`, `resume`)."""
        epoch = self._states_epoch
        states = await self.store.hook_states()
        dest_pauses = await self.store.destination_pauses() if self._destined else None
        self._states_due = self.clock.now() + POLL_INTERVAL_S
        if epoch != self._states_epoch:
            return  # changed here while reading: the next poll reads what this process wrote
        # The first read restores the pauses stored before this start: logged, but not told as news
        # (an alert hook heard of each when it happened), unless stored unannounced (`hookd hooks pause`
        # while this daemon was stopped): those are told now, and marked told.
        restoring, self._states_read = not self._states_read, True
        for name, lane in self.lanes.items():
            state = states.get(name)
            pause = state.pause if state is not None else None
            if pause == lane.paused:
                continue
            if pause is None:
                self._resumed(lane)
            else:
                unsent = self._paused(lane, pause, announce=not restoring or not pause.announced)
                if not pause.announced:
                    await self.store.mark_pause_announced(name, pause.at)
                if unsent:
                    await self._release(unsent)
        if dest_pauses is not None:
            await self._destinations_read(dest_pauses, restoring=restoring)
        elif restoring and not self._draining:
            for name in self.lanes:  # what was parked before (a hook whose host was templated) goes again
                await self.store.unpark(name, None, self.clock.now())

    async def pause(self, hook: str, pause: HookPause) -> None:
        """Pause `hook` now and store it (the receiver asked, or disable_after): what its lane had
        claimed and not started goes back, its attempt uncounted; what is in flight finishes."""
        lane = self.lanes[hook]
        if lane.paused is not None:
            return  # paused already: an answer to a request that was in flight then
        self._states_epoch += 1
        unsent = self._paused(lane, pause)
        try:
            before = await self.store.pause_hook(hook, pause)
        except Exception as e:
            # Paused in this process only: the next read of the (unchanged) stored states resumes it.
            log.error(LogLine("could not store the pause; it lasts until the hook states are next read (a second)",
                              {"hook": hook, "error": str(e)}))  # fmt: skip
            self.errors.add(f"storing the pause of hook {hook!r} failed: {e}")
            before = None
        if before is not None:
            lane.paused = before  # another process paused it first: its reason stands
        if unsent:
            await self._release(unsent)

    def _paused(self, lane: Lane, pause: HookPause, *, announce: bool = True) -> list[DueDelivery]:
        """Stop `lane` for `pause`; returns what it had claimed and not started, to give back.
        `announce`: tell on_lane_event (not for a pause restored at start)."""
        first = lane.paused is None
        lane.paused = pause
        lane.restate()
        unsent = self._take_back(lane)
        if first:
            fields = {"hook": lane.name, "by": pause.by, "reason": pause.reason, "given_back": len(unsent)}
            line = LogLine("hook paused: its deliveries are stored and wait, spending no attempt, until "
                           f"`hookd hooks resume {lane.name}`", fields)  # fmt: skip
            if pause.by == "operator":
                log.info(line)
            else:
                log.warning(line)
            if announce:
                self._lane_event("hook.paused", lane.name, pause.reason)
        self._wake.set()
        return unsent

    def _resumed(self, lane: Lane) -> None:
        lane.paused = None
        if lane.breaker is not None:
            change = lane.breaker.resumed(self.clock.now())
            if change is not None:
                self._breaker_changed(lane, change)
                self._unsaved_breakers.add(lane)
        lane.restate()
        lane.exhausted = False
        log.info(LogLine("hook resumed: its waiting deliveries are sent", {"hook": lane.name}))
        self._lane_event("hook.resumed", lane.name, "resumed with hookd hooks resume")
        self._wake.set()

    async def _give_back_stopped(self) -> None:
        """Deliveries ingest claimed for a lane that stopped meanwhile go back, their attempt uncounted."""
        self._stopped_ready = False
        unsent: list[DueDelivery] = []
        for lane in self.lanes.values():
            if lane.stopped and lane.ready:
                unsent.extend(self._take_back(lane))
        if unsent:
            await self._release(unsent)

    # -- circuit breakers (hookd.breaker) ------------------------------------------------------------

    async def _breaker_saw(self, lane: Lane, breaker: Breaker, outcome: Outcome) -> None:
        """Tell `lane`'s breaker how an attempt went; pause the hook once it has failed for disable_after."""
        now = self.clock.now()
        if outcome.retryable:
            change = breaker.failed(now, outcome.error)
        elif outcome.ok or outcome.status is not None:
            change = breaker.succeeded(now)  # a final 4xx too: the receiver is there
        else:
            return  # never reached the receiver (a render error, a refused destination): neither way
        if change is not None:
            unsent = self._breaker_changed(lane, change)
            await self._save_breaker(lane)
            if unsent:
                await self._release(unsent)
        if outcome.retryable and lane.paused is None and breaker.failing_too_long(now):
            assert breaker.policy.disable_after_s is not None and breaker.failing_since is not None
            reason = (
                f"failing for {format_duration(now - breaker.failing_since)} without a success (breaker.disable_after: "
                f"{format_duration(breaker.policy.disable_after_s)}); the last error: {outcome.error}"
            )
            await self.pause(lane.name, HookPause(by="disable_after", reason=reason, at=now))

    def _breaker_changed(self, lane: Lane, change: BreakerChange) -> list[DueDelivery]:
        """Log a change of `lane`'s breaker and gate the lane by it; returns what an opened breaker
        takes back from the lane (claimed, not started), to give back with its attempt uncounted."""
        breaker = lane.breaker
        assert breaker is not None
        lane.restate()
        fields: dict[str, object] = {"hook": lane.name, "reason": breaker.reason}
        unsent: list[DueDelivery] = []
        if change in ("opened", "reopened"):
            unsent = self._take_back(lane)
            fields["probe_at"] = isoformat(breaker.retry_at)
            fields["given_back"] = len(unsent)
            log.warning(LogLine("circuit breaker open: the hook's deliveries wait, spending no attempt, until one "
                                "probes", fields))  # fmt: skip
            if change == "opened":  # not each failed probe: one alert per outage
                self._lane_event("breaker.opened", lane.name, breaker.reason)
        elif change == "half_open":
            lane.exhausted = False
            log.info(LogLine("circuit breaker half-open: one delivery probes", fields))
        else:
            lane.exhausted = False
            log.info(LogLine("circuit breaker closed: the hook's deliveries are sent again", fields))
            self._lane_event("breaker.closed", lane.name, breaker.reason)
        self._wake.set()  # the round's wait covers the cooldown, or claims for the probe
        return unsent

    async def _save_breaker(self, lane: Lane) -> None:
        """Store the breaker's state as it is now, for `hookd hooks list` (on a change only)."""
        breaker = lane.breaker
        assert breaker is not None
        record = (
            None
            if breaker.state == "closed"
            else BreakerRecord(
                state=breaker.state,
                reason=breaker.reason,
                since=breaker.since,
                retry_at=breaker.retry_at if breaker.state == "open" else None,
            )
        )
        try:
            await self.store.set_breaker(lane.name, record, self.clock.now())
        except Exception as e:  # the breaker works on; only what hooks list shows is behind
            log.error(LogLine("could not store the circuit breaker's state", {"hook": lane.name, "error": str(e)}))
            self.errors.add(f"storing the breaker state of hook {lane.name!r} failed: {e}")

    def _lane_event(self, kind: str, hook: str, reason: str) -> None:
        try:
            self.on_lane_event(kind, hook, reason)
        except Exception:  # a bug in what listens: the lane's change stands
            log.exception(LogLine("internal error telling of a lane change", {"hook": hook, "kind": kind}))

    # -- destinations (hooks with a templated url host; hookd.destinations) -------------------------

    def _admit(self, due: Sequence[DueDelivery], park: list[tuple[Lane, DueDelivery]]) -> None:
        """Put claimed deliveries on their lanes; one whose destination is closed (paused, held, its
        breaker open or probing, no token) goes to `park` instead, to be given back parked."""
        now = self.clock.now()
        for d in due:
            lane = self.lanes[d.hook]
            dests = lane.destinations
            if dests is None or type(d) is DueBatch:
                lane.ready.append(d)
                continue
            host = d.destination if d.destination is not None else self._destination_of(d)
            if host is None:  # its url cannot be rendered: the attempt fails with the reason
                lane.ready.append(d)
                continue
            d.destination = host
            dest = dests.get(host)
            if dest.closed(now) or (dest.bucket is not None and not dest.bucket.take(1)):
                park.append((lane, d))
                continue
            if dest.breaker is not None and dest.breaker.state == "half_open":
                dest.probing = True
            lane.ready.append(d)

    def _destination_of(self, d: DueDelivery) -> str | None:
        """The destination of a delivery stored without one (a replay, a row from before it was stored)."""
        hook = self.hooks[d.hook]
        if hook.url is None:
            return None
        try:
            envelope = orjson.loads(d.body)
            return hook.url.destination(envelope if isinstance(envelope, dict) else {})
        except Exception:
            return None

    async def _park_claimed(self) -> None:
        """Give back, parked, the deliveries _admit found for closed destinations (their attempt
        uncounted), with the rest of each destination's pending deliveries."""
        parked, self._to_park = self._to_park, []
        by_dest: dict[tuple[Lane, str], list[str]] = {}
        for lane, d in parked:
            assert d.destination is not None
            by_dest.setdefault((lane, d.destination), []).append(d.id)
        now = self.clock.now()
        for (lane, host), ids in by_dest.items():
            assert lane.destinations is not None
            dest = lane.destinations.get(host)
            await self.store.park(lane.name, host, ids, now)
            dest.parked = True
            lane.destinations.gated.add(dest)

    def _take_back_destination(self, lane: Lane, dest: Destination) -> list[DueDelivery]:
        """What `lane` had claimed for `dest` and not started, off it (its gate closed)."""
        unsent = [d for d in lane.ready if d.destination == dest.host]
        if unsent:
            lane.ready = deque(d for d in lane.ready if d.destination != dest.host)
            if dest.bucket is not None:
                dest.bucket.give_back(len(unsent))
        return unsent

    async def _close_destination(self, lane: Lane, dest: Destination) -> int:
        """Park `dest`'s deliveries: those its lane holds unsent and those waiting in the store."""
        assert lane.destinations is not None
        unsent = self._take_back_destination(lane, dest)
        dest.parked = True
        lane.destinations.gated.add(dest)
        try:
            await self.store.park(lane.name, dest.host, [d.id for d in unsent], self.clock.now())
        except Exception as e:  # those claimed go back at the next start; the rest are parked at their claim
            fields = {"hook": lane.name, "destination": dest.host, "error": str(e)}
            log.error(LogLine("could not park a destination's deliveries", fields))
            self.errors.add(f"parking the deliveries of hook {lane.name!r} to {dest.host} failed: {e}")
        return len(unsent)

    async def _unpark(self, lane: Lane, dest: Destination, limit: int | None = None) -> int:
        """Unpark up to `limit` (None: all) of `dest`'s parked deliveries; when all are, it is no
        longer parked. Returns how many were."""
        assert lane.destinations is not None
        n = await self.store.unpark(lane.name, dest.host, self.clock.now(), limit)
        if limit is None or n < limit:
            dest.parked = False
        if not dest.parked and not dest.held_until and (dest.breaker is None or dest.breaker.is_closed):
            lane.destinations.gated.discard(dest)
        if n:
            lane.exhausted = False
            if lane.bucket is not None:  # a rate_limit_group's: retries among them may be due now
                lane.retry_at = min(lane.retry_at, self.clock.now())
            self._wake.set()
        return n

    async def _open_destinations(self) -> float | None:
        """Open the destinations whose gate opens now: a hold that ended, a breaker that cooled down
        (one delivery unparked to probe), tokens for a rate-limited one (that many unparked). Returns
        when the next gate opens, or None."""
        now = self.clock.now()
        next_at: float | None = None
        for lane in self._destined:
            dests = lane.destinations
            assert dests is not None
            if not dests.gated or lane.stopped:
                continue
            for dest in list(dests.gated):
                if dest.paused is not None:
                    continue  # waits for `hookd hooks resume`
                at: float | None = None
                if dest.held_until:
                    if dest.held_until > now:
                        at = dest.held_until
                    else:
                        dest.held_until = 0.0
                breaker = dest.breaker
                if at is None and breaker is not None and breaker.state == "open":
                    if breaker.tick(now) is not None:
                        self._destination_breaker_changed(lane, dest, "half_open")
                        dest.probing = False
                        await self._unpark(lane, dest, 1)
                    else:
                        at = breaker.retry_at
                elif at is None and (breaker is None or breaker.is_closed) and dest.parked:
                    if dest.bucket is None:
                        await self._unpark(lane, dest)
                    elif (tokens := dest.bucket.available()) > 0:
                        await self._unpark(lane, dest, tokens)
                    else:
                        at = dest.bucket.next_token_at()
                elif at is None and not dest.parked and (breaker is None or breaker.is_closed):
                    dests.gated.discard(dest)
                if at is not None and (next_at is None or at < next_at):
                    next_at = at
        return next_at

    async def _destination_saw(self, lane: Lane, dest: Destination, outcome: Outcome) -> None:
        """`_breaker_saw` for one destination: its breaker, and disable_after pausing it only."""
        breaker = dest.breaker
        if breaker is None:
            return
        now = self.clock.now()
        if outcome.retryable:
            change = breaker.failed(now, outcome.error)
        elif outcome.ok or outcome.status is not None:
            change = breaker.succeeded(now)
        else:
            return
        dest.probing = False
        if change is not None:
            self._destination_breaker_changed(lane, dest, change)
            if change in ("opened", "reopened"):
                await self._close_destination(lane, dest)
            elif change == "closed" and dest.paused is None:
                await self._unpark(lane, dest)
        elif breaker.state == "half_open":
            await self._unpark(lane, dest, 1)  # the probe got no verdict (a final 4xx closes; see Breaker)
        if outcome.retryable and dest.paused is None and breaker.failing_too_long(now):
            assert breaker.policy.disable_after_s is not None and breaker.failing_since is not None
            reason = (
                f"failing for {format_duration(now - breaker.failing_since)} without a success (breaker.disable_after: "
                f"{format_duration(breaker.policy.disable_after_s)}); the last error: {outcome.error}"
            )
            await self.pause_destination(lane.name, dest.host, HookPause(by="disable_after", reason=reason, at=now))

    def _destination_breaker_changed(self, lane: Lane, dest: Destination, change: BreakerChange) -> None:
        breaker = dest.breaker
        assert breaker is not None and lane.destinations is not None
        fields: dict[str, object] = {"hook": lane.name, "destination": dest.host, "reason": breaker.reason}
        if change in ("opened", "reopened"):
            lane.destinations.gated.add(dest)
            fields["probe_at"] = isoformat(breaker.retry_at)
            log.warning(LogLine("circuit breaker open for a destination: its deliveries wait, spending no attempt, "
                                "until one probes; the hook's other destinations go on", fields))  # fmt: skip
            if change == "opened":
                self._destination_event("breaker.opened", lane.name, breaker.reason, dest.host)
        elif change == "half_open":
            log.info(LogLine("circuit breaker half-open for a destination: one delivery probes", fields))
        else:
            log.info(LogLine("circuit breaker closed for a destination: its deliveries are sent again", fields))
            self._destination_event("breaker.closed", lane.name, breaker.reason, dest.host)
        self._wake.set()

    async def pause_destination(self, hook: str, host: str, pause: HookPause) -> None:
        """Pause one destination of `hook` (the receiver asked, or disable_after) and store it: its
        deliveries are parked; what the lane had claimed for it and not started goes back uncounted."""
        lane = self.lanes[hook]
        assert lane.destinations is not None
        dest = lane.destinations.get(host)
        if dest.paused is not None:
            return
        self._states_epoch += 1
        dest.paused = pause
        unsent = self._take_back_destination(lane, dest)
        dest.parked = True
        lane.destinations.gated.add(dest)
        log.warning(LogLine("destination paused: its deliveries are stored and wait, spending no attempt, until "
                            f"`hookd hooks resume {hook}`; the hook's other destinations go on",
                            {"hook": hook, "destination": host, "by": pause.by, "reason": pause.reason,
                             "given_back": len(unsent)}))  # fmt: skip
        self._destination_event("hook.paused", hook, pause.reason, host)
        try:
            before = await self.store.pause_destination(hook, host, pause)
            await self.store.park(hook, host, [d.id for d in unsent], self.clock.now())
        except Exception as e:
            log.error(LogLine("could not store the pause of a destination; it lasts until the hook states are next "
                              "read (a second)", {"hook": hook, "destination": host, "error": str(e)}))  # fmt: skip
            self.errors.add(f"storing the pause of hook {hook!r} for {host} failed: {e}")
            before = None
            if unsent:
                await self._release(unsent)
        if before is not None:
            dest.paused = before

    async def _destinations_read(self, pauses: dict[str, dict[str, HookPause]], *, restoring: bool) -> None:
        """Take up the stored pauses of destinations (a resume by `hookd hooks resume`; at start, the
        pauses from before). At start, what was parked for a gate that is not stored (a breaker, a rate
        limit, a hold) is unparked."""
        now = self.clock.now()
        for lane in self._destined:
            dests = lane.destinations
            assert dests is not None
            stored = pauses.get(lane.name, {})
            for host, pause in stored.items():
                dest = dests.get(host)
                if dest.paused is None:
                    dest.paused = pause
                    dest.parked = True
                    dests.gated.add(dest)
                    unsent = self._take_back_destination(lane, dest)
                    if unsent:
                        await self.store.park(lane.name, host, [d.id for d in unsent], now)
                    log.warning(LogLine("destination paused", {"hook": lane.name, "destination": host,
                                                               "by": pause.by, "reason": pause.reason}))  # fmt: skip
                    if not restoring:
                        self._destination_event("hook.paused", lane.name, pause.reason, host)
            for dest in [d for d in dests.gated if d.paused is not None and d.host not in stored]:
                dest.paused = None
                log.info(LogLine("destination resumed: its waiting deliveries are sent",
                                 {"hook": lane.name, "destination": dest.host}))  # fmt: skip
                self._destination_event("hook.resumed", lane.name, "resumed with hookd hooks resume", dest.host)
                breaker = dest.breaker
                if breaker is not None and (change := breaker.resumed(now)) is not None:
                    dest.probing = False
                    self._destination_breaker_changed(lane, dest, change)  # an open one probes at once
                await self._unpark(lane, dest, None if breaker is None or breaker.is_closed else 1)
        if restoring and not self._draining:
            for name, lane in self.lanes.items():
                if lane.destinations is None and name in pauses:
                    await self.store.resume_destinations(name, None, now)  # its host is no longer templated
                await self.store.unpark(name, None, now)

    def _destination_event(self, kind: str, hook: str, reason: str, host: str) -> None:
        try:
            self.on_destination_event(kind, hook, reason, host)
        except Exception:
            log.exception(LogLine("internal error telling of a destination change", {"hook": hook, "kind": kind}))

    def _fill(self) -> None:
        """Start buffered deliveries while their hook and the global limit have free slots."""
        for lane in self.lanes.values():
            while lane.ready and self._has_slot(lane):
                self._start(lane.ready.popleft())

    def _start(self, d: DueDelivery) -> None:
        self._take_slot(d.hook)
        holding = [d]  # the delivery whose slot the task holds; emptied when the task gives it back
        task = asyncio.create_task(self._deliver(holding), name="hookd-delivery")
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._delivering_ended, holding))

    def _delivering_ended(self, holding: list[DueDelivery], task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if holding:  # cancelled before its first step (a stop in the same turn): its slot comes back
            d = holding.pop()
            self._give_slot(d.hook)
            self._unstarted.append(d)  # claimed, never sent: finish() gives it back

    def _take_slot(self, hook: str) -> None:
        self.lanes[hook].in_flight += 1
        self._active += 1

    def _give_slot(self, hook: str) -> None:
        self.lanes[hook].in_flight -= 1
        self._active -= 1

    async def _deliver(self, holding: list[DueDelivery]) -> None:
        """Sends the delivery in `holding`, then whatever is ready next while the limits allow: not a
        task per delivery, whose creation, scheduling and clean-up cost ~5 µs each (bench/: ~10% of a
        request)."""
        while holding:
            d = holding[0]
            try:
                if type(d) is DueBatch:
                    await self._attempt_batch(d)
                else:
                    await self._attempt(d)
            except Exception:
                # A bug after the send (planning or recording): the delivery stays `delivering` and
                # is sent again at the next start. The slot and the deliveries queued behind it go on.
                log.exception(LogLine("internal error after sending", {"delivery": d.id, "hook": d.hook}))
                self.errors.add(f"internal error recording delivery {d.id}; it is sent again at the next start")
            finally:
                holding.clear()
                self._give_slot(d.hook)
            if self._stopping:
                return
            next_ = self._next_ready(d.hook)
            if next_ is not None:
                holding.append(next_)
            if (self._draining and not self._active) or self._should_claim(d.hook):
                # Refill a reserve (this hook's, or another's that this slot can serve), or (drain
                # mode) notice that everything is done. Not otherwise: a round per finished delivery
                # cost a next_due_at query each at a steady rate (bench/).
                self._wake.set()

    def _next_ready(self, freed: str) -> DueDelivery | None:
        """The next buffered delivery that may start now, taking its slot. The hooks are asked in
        turn, starting after the one whose delivery just finished, so that under the global limit a
        freed slot goes round the hooks with work waiting instead of back to the busiest one."""
        for lane in self.lanes[freed].turns:
            if lane.ready and self._has_slot(lane):
                self._take_slot(lane.name)
                return lane.ready.popleft()
        return None

    def build_request(self, hook: CompiledHook, d: DueDelivery) -> OutboundRequest:
        return render_request(hook, d.id, d.event_id, d.attempt, d.body, self.clock.now())

    async def _attempt_batch(self, b: DueBatch) -> None:
        """`_attempt` for a batch: one request for all its members and one attempt record, keyed by the
        batch, whose outcome every member takes: delivered, retried or failed as a whole."""
        hook = self.hooks[b.hook]
        batcher = self.lanes[b.hook].batch
        assert batcher is not None
        started_at = self.clock.now()
        t0 = time.perf_counter()
        request: OutboundRequest | None = None
        members = tuple((m.id, m.attempt) for m in b.members)
        try:
            items = list(b.items) if b.items is not None else [batcher.item(m) for m in b.members]
            request = batcher.request(b.id, b.attempt, items, started_at)
            outcome = redact_outcome(await self.sender.send(request), hook.redactor)
        except asyncio.CancelledError:
            if self._stopping and request is not None:
                reason, state = self.cut_off(b)  # as a delivery's: the request went out, no answer came
                cut_off = no_response(reason, t0, retryable=True)
                next_at = self.clock.now() if state == "pending" else None
                self._record(b, hook, started_at, request, cut_off, state, next_at, members=members)
            raise
        except RequestRenderError as e:
            # Only after a change of config since the batch was formed (its payloads rendered then):
            # final for every member, each replayable once the template is fixed.
            error = hook.redactor.text(render_failure(e))
            outcome = no_response(error, t0, retryable=False)
            first = b.members[0].event_id if b.members else b.id
            self.hook_errors.add(EvaluationFailure(kind="template", hook=b.hook, event_id=first, error=error,
                                                   at=started_at))  # fmt: skip
        except Exception as e:  # a bug: never lose the deliveries
            log.exception(LogLine("internal error while sending a batch", {"batch": b.id, "hook": b.hook}))
            outcome = _internal_failure(hook, request, e, t0)
        plan = self._plan(hook, b.attempt, outcome)
        stop_reason = _stop_reason(hook, outcome)
        split = outcome.status == 413 and len(b.members) > 1 and stop_reason is None
        if split:
            # 413 says the request was too large, not that its events are bad: failing them all for good
            # would lose a whole backlog to a receiver's body limit. The members leave the batch and are
            # due at once, this attempt counted for each (a request carried them), and the hook's
            # batches get smaller (one member alone answered 413 fails for good, as a delivery does).
            plan = Plan("pending", self.clock.now())
            outcome = dataclasses.replace(outcome, error=self._split(batcher, b))
        elif stop_reason is not None and plan.state != "delivered":
            # The batch waits with the rest, this attempt counted, due again once resumed.
            plan = Plan("pending", self.clock.now())
            outcome = dataclasses.replace(
                outcome, error=f"{stop_reason}: the hook is paused, and this batch waits for `hookd hooks resume`"
            )
        self._record(b, hook, started_at, request, outcome, plan.state, plan.next_at, members=members, split=split)
        if stop_reason is not None:
            await self.pause(b.hook, HookPause(by="receiver", reason=stop_reason, at=self.clock.now()))
        lane = self.lanes[b.hook]
        # An answer that paused the hook is that one happening (one alert), not also a breaker failure.
        if lane.breaker is not None and not self._draining and stop_reason is None:
            await self._breaker_saw(lane, lane.breaker, outcome)
        if plan.state == "pending" and (until := self._told_later(hook, outcome)) is not None:
            await self._hold(self.lanes[b.hook], until)
        n = len(b.members)
        if plan.state == "delivered":
            self.delivered_total += n
        elif plan.state == "failed":
            self.failed_total += n
            if self.on_failed is not None:
                for m in b.members:  # each delivery failed for good, as one sent alone would
                    self.on_failed(m, outcome)
        else:
            self.retried_total += n
        self._log_batch(b, outcome, "split" if split else plan.state, plan.next_at)

    def _split(self, batcher: Batcher, b: DueBatch) -> str:
        """The receiver answered 413 to batch `b`: the hook's batches hold at most half as many events
        from now on (logged when that lowers them); the error its attempt records."""
        before = batcher.max_events
        after = batcher.split(len(b.members))
        if after < before:
            log.warning(LogLine("the receiver found a batch too large (413): the hook's batches now hold fewer "
                                "events until hookd restarts; set batch.max_size under the receiver's body limit",
                                {"hook": b.hook, "max_events": after, "was": before}))  # fmt: skip
        return (f"HTTP 413: the receiver found this batch of {len(b.members)} deliveries too large; split: each "
                f"goes again at once in a smaller batch (at most {after} events), this attempt counted")  # fmt: skip

    def _log_batch(self, b: DueBatch, outcome: Outcome, state: str, next_at: float | None) -> None:
        if state == "delivered" and not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {"batch": b.id, "hook": b.hook, "try": b.attempt, "deliveries": len(b.members),
                                     "status": outcome.status, "ms": round(outcome.duration_s * 1000)}  # fmt: skip
        if state == "delivered":
            log.info(LogLine("delivered a batch", fields))
            return
        if state == "pending":
            fields["retry_in_s"] = round(max((next_at or 0) - self.clock.now(), 0))
        fields["error"] = outcome.error
        if state == "split":
            log.warning(LogLine("split the batch: its deliveries go again in smaller batches", fields))
        elif state == "pending":
            log.warning(LogLine("will retry the batch", fields))
        else:
            log.error(LogLine("failed: the batch and every delivery in it", fields))

    async def _attempt(self, d: DueDelivery) -> None:
        hook = self.hooks[d.hook]
        started_at = self.clock.now()
        t0 = time.perf_counter()
        request: OutboundRequest | None = None
        unlogged: int | None = 0  # None: a render failure whose log line is left out (rate limit)
        try:
            request = self.build_request(hook, d)
            outcome = redact_outcome(await self.sender.send(request), hook.redactor)
        except asyncio.CancelledError:
            if self._stopping and request is not None:
                # Cut off by the end of the shutdown grace period: the request went out, so it is
                # an attempt like any other, and history shows it as one, due again at once (the
                # next start). Not the last one: the receiver never got the chance to answer.
                reason, state = self.cut_off(d)
                cut_off = no_response(reason, t0, retryable=True)
                next_at = self.clock.now() if state == "pending" else None
                self._record(d, hook, started_at, request, cut_off, state, next_at)
            raise
        except RequestRenderError as e:
            # The event's own doing, not a bug: final (the same event renders the same way every time),
            # with the reason in history and one log line (below), no traceback.
            error = hook.redactor.text(render_failure(e))  # a rendered value may hold a config secret
            outcome = no_response(error, t0, retryable=False)
            failure = EvaluationFailure(kind="template", hook=d.hook, event_id=d.event_id, error=error, at=started_at)
            unlogged = self.hook_errors.add(failure)
        except Exception as e:  # a bug: never lose the delivery
            log.exception(LogLine("internal error while sending", {"delivery": d.id, "hook": d.hook}))
            outcome = _internal_failure(hook, request, e, t0)
        plan = self._plan(hook, d.attempt, outcome)
        stop_reason = _stop_reason(hook, outcome)
        lane = self.lanes[d.hook]
        # A hook with a templated url host keeps its gates per destination (hookd.destinations).
        dest = lane.destinations.get(d.destination) if lane.destinations is not None and d.destination else None
        if stop_reason is not None and plan.state != "delivered":
            # The delivery waits with the rest, this attempt counted, due again once resumed.
            plan = Plan("pending", self.clock.now())
            what = "the hook is paused" if dest is None else f"the destination {dest.host} is paused"
            outcome = dataclasses.replace(
                outcome, error=f"{stop_reason}: {what}, and this delivery waits for `hookd hooks resume`"
            )
        self._record(d, hook, started_at, request, outcome, plan.state, plan.next_at)
        if stop_reason is not None:
            stop = HookPause(by="receiver", reason=stop_reason, at=self.clock.now())
            if dest is None:
                await self.pause(d.hook, stop)
            else:
                await self.pause_destination(d.hook, dest.host, stop)
        # replay --wait sends what it was given once. An answer that paused the hook or its destination
        # (410, or the header webhook-delivery: disable) is that one happening, with its one alert: not
        # also a breaker failure.
        if not self._draining and stop_reason is None:
            if lane.breaker is not None:
                await self._breaker_saw(lane, lane.breaker, outcome)
            elif dest is not None:
                await self._destination_saw(lane, dest, outcome)
        if plan.state == "pending" and (until := self._told_later(hook, outcome)) is not None:
            if dest is None:
                await self._hold(lane, until)
            else:  # only this destination waits
                dest.held_until = max(dest.held_until, until)
                await self._close_destination(lane, dest)
                self._wake.set()
        if plan.state == "delivered":
            self.delivered_total += 1
        elif plan.state == "failed":
            self.failed_total += 1
            if self.on_failed is not None:
                self.on_failed(d, outcome)
        else:
            self.retried_total += 1
            if lane.bucket is not None and plan.next_at is not None:
                lane.retry_at = min(lane.retry_at, plan.next_at)  # its claims look for due retries then
        if unlogged:  # said in the log line only: history keeps the reason as it is
            self._log(d, hook, dataclasses.replace(outcome, error=outcome.error + unlogged_note(unlogged)), plan.state,
                      plan.next_at)  # fmt: skip
        elif unlogged is not None:
            self._log(d, hook, outcome, plan.state, plan.next_at)

    def _record(
        self,
        d: DueDelivery,
        hook: CompiledHook,
        started_at: float,
        request: OutboundRequest | None,
        outcome: Outcome,
        state: DeliveryState,
        next_at: float | None,
        *,
        members: tuple[tuple[str, int], ...] = (),
        split: bool = False,
    ) -> None:
        self.recorder.add(
            AttemptRecord(
                delivery_id=d.id,
                attempt=d.attempt,
                started_at=started_at,
                duration_s=outcome.duration_s,
                status=outcome.status,
                error=outcome.error,  # redacted as it came back (redact_outcome)
                request={
                    "method": hook.config.method,
                    "url": hook.shown_url(request.url) if request else hook.safe_url,  # the one this attempt used
                    "headers": shown_headers(hook.redactor, request.headers, hook.endpoint) if request else {},
                    "body_bytes": len(request.body) if request else 0,
                },
                response_headers=outcome.response_headers,
                response_excerpt=outcome.response_excerpt,
                hops=outcome.hops,
                state=state,
                next_at=next_at,
                members=members,
                split=split,
                hook=d.hook,
                # A batch's members keep their keys in the store: it looks them up if the hook orders.
                ordered=d.ordering_key is not None or (members != () and hook.ordering is not None),
            )
        )

    def _plan(self, hook: CompiledHook, attempt: int, outcome: Outcome) -> Plan:
        """What a unit (a delivery or a batch) becomes after attempt `attempt` ended in `outcome`."""
        return plan_next(
            ok=outcome.ok,
            retryable=outcome.retryable,
            attempt=attempt,
            policy=hook.config.retry,
            retry_after_s=outcome.retry_after_s,
            now=self.clock.now(),
            rng=self.rng,
        )

    def _told_later(self, hook: CompiledHook, outcome: Outcome) -> float | None:
        """Until when the whole lane waits because the receiver said "later" (429 or 503 with
        Retry-After, capped at the hook's max_delay): the receiver's own time, not the told delivery's
        next try, which is at least the policy's delay (so Retry-After: 0 never spends the retries at
        once, yet does not hold the other deliveries). None when it asked for no wait. A command that
        drains (replay --wait) sends what it was given once and leaves retries to the daemon."""
        if outcome.retry_after_s is None or outcome.status not in (429, 503) or self._draining:
            return None
        wait = min(max(outcome.retry_after_s, 0.0), hook.config.retry.max_delay_s)
        return self.clock.now() + wait if wait > 0 else None

    def _log(self, d: DueDelivery, hook: CompiledHook, outcome: Outcome, state: str, next_at: float | None) -> None:
        if state == "delivered" and not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "delivery": d.id,
            "event": d.event_id,
            "hook": d.hook,
            "try": d.attempt,
            "status": outcome.status,
            "ms": round(outcome.duration_s * 1000),
        }
        if state == "delivered":
            log.info(LogLine("delivered", fields))
            return
        if state == "pending":
            fields["retry_in_s"] = round(max((next_at or 0) - self.clock.now(), 0))
        fields["error"] = outcome.error  # redacted already: by redact_outcome, or where it was made
        if state == "pending":
            log.warning(LogLine("will retry", fields))
        else:
            log.error(LogLine("failed", fields))

    def stop(self) -> None:
        """Stop claiming new deliveries; in-flight attempts go on until `finish()`."""
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()

    async def finish(self, grace_s: float, *, force: asyncio.Event | None = None) -> int:
        """Wait up to grace_s (or until `force` is set) for in-flight attempts, cancel the rest,
        store every outcome. Returns how many were cancelled (re-sent at the next start)."""
        unsent = [d for lane in self.lanes.values() for d in lane.ready]
        for lane in self.lanes.values():
            lane.ready.clear()
        if unsent:
            await self._release(unsent)
        cancelled = 0
        if self._tasks:
            waiting: set[asyncio.Future[Any]] = set(self._tasks)
            forced = asyncio.ensure_future(force.wait()) if force is not None else None
            if forced is not None:
                waiting.add(forced)
            deadline = asyncio.get_running_loop().time() + grace_s
            while self._tasks and not (forced is not None and forced.done()):
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                waiting = {w for w in waiting if not w.done()}
            if forced is not None:
                forced.cancel()
            if force is not None and force.is_set():
                self._cut_off_reason = CUT_OFF_FORCED
            pending = set(self._tasks)
            for task in pending:
                task.cancel()
            cancelled = len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        if self._unstarted:
            unstarted, self._unstarted = self._unstarted, []
            await self._release(unstarted)
        await self.recorder.close()
        return cancelled
