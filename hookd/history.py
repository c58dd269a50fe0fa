"""Delivery history read from the SQLite file: time and status parsing, queries, stats, pruning.

`hookd history`, `replay` and `prune` open the database themselves, so they work whether or not
the daemon runs. SQLite in WAL mode lets them read beside a running daemon without blocking it;
their writes are short transactions, like the daemon's own.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from hookd.errors import HookdError, StartupError
from hookd.ids import is_uuid7
from hookd.logs import isoformat
from hookd.store.base import (
    DELIVERY_STATUSES,
    PARK_OFFSET_S,
    AttemptRow,
    AuditRow,
    BatchRow,
    DeliveryQuery,
    DeliveryRow,
    DeliveryStatus,
    EventRecord,
    HookPause,
    HookState,
    HookStats,
    IdTable,
    PruneCounts,
    RejectionRow,
)
from hookd.store.sqlite import SQLiteStore
from hookd.suggest import closest, did_you_mean
from hookd.units import format_duration, parse_duration_text


class UsageError(HookdError):
    """Bad arguments or input: exit code 2."""

    exit_code = 2


class DatabaseMissing(UsageError):
    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        super().__init__(
            f"no database at {str(path)!r} ({origin}); hookd serve creates it on its first start: start the "
            "daemon once, or point --db at the right file"
        )


class NotHookdDatabase(UsageError):
    """An SQLite file with tables of its own and no hookd migration records: a read command must not
    add hookd's tables to it (exit 2)."""

    def __init__(self, path: Path, origin: str, tables: Sequence[str]) -> None:
        self.path = path
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        super().__init__(
            f"{str(path)!r} ({origin}) is not a hookd database: it is an SQLite file with other tables "
            f"({shown}) and no hookd migration records; point --db (or storage.path) at the file hookd serve "
            "writes, and leave this one as it is"
        )


class NotFound(HookdError):
    """Nothing has the id asked for: exit code 1."""

    exit_code = 1


