"""Replays: new deliveries of stored events, queued in the database for the dispatcher.

A replay is a new delivery row (`replay_of` = the delivery it repeats, same event id so receivers
can dedupe by `webhook-id`), pending and due at once or spaced by a rate. The database is the
queue: a running daemon's dispatcher polls it every second (dispatcher.POLL_INTERVAL_S), and one
that is stopped finds the rows at its next start, so no IPC is needed and a spacing written here
holds even after this process exits. `send_now` instead runs a dispatcher in this process until
nothing of it is due (arq's burst mode), under the daemon's own database lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from hookd import __version__
from hookd.clock import Clock
from hookd.config.model import DEFAULT_MAX_EVENT_BYTES
from hookd.dispatcher import Dispatcher
from hookd.errors import EventError, StartupError
from hookd.events import Event, parse_event_line
from hookd.history import (
    UnknownHook,
    UsageError,
    deliveries_named,
    open_store,
    resolve_event_ids,
    unknown_hooks,
)
from hookd.logs import isoformat
from hookd.router import CompiledHook, Router
from hookd.senders.base import OutboundRequest, Outcome, Sender
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from hookd.store.base import (
    FINISHED_STATES,
    PARK_OFFSET_S,
    AuditRow,
    DeliveryQuery,
    DeliveryRow,
    DeliveryState,
    DeliveryStatus,
    DueDelivery,
    HookPause,
    ReplayItem,
    RoutedEvent,
    Store,
)
from hookd.store.lock import DAEMON, DatabaseLocked, lock_database
from hookd.store.sqlite import SQLiteStore

# One transaction per batch: short enough never to hold up the daemon's commits for long.
BATCH = 500
# What replay selects without --status (a cancelled delivery only when asked for).
REPLAYED_BY_DEFAULT: tuple[DeliveryStatus, ...] = ("delivered", "failed")
QUEUED: tuple[DeliveryStatus, ...] = ("pending", "retrying")  # what --cancel withdraws
# The last error of a delivery withdrawn before it was sent, and of an attempt cut off by the stop.
WITHDRAWN_BY_CANCEL = "withdrawn by hookd replay --cancel"
WITHDRAWN_BY_STOP = "withdrawn: hookd replay --wait was stopped before sending it"
CUT_OFF_BY_STOP = "cancelled: hookd replay --wait was stopped before the receiver answered; not sent again"
CUT_OFF_OTHERS = (
    "cancelled: hookd replay --wait, which was sending it, was stopped before the receiver answered; "
    "sent again by the daemon"
)
_MAX_REPORTED_LINES = 20


class DaemonRunning(UsageError):
    def __init__(self, db: Path, pid: str, owner: str = DAEMON) -> None:
        if owner == DAEMON:
            message = (
                f"a hookd daemon (pid {pid}) is running with the database {str(db)!r}, and only one process may "
                "send its deliveries; drop --wait: the daemon sends the replays itself within a second"
            )
        else:
            message = (
                f"`{owner}` (pid {pid}) is already sending deliveries from the database {str(db)!r}, and only one "
                "process may; wait for it to finish and run this again, or drop --wait to only queue the replays "
                "(the running hookd serve, or the next, sends them)"
            )
        super().__init__(message)


class EventsFileError(UsageError):
    """Lines of a --from-file that are not events; nothing was queued."""

    def __init__(self, path: Path, problems: Sequence[str], total: int) -> None:
        self.problems = tuple(problems)
        more = f"\n(and {total - len(problems)} more)" if total > len(problems) else ""
        super().__init__(
            f"{total} line(s) of {str(path)!r} are not events; nothing was replayed. Fix them and run again:\n"
            + "\n".join(problems)
            + more
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One delivery to queue: an event to a hook, and the delivery it replays, if any."""

    event_id: str
    event_type: str | None
    hook: str
    original: DeliveryRow | None  # None: the event has no earlier delivery to this hook (from a file)
    # The replay goes behind the unfinished deliveries of this key: its original's, as stored; from a
    # file, the one the config's ordering_key gives now.
    ordering_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    id: str
    target: Target
    next_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePlan:
    """What `--from-file` does: store the new events, queue the targets."""

    events: int  # events in the file (after duplicates within it)
    new_events: tuple[Event, ...]  # not stored yet: stored now, then delivered as any new event
    targets: tuple[Target, ...]
    unfinished: int  # (event, hook) pairs left out: a delivery of them is still pending or in flight
    # (event id, hook, reason) left out because the hook's filter could not be evaluated on the event
    filter_failures: tuple[tuple[str, str, str], ...] = ()


