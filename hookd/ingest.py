"""The one door in: batches from every source are routed and committed together (group commit).

Sources call `submit(batch)` and get their answers once the transaction holding their events,
deliveries, rejections and checkpoint has committed. Whatever queued while the previous commit ran
(on the store's thread) or while the event loop did other work goes into the next commit, so a busy
daemon writes many events per transaction and an idle one commits each event straight away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hookd.clock import Clock
from hookd.events import RESERVED_SOURCE, Event
from hookd.health import RecentErrors
from hookd.hook_errors import EvaluationFailure, EvaluationKind, HookErrors, unlogged_note
from hookd.latency import Durations
from hookd.logs import LogLine
from hookd.rejections import RejectionLimiter
from hookd.router import Router
from hookd.sources.base import Accepted, Batch
from hookd.store.base import DueDelivery, RoutedEvent, Store

if TYPE_CHECKING:
    from hookd.tail import TailHub

log = logging.getLogger("hookd.ingest")

MAX_EVENTS_PER_COMMIT = 5000


class Handoff(Protocol):
    """The dispatcher as ingest sees it: fresh deliveries can go to it without a claim round trip."""

    def reserve(self, hook: str, n: int) -> int:
        """Room for up to `n` deliveries of `hook` now; returns how many it will take."""
        ...

    def committed(self, claimed: Sequence[DueDelivery], pending_hooks: Set[str], reserved: Mapping[str, int]) -> None:
        """After the commit (or a failed one, with nothing claimed): take the claimed deliveries,
        give back every reservation, and note which hooks now have pending work."""
        ...


@dataclass(slots=True)
class _Pending:
    batch: Batch
    done: asyncio.Future[list[Accepted]]


class Ingest:
    def __init__(
        self,
        store: Store,
        router: Router,
        clock: Clock,
        *,
        handoff: Handoff | None = None,
        errors: RecentErrors | None = None,
        rejection_limiter: RejectionLimiter | None = None,
        hook_errors: HookErrors | None = None,
        on_failed: Callable[[str, Event, str, str], None] | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.clock = clock
        self.handoff = handoff
        self.errors = errors or RecentErrors()
        self.hook_errors = hook_errors or HookErrors()
        # Told (delivery id, event, hook, reason) of each delivery stored failed because the hook's
        # filter failed on the event: the daemon raises an alert (hookd.alerts).
        self.on_failed = on_failed
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()  # None: stop
        self._committing = asyncio.Lock()  # held by each commit, and by a reload between two
        self.tail: TailHub | None = None  # `hookd tail`'s readers, told each stored event
        self.commit_durations = Durations()  # each store commit's (metrics)
        self.duplicates_total = 0
        # Per source name, counted once per batch (admin status: events/s, last event per source);
        # the totals below are derived from them.
        self.events_by_source: Counter[str] = Counter()
        self.rejected_by_source: Counter[str] = Counter()
        self.rejected_by_kind: Counter[tuple[str, str]] = Counter()  # (source, Rejection.kind): metrics
        self.last_event_at_by_source: dict[str, float] = {}
        # Every rejection is counted above; only the first few per connection and window are stored
        # and logged, the rest in one summary, written when the window ends (this timer) or the stream ends.
        self.rejection_limiter = rejection_limiter or RejectionLimiter()
        self._summary_timer: asyncio.Task[None] | None = None

    @property
    def events_total(self) -> int:
        return self.events_by_source.total()

    @property
    def rejected_total(self) -> int:
        return self.rejected_by_source.total()

    @property
    def last_event_at(self) -> float | None:
        """When a producer's event was last stored: hookd's own (alerts) do not say that input flows."""
        return max((at for s, at in self.last_event_at_by_source.items() if s != RESERVED_SOURCE), default=None)

    async def submit(self, batch: Batch) -> list[Accepted]:
        """Commit `batch`; returns one Accepted per event, in order. Raises if the store fails."""
        loop = asyncio.get_running_loop()
        pending = _Pending(batch, loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.done

    async def run(self) -> None:
        """Commit queued batches until `stop()`: what was submitted before it is committed first."""
        try:
            await self._run()
        finally:
            if self._summary_timer is not None:
                self._summary_timer.cancel()
                await asyncio.gather(self._summary_timer, return_exceptions=True)

    async def _run(self) -> None:
        while (first := await self._queue.get()) is not None:
            # No linger before a commit: holding commits 2 ms apart saved ~30 µs of CPU per event at a
            # steady 2,000 events/s but cost every ack up to 2 ms of waiting, p50 3.2 ms and p99 7.9
            # against 0.8 and 4.8 without (bench/, same session). Under load, batches group anyway.
            group = [first]
            count = len(first.batch.events)
            stop = False
            while count < MAX_EVENTS_PER_COMMIT and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                count += len(nxt.batch.events)
            # Awaited in this task, not in one of its own (a loop turn more on every ack): shutdown
            # goes through stop(), so a commit is never cancelled half way.
            async with self._committing:
                await self._commit(group, final=stop)
            if stop:
                return
        async with self._committing:
            await self._commit([], final=True)

    @contextlib.asynccontextmanager
    async def between_commits(self) -> AsyncIterator[None]:
        """Hold the next commit until the block ends (a reload swaps the router and the dispatcher
        here): no commit routes with one config and hands its deliveries to another's dispatcher."""
        async with self._committing:
            yield

    def _keyed(
        self, matches: list[tuple[str, Event, tuple[list[str], Mapping[str, str]]]]
    ) -> tuple[
        list[tuple[str, Event, tuple[list[str], Mapping[str, str]]]],
        dict[int, dict[str, str] | None],
        dict[str, frozenset[str]],
    ]:
        """The ordering keys of the events that matched a hook with an ordering_key, by index in
        `matches`; a hook whose key fails on an event moves to the event's failed hooks
        (router.ordering_keys), and is named in the last item (by event id) for `_filter_failed`."""
        ordered = self.router.ordered
        keyed: dict[int, dict[str, str] | None] = {}
        key_failed: dict[str, frozenset[str]] = {}
        out = []
        for i, (source, event, (hooks, failed)) in enumerate(matches):
            if not ordered.isdisjoint(hooks):
                before = failed
                hooks, failed, keyed[i] = self.router.ordering_keys(event, hooks, failed)
                if failed is not before:
                    key_failed[event.id] = frozenset(failed.keys() - before.keys())
            out.append((source, event, (hooks, failed)))
        return out, keyed, key_failed

    def _filter_failed(
        self, event_id: str, failed: Mapping[str, str], now: float, key_failed: Set[str] = frozenset()
    ) -> None:
        """Count and (rate-limited) log the hooks whose filter (or, for those in `key_failed`,
        ordering_key) failed on a stored event."""
        for hook, reason in failed.items():
            kind: EvaluationKind = "ordering_key" if hook in key_failed else "filter"
            unlogged = self.hook_errors.add(
                EvaluationFailure(kind=kind, hook=hook, event_id=event_id, error=reason, at=now)
            )
            if unlogged is not None:
                fields = {"event": event_id, "hook": hook, "reason": reason + unlogged_note(unlogged)}
                log.warning(LogLine("not delivered", fields))

    def stop(self) -> None:
        """End `run` once what is queued now is committed (shutdown; sources have stopped)."""
        self._queue.put_nowait(None)

    async def _commit(self, group: list[_Pending], *, final: bool = False) -> None:
        routing = self.router.routing
        matches = [(p.batch.source, event, routing(event)) for p in group for event in p.batch.events]
        keyed: dict[int, dict[str, str] | None] = {}  # by index in matches: the ordered hooks' keys
        key_failed: dict[str, frozenset[str]] = {}
        if self.router.ordered:
            matches, keyed, key_failed = self._keyed(matches)
        reserved: dict[str, int] = {}
        if self.handoff is not None:
            wanted = Counter(hook for _, _, (hooks, _) in matches for hook in hooks)
            reserved = {hook: self.handoff.reserve(hook, n) for hook, n in wanted.items()}
        left = dict(reserved)
        routed = []
        for i, (source, event, (hooks, failed)) in enumerate(matches):
            claimed = frozenset(h for h in hooks if left.get(h, 0) > 0)
            for h in claimed:
                left[h] -= 1
            # The store may still not claim a delivery with a key: it waits if its key has an earlier one.
            dests = (
                self.router.destinations(event, hooks)
                if self.router.templated and not self.router.templated.isdisjoint(hooks)
                else None
            )
            routed.append(RoutedEvent(event, source, hooks, claimed, failed, keyed.get(i) if keyed else None, dests))
        now = self.clock.now()
        rejections, summaries = self.rejection_limiter.admit((r for p in group for r in p.batch.rejections), now)
        for p in group:
            if p.batch.ended_stream:
                summaries += self.rejection_limiter.close(p.batch.source, p.batch.ended_stream)
        if final:
            summaries += self.rejection_limiter.close_all()
        rejections += summaries
        checkpoints = [p.batch.checkpoint for p in group if p.batch.checkpoint is not None]
        if not routed and not rejections and not checkpoints:  # only rejections that are just counted
            for p in group:
                self._settle(p, [])
            self._schedule_summaries()
            return
        try:
            started = time.perf_counter()
            result = await self.store.ingest(routed, rejections, checkpoints, now)
            self.commit_durations.observe(time.perf_counter() - started)
        except Exception as e:
            if self.handoff is not None:
                self.handoff.committed((), frozenset(), reserved)
            log.error(LogLine("ingest commit failed", {"events": len(routed), "error": str(e)}))
            self.errors.add(f"storing {len(routed)} event(s) failed: {e}")
            for p in group:
                if not p.done.done():
                    p.done.set_exception(e)
            return
        first_seen: set[str] = set()
        hooks_by_index = iter(routed)
        # Ordered deliveries the store did claim (the others wait for their key): for sync sources.
        ordered_claimed = (
            {(d.event_id, d.hook) for d in result.claimed if d.ordering_key is not None} if keyed else None
        )
        for p in group:
            answers = []
            duplicates = 0
            for event in p.batch.events:
                r = next(hooks_by_index)
                fresh = event.id in result.inserted and event.id not in first_seen
                first_seen.add(event.id)
                if not fresh:
                    answers.append(
                        Accepted(id=event.id, duplicate=True, deliveries=0, stored_by=result.stored_by.get(event.id))
                    )
                else:
                    held: frozenset[str] = frozenset()
                    if r.keys and ordered_claimed is not None:
                        held = frozenset(h for h in r.keys if (event.id, h) not in ordered_claimed)
                    answers.append(Accepted(event.id, False, len(r.hooks), r.hooks, r.claimed, r.failed, held))
                if not fresh:
                    duplicates += 1
                elif r.failed:
                    self._filter_failed(event.id, r.failed, now, key_failed.get(event.id, frozenset()))
            self.duplicates_total += duplicates
            stored = len(p.batch.events) - duplicates
            if stored:
                self.events_by_source[p.batch.source] += stored
                self.last_event_at_by_source[p.batch.source] = now
            self._settle(p, answers)
            if self.tail is not None and self.tail.readers:
                for event, accepted in zip(p.batch.events, answers, strict=True):
                    self.tail.stored(p.batch.source, event, accepted)
        for rej in rejections:
            log.warning(LogLine("rejected", {"source": rej.source, "at": rej.position, "reason": rej.reason}))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(LogLine("committed", {
                "batches": len(group),
                "events": len(result.inserted),
                "duplicates": len(routed) - len(result.inserted),
                "rejections": len(rejections),
                "deliveries": result.deliveries,
                "claimed": len(result.claimed),
            }))  # fmt: skip
        if self.handoff is not None:
            self.handoff.committed(result.claimed, result.pending_hooks, reserved)
        if result.failed and self.on_failed is not None:
            by_id = {r.event.id: r for r in routed}
            for delivery_id, event_id, hook in result.failed:
                r = by_id[event_id]
                self.on_failed(delivery_id, r.event, hook, r.failed[hook])
        self._schedule_summaries()

    async def commit_after_stop(self, batch: Batch) -> list[Accepted]:
        """Commit one batch once `run` has ended: at shutdown, the alerts raised by the last in-flight
        attempts, which finish after ingest has stopped. Not while `run` runs."""
        pending = _Pending(batch, asyncio.get_running_loop().create_future())
        await self._commit([pending])
        return await pending.done

    def _settle(self, p: _Pending, answers: list[Accepted]) -> None:
        """Count the batch's rejections (every one, shown or summed up) and answer its source."""
        if p.batch.rejections:
            self.rejected_by_source[p.batch.source] += len(p.batch.rejections)
            self.rejected_by_kind.update((p.batch.source, r.kind) for r in p.batch.rejections)
        if not p.done.done():
            p.done.set_result(answers)

    def _schedule_summaries(self) -> None:
        """Wake up when the next window with hidden rejections ends, even if no input comes then."""
        if self._summary_timer is not None and not self._summary_timer.done():
            return  # before the scan below: it looks at every open window, after every commit
        at = self.rejection_limiter.next_summary_at()
        if at is None:
            return
        self._summary_timer = asyncio.create_task(self._commit_summaries_at(at))

    async def _commit_summaries_at(self, at: float) -> None:
        await self.clock.sleep(at - self.clock.now())
        # An empty batch: its commit writes the summaries of the windows ended by then. Nobody waits
        # for its answer (already given), so a failing commit leaves no unretrieved exception.
        answered: asyncio.Future[list[Accepted]] = asyncio.get_running_loop().create_future()
        answered.set_result([])
        self._queue.put_nowait(_Pending(Batch(), answered))
