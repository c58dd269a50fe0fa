"""Claims due deliveries, sends them within concurrency limits, and records every attempt.

The database is the queue: `claim_due` marks deliveries `delivering` and counts the attempt
before anything is sent, so a crash can only cause a re-send (at-least-once), never a loss or a
retry budget that resets. Outcomes are written in batches by the recorder (hookd.recorder).

Each hook has a lane (hookd.lane) holding its claimed deliveries and its gates; the dispatcher keeps
the global limit and fairness across lanes, claims for them in rounds, and starts units (a delivery,
or a batch) as slots free up. What stops a whole lane (a pause, the circuit breaker) is
hookd.lane_stops; the gates kept per destination host are hookd.destination_gates.
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
from typing import TYPE_CHECKING, Any

from hookd.batching import Batcher
from hookd.clock import Clock
from hookd.destination_gates import DestinationEvent, DestinationGates
from hookd.destinations import Destinations
from hookd.health import RecentErrors
from hookd.hook_errors import EvaluationFailure, HookErrors, unlogged_note
from hookd.hook_state import WAITS_FOR_RESUME
from hookd.ids import uuid7
from hookd.lane import Lane, LaneContext, release
from hookd.lane_stops import LaneEvent, LaneStops
from hookd.latency import Durations
from hookd.logs import LogLine, isoformat
from hookd.presets import read_answer
from hookd.ratelimit import TokenBucket
from hookd.recorder import STORE_RETRY_S, Recorder
from hookd.rendering import RequestRenderError, render_failure, render_request
from hookd.retry import Plan, plan_next
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest, Outcome, Sender, no_response, redact_outcome
from hookd.senders.endpoint import shown_headers
from hookd.store.base import (
    AttemptRecord,
    DeliveryState,
    DueBatch,
    DueDelivery,
    HookPause,
    Store,
)

if TYPE_CHECKING:  # the daemon's, when it has a sync http source; replay --wait has none
    from hookd.inbound.sync import SyncAnswers
    from hookd.tail import TailHub

log = logging.getLogger("hookd.dispatcher")

# Upper bound on how long a delivery queued by another process (hookd replay) waits to be seen.
POLL_INTERVAL_S = 1.0
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


def _log_claimed(due: Sequence[DueDelivery], how: str) -> None:
    """Debug: one line per claimed delivery (a person following one delivery greps its id)."""
    for d in due:
        fields = {"delivery": d.id, "event": d.event_id, "hook": d.hook, "try": d.attempt}
        if d.replay_of is not None:
            fields["replay_of"] = d.replay_of
        log.debug(LogLine(how, fields))


def _no_lane_event(kind: str, hook: str, reason: str) -> None:
    pass


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
    return no_response(hook.redactor.text(error), t0, retryable=request is not None, kind="internal")


def _classified(hook: CompiledHook, outcome: Outcome) -> Outcome:
    """`outcome` as the hook's preset reads its service's answer; as it is when reading it fails (a bug,
    or an answer no reader foresaw): the receiver's answer must not become an internal error, which
    would send the delivery again however the receiver answered."""
    assert hook.preset is not None
    try:
        return read_answer(hook.preset, outcome)
    except Exception:
        log.exception(LogLine("internal error reading the receiver's answer through the hook's preset; kept as sent",
                              {"hook": hook.name, "preset": hook.preset.name, "status": outcome.status}))  # fmt: skip
        return outcome


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
        # Sync http sources' waiting callers (set by the daemon when it has such a source): told every
        # attempt of an inbound event, and asked how much of its answer to keep.
        self.sync: SyncAnswers | None = None
        self.tail: TailHub | None = None  # `hookd tail`'s readers, told each attempt's outcome
        self.recorder = Recorder(store, self.errors, on_retry_scheduled=self.wake)
        self.lanes: dict[str, Lane] = {h.name: Lane(h.name, h.config.concurrency) for h in hooks}
        for h in hooks:
            if h.config.batch is not None:
                self.lanes[h.name].batch = Batcher(h)
            elif h.url is not None and h.url.templated_host:
                # Gates per destination host (a batch may mix hosts: a batched hook keeps its gates whole).
                own_rate = h.config.rate_limit if h.config.rate_limit_group is None else None
                self.lanes[h.name].destinations = Destinations(own_rate, h.config.breaker, clock)
        # What the keepers of the lanes' gates share with this dispatcher.
        context = LaneContext(
            self.lanes,
            self.hooks,
            store,
            clock,
            self.errors,
            wake=lambda: self._wake.set(),  # (the event is made below)
            on_pause=self._state_changed,
        )
        # The gates per destination host of the lanes whose url host is templated; None without any
        # (the one attribute the others test).
        self._gates = (
            DestinationGates(
                context,
                on_event=lambda kind, hook, reason, host: self.on_destination_event(kind, hook, reason, host),
            )
            if any(lane.destinations is not None for lane in self.lanes.values())
            else None
        )
        # Whether any hook batches: without, a round does nothing more than before batching existed.
        self._batching = any(lane.batch is not None for lane in self.lanes.values())
        # Counts the calls that say new work may be due (wake, ingest's pending deliveries): a batched
        # lane's claim that saw one come in meanwhile read the store before it, so it does not mark the
        # lane as having nothing due (that wake-up would be lost until the poll).
        self._woken = 0
        order = list(self.lanes.values())
        for i, lane in enumerate(order):
            lane.turns = tuple(order[i + 1 :] + order[: i + 1])
        self._grants = 0  # tokens a group's bucket handed out so far (Lane.served orders their turns)
        self._rated = self._rate_limits(hooks)  # the lanes with a token bucket: only they pay for it
        self._stops = LaneStops(context, on_event=lambda kind, hook, reason: self.on_lane_event(kind, hook, reason))
        self._tasks: set[asyncio.Task[None]] = set()  # each runs deliveries one after another
        self._unstarted: list[DueDelivery] = []  # claimed units whose task was cancelled before it sent them
        self._active = 0  # deliveries being sent: the sum of the lanes' in_flight
        self._wake = asyncio.Event()
        self._stopping = False
        # The daemon's CUT_OFF becomes CUT_OFF_FORCED once a second stop signal skips the grace period.
        self._cut_off_reason = CUT_OFF
        self._draining = False
        self._stop_requested = asyncio.Event()
        # (hook, delivered | failed | pending) -> attempts' outcomes since start (status, metrics; the
        # totals below are sums of it); a reload hands the same Counter to the dispatcher that replaces
        # this one, so the replaced one's last attempts count too.
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.durations: dict[str, Durations] = {}  # per hook, each attempt's (metrics; kept across reloads)
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
        rated = tuple(lane for lane in self.lanes.values() if lane.bucket is not None)
        # A group's lanes, by their shared bucket: its tokens are handed out in turns (_share_tokens).
        sharing: dict[int, list[Lane]] = {}
        for lane in rated:
            sharing.setdefault(id(lane.bucket), []).append(lane)
        self._groups = tuple(tuple(lanes) for lanes in sharing.values() if len(lanes) > 1)
        self._grouped = frozenset(lane.name for lanes in self._groups for lane in lanes)
        return rated

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
        if lane.name in self._grouped:
            return 0  # a group's tokens go to its hooks in turns, at the round (_share_tokens)
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
        if self._gates is not None:
            self._gates.admit(claimed)
            if self._gates.to_park:
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
            # Each claim takes its tokens now, before its attempt is counted.
            for lane in lanes:
                asked = limits.get(lane.name)
                if asked and lane.bucket is not None and lane.name not in self._grouped:
                    taken = lane.bucket.take(asked)
                    if taken:
                        limits[lane.name] = taken
                    else:
                        del limits[lane.name]
            for group in self._groups:
                self._share_tokens(group, limits)
        return limits

    def _share_tokens(self, group: Sequence[Lane], limits: dict[str, int]) -> None:
        """Hand out the tokens of a rate_limit_group's bucket to its lanes that asked (in `limits`), one
        at a time in turns, the lane served longest ago first: a hook with a long backlog must not take
        every token while the group's other hooks wait for it to drain."""
        asking = deque(sorted((lane for lane in group if limits.get(lane.name)), key=lambda lane: lane.served))
        granted: Counter[str] = Counter()
        bucket = group[0].bucket
        assert bucket is not None
        while asking and bucket.take(1):
            lane = asking.popleft()
            granted[lane.name] += 1
            self._grants += 1
            lane.served = self._grants
            if granted[lane.name] < limits[lane.name]:
                asking.append(lane)
        for lane in group:
            if lane.name in limits:
                if granted[lane.name]:
                    limits[lane.name] = granted[lane.name]
                else:
                    del limits[lane.name]

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
            if self._gates is not None:
                await self._gates.unpark_unkept()

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
        if self._gates is not None:
            if self._gates.to_park:
                await self._gates.park_claimed()
            dest_at = self._gates.gate_at = await self._gates.open()
            if dest_at is not None and (gate_at is None or dest_at < gate_at):
                gate_at = dest_at
        if self._stops.unsaved:
            await self._stops.save_unsaved()
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
            if self._gates is not None:
                self._gates.admit(due)
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
            if self._gates is not None and self._gates.to_park:
                await self._gates.park_claimed()
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
            if (next_at is None or next_at > self.clock.now()) and (self._gates is None or self._gates.gate_at is None):
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
                continue
            # The wall clock was stepped back (NTP, an operator): no hold outlasts the longest one a
            # receiver can ask for, or the lane would wait as long as the step.
            lane.held_until = min(lane.held_until, now + self.hooks[lane.name].config.retry.max_delay_s)
            if next_end is None or lane.held_until < next_end:
                next_end = lane.held_until
        for lane in self._rated:
            # An exhausted lane has nothing due, so no token to wait for; a held one waits for its hold.
            if lane.bucket is not None and not lane.exhausted and not lane.held_until and not lane.bucket.available():
                at = lane.bucket.next_token_at()
                if next_end is None or at < next_end:
                    next_end = at
        if self._stops.breakers and (probe_at := self._stops.tick(now)) is not None:
            next_end = probe_at if next_end is None else min(next_end, probe_at)
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
                    name, now, batcher.candidates_for(units - len(ready)), batcher.known
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
        unsent = lane.take_back(self.clock.now())
        if first:
            log.info(LogLine("the receiver asked to wait: the hook's deliveries wait, spending no "
                             "attempt", {"hook": lane.name, "until": isoformat(lane.held_until),
                                         "given_back": len(unsent)}))  # fmt: skip
        self._wake.set()  # the round waits for the hold's end
        if unsent:
            await self._release(unsent)

    async def _give_back_gated(self, hooks: Iterable[str]) -> None:
        """After an awaited claim for `hooks`: a lane that a gate closed on meanwhile (a pause, the
        receiver asking to stop, its breaker opening, a hold) had its ready deliveries given back then,
        but not what this claim brought: it goes back now, attempt uncounted, as committed() has the
        round do for ingest. Else it would wait `delivering`, its attempt spent, for the whole pause."""
        unsent: list[DueDelivery] = []
        for hook in hooks:
            lane = self.lanes[hook]
            if (lane.stopped or lane.held_until) and lane.ready:
                unsent.extend(lane.take_back(self.clock.now()))
        if unsent:
            await self._release(unsent)

    async def _release(self, units: Sequence[DueDelivery]) -> None:
        await release(self.store, units, self.clock.now())

    # -- pauses (run-time state in the store's hook_state table) -----------------------------------------

    def _state_changed(self) -> None:
        """A pause is being stored here: a read of the stored states begun before it is stale."""
        self._states_epoch += 1

    async def _read_hook_states(self) -> None:
        """Take up the pauses and resumes written by another process (`hookd hooks pause`, `resume`)."""
        epoch = self._states_epoch
        states = await self.store.hook_states()
        dest_pauses = await self.store.destination_pauses() if self._gates is not None else None
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
                if restoring and not self._draining and state is not None and not state.resume_announced:
                    # `hookd hooks resume` while no daemon ran: told now, as a pause made then is.
                    self._stops.resumed(lane, "resumed with hookd hooks resume while hookd was stopped")
                    await self.store.mark_resume_announced(name)
                continue
            if pause is None:
                self._stops.resumed(lane)
                if not self._draining and state is not None and not state.resume_announced:
                    await self.store.mark_resume_announced(name)
            else:
                unsent = self._stops.paused(lane, pause, announce=not restoring or not pause.announced)
                if not pause.announced and not self._draining:  # (a command tells no alert hook)
                    await self.store.mark_pause_announced(name, pause.at)
                if unsent:
                    await self._release(unsent)
        if dest_pauses is not None and self._gates is not None:
            await self._gates.read(dest_pauses, restoring=restoring, telling=not self._draining)
        if restoring and not self._draining:
            # What was parked before for a gate that is not stored (a destination's breaker, tokens, a
            # hold) goes again: the gates start open.
            templated = [lane.name for lane in self._gates.lanes] if self._gates is not None else []
            await self.store.unpark_at_start(templated, list(self.lanes), self.clock.now())

    async def pause(self, hook: str, pause: HookPause) -> None:
        """Pause `hook` now and store it (hookd.lane_stops)."""
        await self._stops.pause(hook, pause)

    async def _give_back_stopped(self) -> None:
        """Deliveries ingest claimed for a lane that stopped meanwhile go back, their attempt uncounted."""
        self._stopped_ready = False
        unsent: list[DueDelivery] = []
        for lane in self.lanes.values():
            if lane.stopped and lane.ready:
                unsent.extend(lane.take_back(self.clock.now()))
        if unsent:
            await self._release(unsent)

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
        request = render_request(hook, d.id, d.event_id, d.attempt, d.body, self.clock.now(), d.inbound)
        if self.sync is not None and d.inbound is not None and (keep := self.sync.relay_bytes(d.event_id)):
            request = dataclasses.replace(request, relay_bytes=keep)  # its caller waits for this answer
        return request

    def starts_now(self, hook: str) -> bool:
        """Whether a delivery of `hook` stored now would be sent without waiting on one of the lane's
        gates (a pause, a breaker, a Retry-After hold, an empty rate-limit bucket, a batch to fill)."""
        lane = self.lanes.get(hook)
        if lane is None or lane.batch is not None or lane.stopped or lane.held_until:
            return False
        return lane.bucket is None or lane.bucket.available() > 0

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
                f"goes again at once in a smaller batch (at most {after} event(s)), no attempt counted")  # fmt: skip

    def _log_batch(self, b: DueBatch, outcome: Outcome, state: str, next_at: float | None) -> None:
        if state == "delivered" and not log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {"batch": b.id, "hook": b.hook, "try": b.attempt, "deliveries": len(b.members),
                                     "status": outcome.status, "ms": round(outcome.duration_s * 1000)}  # fmt: skip
        if state == "delivered":
            log.info(LogLine("delivered a batch", fields))
            return
        if state == "pending":
            fields["retry_in_s"] = _seconds_shown(max((next_at or 0) - self.clock.now(), 0))
        fields["error"] = outcome.error
        if state == "split":
            log.warning(LogLine("split the batch: its deliveries go again in smaller batches", fields))
        elif state == "pending":
            log.warning(LogLine("will retry the batch", fields))
        else:
            log.error(LogLine("failed: the batch and every delivery in it", fields))

    async def _attempt(self, d: DueDelivery) -> None:
        """Send one unit and settle its outcome. A unit is a delivery, or a batch (DueBatch): one request
        for all its members and one attempt record keyed by the batch, whose outcome every member takes
        (delivered, retried or failed as a whole)."""
        hook = self.hooks[d.hook]
        batch = d if type(d) is DueBatch else None
        started_at = self.clock.now()
        t0 = time.perf_counter()
        request: OutboundRequest | None = None
        unlogged: int | None = 0  # None: a render failure whose log line is left out (rate limit)
        try:
            request = self.build_request(hook, d) if batch is None else self._batch_request(batch, started_at)
            outcome = redact_outcome(await self.sender.send(request), hook.redactor)
            if hook.preset is not None:  # the service's own reading of its answer (a 429's JSON retry_after)
                outcome = _classified(hook, outcome)
        except asyncio.CancelledError:
            if self._stopping and request is not None:
                # Cut off by the end of the shutdown grace period: the request went out, so it is
                # an attempt like any other, and history shows it as one, due again at once (the
                # next start). Not the last one: the receiver never got the chance to answer.
                reason, state = self.cut_off(d)
                cut_off = no_response(reason, t0, retryable=True, kind="cancelled")
                next_at = self.clock.now() if state == "pending" else None
                self._record(d, hook, started_at, request, cut_off, state, next_at)
            raise
        except RequestRenderError as e:
            # The event's own doing, not a bug: final (the same event renders the same way every time),
            # with the reason in history and one log line, no traceback. A batch renders its payloads
            # when it is formed: it fails here only after a change of config since, each member
            # replayable once the template is fixed.
            error = hook.redactor.text(render_failure(e))  # a rendered value may hold a config secret
            outcome = no_response(error, t0, retryable=False, kind="render")
            event_id = d.event_id if batch is None or not batch.members else batch.members[0].event_id
            failure = EvaluationFailure(kind="template", hook=d.hook, event_id=event_id, error=error, at=started_at)
            unlogged = self.hook_errors.add(failure)
        except Exception as e:  # a bug: never lose the delivery
            fields = {"delivery": d.id, "hook": d.hook} if batch is None else {"batch": d.id, "hook": d.hook}
            log.exception(LogLine("internal error while sending" + ("" if batch is None else " a batch"), fields))
            outcome = _internal_failure(hook, request, e, t0)
        await self._settle(d, batch, hook, started_at, request, outcome, unlogged)

    def _batch_request(self, b: DueBatch, now: float) -> OutboundRequest:
        batcher = self.lanes[b.hook].batch
        assert batcher is not None
        items = list(b.items) if b.items is not None else [batcher.item(m) for m in b.members]
        return batcher.request(b.id, b.attempt, items, now)

    async def _settle(
        self,
        d: DueDelivery,
        batch: DueBatch | None,
        hook: CompiledHook,
        started_at: float,
        request: OutboundRequest | None,
        outcome: Outcome,
        unlogged: int | None,
    ) -> None:
        """What an attempt's outcome makes of its unit (`batch`, or the delivery `d` when None): planned,
        recorded, and told to the gates it concerns (a receiver's stop, the breaker, a Retry-After hold)."""
        plan = self._plan(hook, d.attempt, outcome)
        stop_reason = _stop_reason(hook, outcome)
        lane = self.lanes[d.hook]
        gates = self._gates
        # A hook with a templated url host keeps its gates per destination (hookd.destination_gates); a
        # batched hook keeps them whole (a batch may mix hosts).
        dest = (
            lane.destinations.get(d.destination)
            if gates is not None and lane.destinations is not None and d.destination
            else None
        )
        state: str = plan.state  # as logged: a split batch is logged as one
        split = batch is not None and outcome.status == 413 and len(batch.members) > 1 and stop_reason is None
        if split:
            # 413 says the request was too large, not that its events are bad: failing them all for good
            # would lose a whole backlog to a receiver's body limit. The members leave the batch and are
            # due at once, their attempt given back (the store does: a body limit is not a delivery
            # failure, and halving down to one bounds the splits), and the hook's batches get smaller
            # (one member alone answered 413 fails for good, as a delivery does).
            assert batch is not None and lane.batch is not None
            plan = Plan("pending", self.clock.now())
            outcome = dataclasses.replace(outcome, error=self._split(lane.batch, batch))
            state = "split"
        elif stop_reason is not None and plan.state != "delivered":
            # The unit waits with the rest, this attempt counted, due again once resumed.
            plan = Plan("pending", self.clock.now())
            what = "the hook is paused" if dest is None else f"the destination {dest.host} is paused"
            unit = "this delivery" if batch is None else "this batch"
            outcome = dataclasses.replace(outcome, error=f"{stop_reason}: {what}, and {unit} {WAITS_FOR_RESUME}")
            state = plan.state
        self._record(d, hook, started_at, request, outcome, plan.state, plan.next_at, split=split)
        if self.sync is not None and batch is None and d.inbound is not None:
            self.sync.attempted(d.event_id, d.hook, outcome, plan.state)
        if self.tail is not None and self.tail.readers:
            # A batch's attempt is each member's: readers know events, not batch ids.
            for m in (d,) if batch is None else batch.members:
                self.tail.attempted(m, outcome, plan.state, plan.next_at, batch=None if batch is None else d.id)
        if dest is not None and gates is not None:
            gates.ended(dest, d.id)  # a probe ends with its attempt, however that went
        if stop_reason is not None:
            stop = HookPause(by="receiver", reason=stop_reason, at=self.clock.now())
            if dest is None or gates is None:
                await self._stops.pause(d.hook, stop)
            else:
                await gates.pause(d.hook, dest.host, stop)
        # replay --wait sends what it was given once. An answer that paused the hook or its destination
        # (410, or the header webhook-delivery: disable) is that one happening, with its one alert: not
        # also a breaker failure.
        if not self._draining and stop_reason is None:
            if lane.breaker is not None:
                await self._stops.saw(lane, lane.breaker, outcome)
            elif dest is not None and gates is not None:
                await gates.saw(lane, dest, outcome)
        if (until := self._told_later(hook, outcome, plan)) is not None:
            if dest is None or gates is None:
                await self._hold(lane, until)
            else:  # only this destination waits
                dest.held_until = max(dest.held_until, until)
                await gates.close(lane, dest)
                self._wake.set()
        n = 1 if batch is None else len(batch.members)
        self.outcomes[(d.hook, plan.state)] += n
        durations = self.durations.get(d.hook)
        if durations is None:
            durations = self.durations[d.hook] = Durations()
        durations.observe(outcome.duration_s)
        if plan.state == "failed":
            if self.on_failed is not None:
                for m in (d,) if batch is None else batch.members:  # each failed for good, as one sent alone
                    self.on_failed(m, outcome)
        elif plan.state != "delivered" and lane.bucket is not None and plan.next_at is not None:
            lane.retry_at = min(lane.retry_at, plan.next_at)  # its claims look for due retries then
        if batch is not None:
            self._log_batch(batch, outcome, state, plan.next_at)
        elif unlogged:  # said in the log line only: history keeps the reason as it is
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
        split: bool = False,
    ) -> None:
        # A batch's attempt is linked to every delivery in it, each with its own attempt number.
        members = tuple((m.id, m.attempt) for m in d.members) if type(d) is DueBatch else ()
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

    def _told_later(self, hook: CompiledHook, outcome: Outcome, plan: Plan) -> float | None:
        """Until when the whole lane waits because the receiver said "later", capped at the hook's
        max_delay: the time it gave with a 429 or a 503 (Retry-After, or a preset's reading of the
        body), or with any answer that says its rate limit is spent (success or failure, final or not:
        Outcome.holds_lane); a throttling answer that gave
        no time holds the lane until the told delivery's own next try, so the rest do not meet the same
        refusal meanwhile. The receiver's time is not the told delivery's next try, which is at least the
        policy's delay (so Retry-After: 0 never spends the retries at once, yet does not hold the other
        deliveries). None when it asked for no wait. A command that drains (replay --wait) sends what it
        was given once and leaves retries to the daemon."""
        if self._draining:
            return None
        told = outcome.retry_after_s
        if outcome.kind == "rate_limited":
            if told is None and plan.next_at is not None:
                told = plan.next_at - self.clock.now()
        elif not outcome.ok and outcome.status != 503 and not outcome.holds_lane:
            return None
        if told is None:
            return None
        wait = min(max(told, 0.0), hook.config.retry.max_delay_s)
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
            fields["retry_in_s"] = _seconds_shown(max((next_at or 0) - self.clock.now(), 0))
        fields["error"] = outcome.error  # redacted already: by redact_outcome, or where it was made
        if state == "pending":
            log.warning(LogLine("will retry", fields))
        else:
            log.error(LogLine("failed", fields))

    @property
    def delivered_total(self) -> int:
        return sum(n for (_, state), n in self.outcomes.items() if state == "delivered")

    @property
    def failed_total(self) -> int:
        return sum(n for (_, state), n in self.outcomes.items() if state == "failed")

    @property
    def retried_total(self) -> int:
        return sum(n for (_, state), n in self.outcomes.items() if state not in ("delivered", "failed"))

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
            forced = asyncio.ensure_future(force.wait()) if force is not None else None
            deadline = asyncio.get_running_loop().time() + grace_s
            # On the tasks not done yet, asked anew each turn: a task can be done while still in
            # _tasks (its done-callback, which removes it, runs a loop turn later), and waiting on a
            # set of only those raised "Set of Tasks/Futures is empty" (or, beside `forced`, waited
            # out the whole grace for nothing).
            while running := {t for t in self._tasks if not t.done()}:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or (forced is not None and forced.done()):
                    break
                waiting: set[asyncio.Future[Any]] = {*running, forced} if forced is not None else set(running)
                await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if forced is not None:
                forced.cancel()
            if force is not None and force.is_set():
                self._cut_off_reason = CUT_OFF_FORCED
            pending = set(self._tasks)
            unfinished = [task for task in pending if not task.done()]
            for task in unfinished:
                task.cancel()
            cancelled = len(unfinished)
            # Done ones too: their done-callbacks (slots given back, unstarted units noted) run first.
            await asyncio.gather(*pending, return_exceptions=True)
        if self._unstarted:
            unstarted, self._unstarted = self._unstarted, []
            await self._release(unstarted)
        await self.recorder.close()
        return cancelled


def _seconds_shown(seconds: float) -> float:
    """A wait as a log line shows it: to a tenth under ten seconds (Discord's 0.35 s is not 0), whole
    seconds above."""
    return round(seconds, 1) if seconds < 10 else round(seconds)