# -- selecting ---------------------------------------------------------------------------------------


async def select(store: Store, query: DeliveryQuery) -> list[Target]:
    """The finished deliveries `query` matches that no later delivery replays yet, oldest first.

    Unfinished ones are left out (they are sent anyway), and so is a delivery already replayed: its
    newest replay stands for it, so replaying `--status failed` twice queues one delivery per event
    and hook, not one per earlier attempt at it.
    """
    statuses = tuple(s for s in query.statuses if s in FINISHED_STATES) or REPLAYED_BY_DEFAULT
    rows = await store.deliveries(
        DeliveryQuery(
            ids=query.ids,
            event_ids=query.event_ids,
            hooks=query.hooks,
            statuses=statuses,
            type_glob=query.type_glob,
            since=query.since,
            until=query.until,
            replayed=False,
            newest_first=False,
            limit=query.limit,
        )
    )
    # One per event and hook, the newest: a withdrawn replay does not count as replaying its original
    # (so `--status failed` can take the original again), but when both are selected (`--status
    # cancelled`, the original withdrawn too) they stand for one delivery, not two.
    newest: dict[tuple[str, str], DeliveryRow] = {}
    for row in rows:
        newest[(row.event_id, row.hook)] = row
    return [
        Target(event_id=r.event_id, event_type=r.event_type, hook=r.hook, original=r, ordering_key=r.ordering_key)
        for r in newest.values()
    ]


def read_events_file(path: Path, *, now: float) -> list[Event]:
    """Every event of a JSON Lines file, in order, the first of any repeated id kept.

    Raises UsageError when it cannot be read, EventsFileError (with file:line) for bad lines.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    events: list[Event] = []
    seen: set[str] = set()
    problems: list[str] = []
    bad = 0
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            event = parse_event_line(line, max_bytes=DEFAULT_MAX_EVENT_BYTES, now=now)
        except EventError as e:
            bad += 1
            if len(problems) < _MAX_REPORTED_LINES:
                problems.append(f"{path}:{number}: {e}")
            continue
        if event.id not in seen:
            seen.add(event.id)
            events.append(event)
    if bad:
        raise EventsFileError(path, problems, bad)
    return events


async def plan_file(store: Store, events: Sequence[Event], router: Router) -> FilePlan:
    """Route each event with the config's hooks. Events already stored keep their deliveries: each
    matched hook gets a replay of the event's newest finished delivery to it instead."""
    known = await store.known_events([e.id for e in events])
    newest: dict[tuple[str, str], DeliveryRow] = {}
    if known:
        rows = await store.deliveries(DeliveryQuery(event_ids=tuple(known), replayed=False, newest_first=False))
        for row in rows:
            if row.state == "cancelled":
                continue  # a withdrawn replay stands for nothing: the delivery it was to repeat does
            newest[(row.event_id, row.hook)] = row  # oldest first, so the newest one stays
    targets: list[Target] = []
    unfinished = 0
    filter_failures: list[tuple[str, str, str]] = []
    for event in events:
        matched, failed = router.routing(event)
        keys: dict[str, str] | None = None
        if not router.ordered.isdisjoint(matched):
            matched, failed, keys = router.ordering_keys(event, matched, failed)
        filter_failures.extend((event.id, hook, reason) for hook, reason in failed.items())
        for hook in matched:
            original = newest.get((event.id, hook))
            if original is not None and original.state not in FINISHED_STATES:
                unfinished += 1
                continue
            key = keys.get(hook) if keys is not None else None
            targets.append(
                Target(event_id=event.id, event_type=event.type, hook=hook, original=original, ordering_key=key)
            )
    return FilePlan(
        events=len(events),
        new_events=tuple(e for e in events if e.id not in known),
        targets=tuple(targets),
        unfinished=unfinished,
        filter_failures=tuple(filter_failures),
    )


# -- queueing ----------------------------------------------------------------------------------------