class AmbiguousId(UsageError):
    """A prefix that starts more than one id: the candidates are listed, git-style."""

    def __init__(self, prefix: str, candidates: Sequence[str], *, more: bool) -> None:
        self.prefix = prefix
        self.candidates = tuple(candidates)
        listed = "\n".join(f"  {c}" for c in candidates) + ("\n  ..." if more else "")
        super().__init__(
            f"the id prefix {prefix!r} is ambiguous: {'more than ' if more else ''}{len(candidates)} ids start "
            f"with it; give more characters of the one you mean:\n{listed}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownHook:
    """A --hook name that no configured hook has and no stored delivery ever had."""

    name: str
    suggestion: str | None
    known: tuple[str, ...]  # hook names of the config and of stored deliveries
    configured: bool  # whether a config was read (else only the database was asked)

    def message(self) -> str:
        where = "in the config or in any stored delivery" if self.configured else "in any stored delivery"
        if self.suggestion is not None:
            hint = f"did you mean {self.suggestion!r}?"
        elif self.known:
            hint = f"the hooks known are: {', '.join(self.known)}"
        else:
            hint = "no hook has a delivery yet"
        return f"no hook named {self.name!r} {where}, so nothing can match it; {hint}"


# -- arguments ---------------------------------------------------------------------------------------


def parse_when(text: str, *, now: float, option: str) -> float:
    """Epoch seconds from a duration (`1h`, or `60` seconds: that long before `now`) or an RFC 3339 time
    such as 2026-01-31T12:00:00Z."""
    value = text.strip()
    try:
        return now - parse_duration_text(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor a time; write how long ago, like 30m, 1h, 7d or 60 "
            "(seconds), or an RFC 3339 time like 2026-01-31T12:00:00Z"
        )
    if moment.tzinfo is None:
        raise UsageError(
            f"{option} {text!r} has no timezone; write a time with Z for UTC or an offset like +01:00, "
            "as history shows them: 2026-01-31T12:00:00+01:00"
        )
    return moment.timestamp()


def parse_statuses(
    values: Sequence[str], *, allowed: Sequence[DeliveryStatus] = DELIVERY_STATUSES, option: str = "--status"
) -> tuple[DeliveryStatus, ...]:
    """Statuses from repeated or comma-separated values, each one of `allowed`."""
    out: list[DeliveryStatus] = []
    for value in values:
        for word in (w.strip().lower() for w in value.split(",")):
            if not word:
                continue
            match = next((s for s in allowed if s == word), None)
            if match is None and word == "paused":
                # A hook's state, not a delivery's: a paused hook's deliveries are pending (or retrying).
                raise UsageError(
                    f"{option} 'paused' is not a delivery status ({', '.join(allowed)}): paused is a hook's state, "
                    "which hookd hooks list shows; a paused hook's deliveries wait as pending or retrying "
                    "(add --hook NAME to see them)"
                )
            if match is None:
                hint = did_you_mean(word, allowed, cutoff=0.5)
                raise UsageError(f"{option} {word!r} is not one of: {', '.join(allowed)}{hint}")
            if match not in out:
                out.append(match)
    return tuple(out)


# -- the store ---------------------------------------------------------------------------------------


def database_exists(path: Path, origin: str) -> bool:
    try:
        return path.exists()
    except OSError as e:  # a directory on the way that this user may not enter
        raise UsageError(f"cannot open the database {str(path)!r} ({origin}): {e.strerror or e}") from None


@asynccontextmanager
async def open_store(
    path: Path, *, origin: str, synchronous: Literal["normal", "full"] = "normal", create: bool = False
) -> AsyncIterator[SQLiteStore]:
    """The store of an existing database; `origin` says where the path came from, for messages.

    Creates the file only with `create` (as hookd serve does on its first start, with the same
    migrations): a command that stores a state the daemon reads (`hooks pause`) given the config's
    storage.path. Otherwise never: a typo in --db must not leave an empty database behind. Leaves WAL
    checkpoints to the daemon, so closing never holds up its commits.
    """
    exists = database_exists(path, origin)
    if not exists and not create:
        raise DatabaseMissing(path, origin)
    if exists:
        _check_hookd_database(path, origin)
    store = SQLiteStore(path, synchronous=synchronous, background_checkpoints=False, checkpoint_on_close=False)
    try:
        await store.open()
    except StartupError as e:
        raise UsageError(str(e)) from None
    try:
        yield store
    finally:
        await store.close()


def _check_hookd_database(path: Path, origin: str) -> None:
    """Raise NotHookdDatabase when `path` has tables but no hookd migration records. An empty file
    (or one that is not SQLite at all: the store's own open says so) passes. Read-only, so looking
    changes nothing."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            if not tables or ("migrations" in tables and db.execute("SELECT 1 FROM migrations LIMIT 1").fetchone()):
                return
    except sqlite3.Error:
        return  # not SQLite, or unreadable: SQLiteStore.open reports it with the fix
    raise NotHookdDatabase(path, origin, [t for t in tables if t != "migrations"] or tables)


# -- ids given by prefix, and hook names that match nothing -------------------------------------------

# Ids are shown at least this long (uuid7 ids made close together share longer prefixes: those grow).
MIN_ID_LENGTH = 8
_CANDIDATES = 10


async def _by_prefix(store: SQLiteStore, table: IdTable, prefix: str) -> list[str]:
    return await store.ids_with_prefix(table, prefix, _CANDIDATES + 1)


def _one(prefix: str, found: Sequence[str]) -> str | None:
    if len(found) > 1:
        raise AmbiguousId(prefix, found[:_CANDIDATES], more=len(found) > _CANDIDATES)
    return found[0] if found else None


async def resolve_event_ids(store: SQLiteStore, values: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each value as the event id it names: an exact id, else the one id it is a prefix of.

    Returns (ids, unmatched): unmatched values stay in `ids` as given, so a filter on them matches
    nothing rather than everything. Raises AmbiguousId for a prefix of several ids.
    """
    exact = await store.known_events(values)
    ids: list[str] = []
    unmatched: list[str] = []
    for value in dict.fromkeys(values):
        full = value if value in exact else _one(value, await _by_prefix(store, "events", value))
        if full is None:
            unmatched.append(value)
        ids.append(full or value)
    return tuple(dict.fromkeys(ids)), tuple(unmatched)


async def deliveries_named(store: SQLiteStore, values: Sequence[str]) -> tuple[tuple[str, DeliveryRow], ...]:
    """Each value that is a delivery id, or starts only one, with that delivery: an --event given a
    delivery id by mistake, to be told which event and hook to give instead."""
    out: list[tuple[str, DeliveryRow]] = []
    for value in dict.fromkeys(values):
        row = await store.delivery(value)
        if row is None:
            found = await _by_prefix(store, "deliveries", value)
            row = await store.delivery(found[0]) if len(found) == 1 else None
        if row is not None:
            out.append((value, row))
    return tuple(out)


async def batches_named(store: SQLiteStore, values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Each value that is a batch id, or starts only one, with that batch's id: an --event given a batch
    id by mistake, to be told that `hookd history show` takes it."""
    out: list[tuple[str, str]] = []
    for value in dict.fromkeys(values):
        if await store.batch(value) is not None:
            out.append((value, value))
            continue
        found = await _by_prefix(store, "batches", value)
        if len(found) == 1:
            out.append((value, found[0]))
    return tuple(out)


async def resolve_item(store: SQLiteStore, text: str) -> tuple[Literal["delivery", "event", "batch"], str] | None:
    """A delivery, event or batch id, exact or by a unique prefix over all three; None when nothing matches."""
    if await store.delivery(text) is not None:
        return "delivery", text
    if await store.known_events([text]):
        return "event", text
    if await store.batch(text) is not None:
        return "batch", text
    deliveries = await _by_prefix(store, "deliveries", text)
    events = await _by_prefix(store, "events", text)
    batches = await _by_prefix(store, "batches", text)
    found = [f"delivery {i}" for i in deliveries] + [f"event {i}" for i in events] + [f"batch {i}" for i in batches]
    if len(found) > 1:
        raise AmbiguousId(text, found[:_CANDIDATES], more=len(found) > _CANDIDATES)
    if deliveries:
        return "delivery", deliveries[0]
    if events:
        return "event", events[0]
    if batches:
        return "batch", batches[0]
    return None


async def unknown_hooks(
    store: SQLiteStore, names: Sequence[str], configured: Sequence[str] | None
) -> tuple[UnknownHook, ...]:
    """The names no configured hook (when a config was read) and no stored delivery has."""
    candidates = [n for n in dict.fromkeys(names) if n not in (configured or ())]
    if not candidates:
        return ()
    present = await store.hooks_with_deliveries(candidates)
    missing = [n for n in candidates if n not in present]
    if not missing:
        return ()
    known = tuple(sorted({*(configured or ()), *await store.hook_names()}))
    return tuple(
        UnknownHook(name=n, suggestion=closest(n, known), known=known, configured=configured is not None)
        for n in missing
    )


async def short_ids(store: SQLiteStore, rows: Sequence[DeliveryRow]) -> dict[str, str]:
    """Delivery and event ids of `rows` in UUIDv7 form cut to one length per column, each a prefix no
    other stored delivery or event id shares (so `history show` and `--event` take it), at least
    MIN_ID_LENGTH. Other ids are a producer's own (`customer-signup-42`) and stay whole: cut, they
    would read as another id."""
    out: dict[str, str] = {}
    for ids in ([r.id for r in rows], [r.event_id for r in rows], [r.batch_id for r in rows if r.batch_id]):
        generated = list(dict.fromkeys(i for i in ids if is_uuid7(i)))
        lengths = await store.unique_prefix_lengths(generated, MIN_ID_LENGTH)
        width = max(lengths.values(), default=MIN_ID_LENGTH)
        out.update({i: i[:width] for i in generated})
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """What `hookd history` prints: the rows, their short ids, and what in the query matched nothing."""

    rows: tuple[DeliveryRow, ...]
    short: Mapping[str, str]  # delivery and event ids to their short forms
    unknown_hooks: tuple[UnknownHook, ...] = ()
    unmatched_events: tuple[str, ...] = ()  # --event values that are no event id nor a prefix of one
    # those of unmatched_events that are a delivery's id (or start only one), with that delivery
    deliveries_given: tuple[tuple[str, DeliveryRow], ...] = ()
    # those of unmatched_events that are a batch's id (or start only one), with that batch's id
    batches_given: tuple[tuple[str, str], ...] = ()


async def list_deliveries(
    path: Path, query: DeliveryQuery, *, origin: str, configured: Sequence[str] | None = None, shorten: bool = True
) -> Listing:
    """Deliveries matching `query`, its --event values taken as ids or unique prefixes, and --hook names
    checked against `configured` (the config's hook names, when one was read) and the database."""
    async with open_store(path, origin=origin) as store:
        unmatched: tuple[str, ...] = ()
        if query.event_ids:
            event_ids, unmatched = await resolve_event_ids(store, query.event_ids)
            query = replace(query, event_ids=event_ids)
        given = await deliveries_named(store, unmatched) if unmatched else ()
        named = {value for value, _ in given}
        batches = await batches_named(store, [v for v in unmatched if v not in named]) if unmatched else ()
        unknown = await unknown_hooks(store, query.hooks, configured)
        rows = await store.deliveries(query)
        short = await short_ids(store, rows) if shorten else {}  # --json prints whole ids
    return Listing(
        rows=tuple(rows),
        short=short,
        unknown_hooks=unknown,
        unmatched_events=unmatched,
        deliveries_given=given,
        batches_given=batches,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDetail:
    delivery: DeliveryRow
    attempts: tuple[AttemptRow, ...]
    # Its hook's stored run-time state (a pause, a breaker), which holds a pending delivery past its due time.
    hook_state: HookState | None = None
    # A hook with a templated url host: the destination host stored with it, and that host's stored pause.
    destination: str | None = None
    destination_pause: HookPause | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """Why a pending delivery's next try waits past its due time: its hook is paused (`pause`), or its
    breaker is open and probes at `probe_at` (None: half open, probing now); or, for a hook with a
    templated url host, the gate of its `destination` host is closed: paused (`pause`), or its breaker
    open, a Retry-After hold or no rate-limit tokens (which one the daemon knows, not the database)."""

    pause: HookPause | None = None
    probe_at: float | None = None
    destination: str | None = None
    due_at: float | None = None  # a destination's: the due time kept while it is parked


def hold(detail: DeliveryDetail) -> Hold | None:
    """What holds `detail`'s pending delivery, from its hook's stored state; None when nothing does. A
    pause comes first (nothing is sent), then an open breaker whose probe comes after the due time,
    then its destination's closed gate (the delivery is parked)."""
    d, state = detail.delivery, detail.hook_state
    if d.state != "pending":
        return None
    if state is not None and state.pause is not None:
        return Hold(pause=state.pause)
    parked = d.next_at is not None and d.next_at >= PARK_OFFSET_S
    if parked and detail.destination is not None:
        assert d.next_at is not None
        return Hold(pause=detail.destination_pause, destination=detail.destination, due_at=d.next_at - PARK_OFFSET_S)
    if state is None:
        return None
    b = state.breaker
    if b is None:
        return None
    if b.state == "half_open":
        return Hold()
    if b.retry_at is not None and (d.next_at is None or d.next_at < b.retry_at):
        return Hold(probe_at=b.retry_at)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchDetail:
    """A batch (a hook with `batch:`): its requests, each one attempt of every member, and its members."""

    batch: BatchRow
    members: tuple[DeliveryRow, ...]  # oldest first
    attempts: tuple[AttemptRow, ...]
    # Those that left it when the receiver answered 413 (split into smaller batches), as they are now.
    departed: tuple[DeliveryRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """What `hookd history show` prints: the event and its deliveries (one, or all of the event's), or
    a batch with its requests and members."""

    event: EventRecord | None  # None only if the event row is gone (or a batch was asked for)
    event_id: str
    deliveries: tuple[DeliveryDetail, ...]
    asked_for: str  # "delivery", "event" or "batch"
    batch: BatchDetail | None = None  # when a batch id was asked for


async def show(path: Path, item_id: str, *, origin: str) -> Shown:
    """A delivery and its event when `item_id` is a delivery id, else an event and all its deliveries.

    Raises NotFound when it is neither.
    """
    async with open_store(path, origin=origin) as store:
        found = await resolve_item(store, item_id)
        if found is None:
            raise NotFound(
                f"no delivery or event id is or starts with {item_id!r} in {str(path)!r}; `hookd history` lists "
                "them (old ones are pruned after storage.retention)"
            )
        kind, full_id = found
        if kind == "batch":
            return Shown(event=None, event_id="", deliveries=(), asked_for="batch", batch=await _batch(store, full_id))
        delivery = await store.delivery(full_id) if kind == "delivery" else None
        if delivery is not None:
            rows = [delivery]
            event_id, asked_for = delivery.event_id, "delivery"
        else:
            rows = await store.deliveries(DeliveryQuery(event_ids=(full_id,), newest_first=False))
            event_id, asked_for = full_id, "event"
        event = await store.event(event_id)
        states = await store.hook_states()  # a small table: one row per hook
        destinations = await store.delivery_destinations([r.id for r in rows])
        paused = await store.destination_pauses() if destinations else {}
        details = []
        for r in rows:
            host = destinations.get(r.id)
            details.append(
                DeliveryDetail(
                    delivery=r,
                    attempts=tuple(await store.attempts(r.id)),
                    hook_state=states.get(r.hook),
                    destination=host,
                    destination_pause=paused.get(r.hook, {}).get(host) if host is not None else None,
                )
            )
    return Shown(event=event, event_id=event_id, deliveries=tuple(details), asked_for=asked_for)


async def _batch(store: SQLiteStore, batch_id: str) -> BatchDetail | None:
    row = await store.batch(batch_id)
    if row is None:
        return None
    members = await store.deliveries(DeliveryQuery(batch_ids=(batch_id,), newest_first=False))
    return BatchDetail(
        batch=row,
        members=tuple(members),
        attempts=tuple(await store.attempts(batch_id)),
        departed=tuple(await store.departed(batch_id)),
    )


async def hook_stats(path: Path, *, since: float, until: float, origin: str) -> list[HookStats]:
    async with open_store(path, origin=origin) as store:
        return await store.stats(since, until)


async def rejections(
    path: Path, *, since: float, sources: Sequence[str], limit: int, origin: str
) -> list[RejectionRow]:
    async with open_store(path, origin=origin) as store:
        return await store.rejections(since, sources, limit)


async def prune(
    path: Path,
    *,
    older_than: float,
    origin: str,
    synchronous: Literal["normal", "full"] = "normal",
    audit_origin: str | None = None,
    now: float | None = None,
) -> PruneCounts:
    """`hookd prune`; with `audit_origin` (who asked) and `now`, it leaves a row in the audit table."""
    async with open_store(path, origin=origin, synchronous=synchronous) as store:
        counts = await store.prune_counts(older_than)
        if audit_origin is not None and now is not None:
            target = (
                f"finished before {isoformat(older_than)}: {counts.deliveries} delivery(ies), {counts.attempts} "
                f"attempt(s), {counts.events} event(s), {counts.rejected} rejected"
            )
            detail = f"older than {format_duration(now - older_than)}"
            await store.audit(AuditRow(at=now, action="prune", target=target, detail=detail, origin=audit_origin))
        return counts