async def store_events(store: Store, events: Sequence[Event], *, source: str, now: float) -> None:
    """Store new events without deliveries; `queue` adds those, spaced like every other replay.

    Two commits rather than one: if this process dies in between, the events are stored without
    deliveries, and running the same replay again queues them (a stored event gets a first delivery
    to each hook it has none for).
    """
    for start in range(0, len(events), BATCH):
        batch = [RoutedEvent(event=e, source=source, hooks=()) for e in events[start : start + BATCH]]
        await store.ingest(batch, [], [], now)


async def queue(
    store: Store,
    targets: Sequence[Target],
    *,
    now: float,
    rate_per_s: float | None = None,
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> list[Queued]:
    """Queue one pending delivery per target, due now or, with a rate, 1/rate seconds apart.

    One transaction per BATCH targets; `progress(n)` after each. The due times are stored, so the
    daemon keeps the pace even when this process is gone. Once `stop` is set, queues no more batches.
    """
    spacing = 1.0 / rate_per_s if rate_per_s else 0.0
    out: list[Queued] = []
    for start in range(0, len(targets), BATCH):
        if stop is not None and stop.is_set():
            break
        batch = targets[start : start + BATCH]
        items = [
            ReplayItem(
                event_id=t.event_id,
                hook=t.hook,
                replay_of=t.original.id if t.original is not None else None,
                next_at=now + (start + i) * spacing,
                ordering_key=t.ordering_key,
            )
            for i, t in enumerate(batch)
        ]
        ids = await store.replay(items, now)
        out.extend(Queued(id=i, target=t, next_at=item.next_at) for i, t, item in zip(ids, batch, items, strict=True))
        if progress is not None:
            progress(len(batch))
    return out


# -- sending in this process (--wait) ----------------------------------------------------------------


@contextlib.contextmanager
def database_lock(db: Path) -> Iterator[None]:
    """Hold the daemon's lock on `db` while sending in this process.

    The daemon's lock (hookd.store.lock: an flock on `<db>.lock` holding the owner's pid),
    so a daemon started meanwhile refuses to start, naming this process. Raises DaemonRunning when a
    daemon holds it: two dispatchers on one database would send each other's in-flight deliveries.
    """
    try:
        handle = lock_database(db, holder="hookd replay --wait")
    except DatabaseLocked as e:
        raise DaemonRunning(db, e.owner_pid, e.owner) from None
    except StartupError as e:
        raise UsageError(str(e)) from None
    try:
        yield
    finally:
        handle.close()  # releases the flock


class _Counting:
    """A Sender that reports each finished attempt (for a progress bar)."""

    def __init__(self, inner: Sender, on_sent: Callable[[], None]) -> None:
        self.inner = inner
        self.on_sent = on_sent

    async def send(self, request: OutboundRequest) -> Outcome:
        outcome = await self.inner.send(request)
        self.on_sent()
        return outcome

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def configure(self, endpoints: Mapping[str, EndpointSpec]) -> None:
        self.inner.configure(endpoints)


async def _stop_on(stop: asyncio.Event, dispatcher: Dispatcher) -> None:
    await stop.wait()
    dispatcher.stop()


async def _sleep_unless(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """clock.sleep(seconds), ended early by `stop`."""
    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeping, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeping, stopped):
            task.cancel()
        await asyncio.gather(sleeping, stopped, return_exceptions=True)


async def send_now(
    store: Store,
    hooks: Sequence[CompiledHook],
    delivery_ids: Sequence[str],
    *,
    clock: Clock,
    sender: Sender,
    concurrency: int,
    on_sent: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> list[DeliveryRow]:
    """Make the first attempt of each of these deliveries now, in this process, and return them.

    Runs a dispatcher for `hooks` in drain mode (it also sends anything else of theirs that is due),
    sleeping on `clock` in between while deliveries spaced by a rate are not due yet. A failed attempt
    that will be retried leaves its delivery `retrying`, due later: it is not waited for. Once `stop`
    is set, claims nothing more, gives back what was claimed but not sent, and cuts off the attempts
    in flight, recording each as a cancelled attempt: of a cancelled delivery when it is one of
    `delivery_ids`, of a pending one (due at once, for the daemon) otherwise; never left `delivering`.
    Hold `database_lock` around this.
    """
    active: Sender = _Counting(sender, on_sent) if on_sent is not None else sender
    stopping = stop if stop is not None else asyncio.Event()
    ids = tuple(delivery_ids)
    owned = frozenset(ids)

    def cut_off(d: DueDelivery) -> tuple[str, DeliveryState]:
        # Only this command's replays are withdrawn; anything else the drain picked up (a due retry of
        # the daemon's) goes back to the daemon, due at once.
        return (CUT_OFF_BY_STOP, "cancelled") if d.id in owned else (CUT_OFF_OTHERS, "pending")

    stuck: set[str] = set()
    while True:
        if stopping.is_set():  # stopped before (or while) they were queued: send nothing
            return await store.deliveries(DeliveryQuery(ids=ids, newest_first=False))
        dispatcher = Dispatcher(store, active, hooks, clock, concurrency=concurrency, cut_off=cut_off)
        watcher = asyncio.create_task(_stop_on(stopping, dispatcher))
        try:
            await dispatcher.run(drain=True)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await dispatcher.finish(0.0)
        rows = await store.deliveries(DeliveryQuery(ids=ids, newest_first=False))
        # One parked for a paused destination waits for `hookd hooks resume --destination`, not for
        # a time: the drain unparked every other (_unpark_unkept), so waiting for it would never end.
        waiting = [r for r in rows if r.state == "pending" and r.attempts == 0 and not parked(r)]
        if not waiting or stopping.is_set():
            return rows
        due = min(r.next_at if r.next_at is not None else 0.0 for r in waiting)
        now = clock.now()
        if due <= now:
            # Due, yet the drain left them: a hook this dispatcher does not have. Do not spin.
            if stuck == {r.id for r in waiting}:
                return rows
            stuck = {r.id for r in waiting}
            continue
        await _sleep_unless(clock, due - now, stopping)


def parked(row: DeliveryRow) -> bool:
    """Parked (for a closed destination): its due time pushed by PARK_OFFSET_S."""
    return row.next_at is not None and row.next_at >= PARK_OFFSET_S


# -- the whole command -------------------------------------------------------------------------------


class Progress(Protocol):
    """Told how far a long replay has got (a progress bar in the CLI)."""

    def phase(self, description: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRequest:
    db: Path
    origin: str  # where the database path came from, for messages
    query: DeliveryQuery | None = None  # replay the deliveries it selects, or
    events: tuple[Event, ...] | None = None  # re-ingest these events (from a file)
    source: str = "replay"  # the `source` recorded for events stored from a file
    router: Router | None = None  # the config's hooks: needed for events and --wait
    dry_run: bool = False
    rate_per_s: float | None = None
    wait: bool = False
    cancel: bool = False  # withdraw the queued replays `query` selects instead of queueing any
    concurrency: int = 100  # delivery.concurrency, for --wait
    synchronous: Literal["normal", "full"] = "normal"  # storage.synchronous: queued replays are as durable
    # Who asked (`cli:USER`), for the row each replay or cancel leaves in the audit table (hookd history
    # audit); None writes none. A dry run never writes one.
    audit_origin: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    targets: tuple[Target, ...]  # what was (or, in a dry run, would be) queued
    queued: tuple[Queued, ...] = ()
    plan: FilePlan | None = None
    sent: tuple[DeliveryRow, ...] | None = None  # --wait: the replays as they ended
    unconfigured: tuple[str, ...] = ()  # hooks replayed to that are not in the config
    paused: tuple[tuple[str, HookPause], ...] = ()  # hooks replayed to that are paused: their replays wait
    # --wait: (hook, destination host, pause) of the paused destinations of hooks whose replays were
    # left parked (not sent): they wait for `hookd hooks resume HOOK --destination HOST`
    paused_destinations: tuple[tuple[str, str, HookPause], ...] = ()
    missing_events: tuple[str, ...] = ()  # event ids asked for (--event) that the database does not hold
    # those of missing_events that are a delivery's id (or start only one), with that delivery
    deliveries_given: tuple[tuple[str, DeliveryRow], ...] = ()
    unknown_hooks: tuple[UnknownHook, ...] = ()  # --hook names no configured hook nor stored delivery has
    withdrawn: int = 0  # --cancel, or a stopped --wait: queued replays made `cancelled` before being sent
    cut_off: int = 0  # a stopped --wait: attempts in flight, recorded as cancelled
    stopped: bool = False  # --wait was stopped (SIGINT, SIGTERM) before it was done

    @property
    def failed(self) -> tuple[DeliveryRow, ...]:
        return tuple(r for r in self.sent or () if r.state not in ("delivered", "cancelled"))


async def run(
    request: ReplayRequest, *, clock: Clock, progress: Progress | None = None, stop: asyncio.Event | None = None
) -> ReplayResult:
    """Select (or read) what to replay, queue it unless a dry run, and with `wait` send it now; or,
    with `cancel`, withdraw the queued replays the query selects.

    `stop` (set on SIGINT or SIGTERM) ends a `wait` early: everything this call queued and did not
    send is withdrawn, attempts in flight are cut off and recorded as cancelled (see send_now).

    Raises DatabaseMissing, DaemonRunning (with `wait`, before anything is written), UsageError,
    AmbiguousId (an --event prefix of several ids).
    """
    now = clock.now()
    async with open_store(request.db, origin=request.origin, synchronous=request.synchronous) as store:
        result = await _act(store, request, now, clock=clock, progress=progress, stop=stop)
        if request.audit_origin is not None and not request.dry_run:
            await store.audit(audit_row(request, result, at=now, origin=request.audit_origin))
        return result


async def _act(
    store: SQLiteStore,
    request: ReplayRequest,
    now: float,
    *,
    clock: Clock,
    progress: Progress | None,
    stop: asyncio.Event | None,
) -> ReplayResult:
    """run's work on the open store."""
    known = request.router.by_name if request.router is not None else None
    query = request.query or DeliveryQuery()
    unmatched: tuple[str, ...] = ()
    if query.event_ids:
        event_ids, unmatched = await resolve_event_ids(store, query.event_ids)
        query = replace(query, event_ids=event_ids)
    given = await deliveries_named(store, unmatched)
    unknown = await unknown_hooks(store, query.hooks, list(known) if known is not None else None)
    if request.cancel:
        result = await _cancel(store, query, request, now, unknown=unknown, missing_events=unmatched)
        return replace(result, deliveries_given=given)
    plan = None
    if request.events is not None:
        if request.router is None:
            raise UsageError("replaying events from a file needs the config's hooks to route them")
        plan = await plan_file(store, request.events, request.router)
        targets = list(plan.targets)
    else:
        targets = await select(store, query)
    if known is not None:
        # A hook the config no longer orders takes its replays unordered, as its new events.
        targets = [
            replace(t, ordering_key=None) if t.hook in known and known[t.hook].ordering is None else t for t in targets
        ]
    hooks = list(dict.fromkeys(t.hook for t in targets))
    unconfigured = tuple(h for h in hooks if known is not None and h not in known)
    states = await store.hook_states() if hooks else {}
    paused = tuple((h, st.pause) for h in hooks if (st := states.get(h)) is not None and st.pause is not None)
    result = ReplayResult(
        targets=tuple(targets),
        plan=plan,
        unconfigured=unconfigured,
        paused=paused,
        missing_events=unmatched,
        deliveries_given=given,
        unknown_hooks=unknown,
    )
    if request.dry_run or not (targets or (plan and plan.new_events)):
        return result
    if request.wait and (known is None or unconfigured):
        missing = ", ".join(map(repr, unconfigured)) or "any"
        raise UsageError(
            f"--wait cannot send to hook(s) {missing}: not in the config; configure them again, or drop "
            "--wait to queue the replays for when they are"
        )
    with database_lock(request.db) if request.wait else contextlib.nullcontext():
        if plan is not None and plan.new_events:
            await store_events(store, plan.new_events, source=request.source, now=now)
        if progress is not None:
            progress.phase("queueing", len(targets))
        queued = await queue(
            store,
            targets,
            now=now,
            rate_per_s=request.rate_per_s,
            progress=progress.advance if progress is not None else None,
            stop=stop if request.wait else None,
        )
        result = replace(result, queued=tuple(queued))
        if not request.wait or not queued:
            return result
        assert known is not None
        if progress is not None:
            progress.phase("sending", len(queued))
        sender = HttpSender(
            max_connections=request.concurrency,
            user_agent=f"hookd/{__version__}",
            endpoints={name: hook.endpoint for name, hook in known.items()},
        )
        try:
            rows = await send_now(
                store,
                [known[h] for h in hooks],
                [q.id for q in queued],
                clock=clock,
                sender=sender,
                concurrency=request.concurrency,
                on_sent=progress.advance if progress is not None else None,
                stop=stop,
            )
        finally:
            await sender.close()
        if stop is None or not stop.is_set():
            return replace(result, sent=tuple(rows), paused_destinations=await _paused_destinations(store, rows))
        # Stopped: what this command queued and did not get to send is withdrawn, not left for a daemon.
        ids = tuple(q.id for q in queued)
        withdrawn = await store.withdraw(DeliveryQuery(ids=ids), clock.now(), WITHDRAWN_BY_STOP)
        rows = await store.deliveries(DeliveryQuery(ids=ids, newest_first=False))
        cut_off = sum(1 for r in rows if r.state == "cancelled" and r.last_error == CUT_OFF_BY_STOP)
        return replace(result, sent=tuple(rows), withdrawn=withdrawn, cut_off=cut_off, stopped=True)


async def _paused_destinations(store: Store, rows: Sequence[DeliveryRow]) -> tuple[tuple[str, str, HookPause], ...]:
    """The paused destinations of the hooks whose replays `send_now` left parked. A row does not say
    its host, so a hook with several paused ones names them all (each is paused)."""
    hooks = dict.fromkeys(r.hook for r in rows if r.state == "pending" and parked(r))
    if not hooks:
        return ()
    pauses = await store.destination_pauses()
    return tuple((h, host, p) for h in hooks for host, p in sorted(pauses.get(h, {}).items()))


async def _cancel(
    store: Store,
    query: DeliveryQuery,
    request: ReplayRequest,
    now: float,
    *,
    unknown: tuple[UnknownHook, ...],
    missing_events: tuple[str, ...],
) -> ReplayResult:
    """--cancel: withdraw (or, in a dry run, count) the queued replays `query` selects."""
    selected = replace(query, statuses=query.statuses or QUEUED, replays_only=True)
    base = ReplayResult(targets=(), unknown_hooks=unknown, missing_events=missing_events)
    if request.dry_run:
        return replace(base, withdrawn=len(await store.deliveries(selected)))
    return replace(base, withdrawn=await store.withdraw(selected, now, WITHDRAWN_BY_CANCEL))


# Event ids named in an audit row's target before the rest are counted: a selection by hundreds of ids
# stays one readable line.
AUDIT_IDS_SHOWN = 3


def selection_text(query: DeliveryQuery) -> str:
    """The selectors of `query` as an operator gave them, for the audit row: names, globs and times only."""
    parts: list[str] = []
    if query.event_ids:
        shown = ",".join(query.event_ids[:AUDIT_IDS_SHOWN])
        more = len(query.event_ids) - AUDIT_IDS_SHOWN
        parts.append(f"event={shown}" + (f" (and {more} more)" if more > 0 else ""))
    if query.hooks:
        parts.append("hook=" + ",".join(query.hooks))
    if query.statuses:
        parts.append("status=" + ",".join(query.statuses))
    if query.type_glob is not None:
        parts.append(f"type={query.type_glob}")
    if query.since is not None:
        parts.append(f"since={isoformat(query.since)}")
    if query.until is not None:
        parts.append(f"until={isoformat(query.until)}")
    return " ".join(parts) or "all"


def audit_row(request: ReplayRequest, result: ReplayResult, *, at: float, origin: str) -> AuditRow:
    """What a replay or cancel did, for hookd history audit: the selection (or the file's name) and
    counts; never an event's body."""
    if request.cancel:
        target = f"{selection_text(request.query or DeliveryQuery())}: {result.withdrawn} withdrawn"
        return AuditRow(at=at, action="cancel", target=target, detail=WITHDRAWN_BY_CANCEL, origin=origin)
    if result.plan is not None:
        what = f"file {request.source.removeprefix('replay:')} ({result.plan.events} event(s))"
    else:
        what = selection_text(request.query or DeliveryQuery())
    target = f"{what}: {len(result.queued)} queued"
    if result.stopped:
        detail = f"--wait stopped by a signal: {result.withdrawn} withdrawn, {result.cut_off} cut off"
    elif result.sent is not None:
        detail = f"--wait sent them: {len(result.sent) - len(result.failed)} delivered, {len(result.failed)} not"
    elif request.rate_per_s is not None:
        detail = f"queued for the daemon at {request.rate_per_s:g}/s"
    else:
        detail = "queued for the daemon"
    return AuditRow(at=at, action="replay", target=target, detail=detail, origin=origin)
