"""Delivery history read from the SQLite file: time and status parsing, queries, stats, pruning.

`hookd history`, `replay` and `prune` open the database themselves, so they work whether or not
the daemon runs. SQLite in WAL mode lets them read beside a running daemon without blocking it;
their writes are short transactions, like the daemon's own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from hookd.errors import HookdError, StartupError
from hookd.store.base import (
    DELIVERY_STATUSES,
    AttemptRow,
    DeliveryQuery,
    DeliveryRow,
    DeliveryStatus,
    EventRecord,
    HookStats,
    PruneCounts,
)
from hookd.store.sqlite import SQLiteStore
from hookd.units import DURATION_PATTERN, parse_duration


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


class NotFound(HookdError):
    """Nothing has the id asked for: exit code 1."""

    exit_code = 1


# -- arguments ---------------------------------------------------------------------------------------


def parse_when(text: str, *, now: float, option: str) -> float:
    """Epoch seconds from `1h` (that long before `now`) or an RFC 3339 time such as 2026-01-31T12:00:00Z."""
    value = text.strip()
    if re.fullmatch(DURATION_PATTERN, value):
        return now - parse_duration(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor a time; write how long ago, like 30m, 1h or 7d, or an "
            "RFC 3339 time like 2026-01-31T12:00:00Z"
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
            if match is None:
                close = difflib.get_close_matches(word, list(allowed), n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise UsageError(f"{option} {word!r} is not one of: {', '.join(allowed)}{hint}")
            if match not in out:
                out.append(match)
    return tuple(out)


# -- the store ---------------------------------------------------------------------------------------


@asynccontextmanager
async def open_store(
    path: Path, *, origin: str, synchronous: Literal["normal", "full"] = "normal"
) -> AsyncIterator[SQLiteStore]:
    """The store of an existing database; `origin` says where the path came from, for messages.

    Never creates the file: a typo in --db must not leave an empty database behind. Leaves WAL
    checkpoints to the daemon, so closing never holds up its commits.
    """
    try:
        exists = path.exists()
    except OSError as e:  # a directory on the way that this user may not enter
        raise UsageError(f"cannot open the database {str(path)!r} ({origin}): {e.strerror or e}") from None
    if not exists:
        raise DatabaseMissing(path, origin)
    store = SQLiteStore(path, synchronous=synchronous, background_checkpoints=False, checkpoint_on_close=False)
    try:
        await store.open()
    except StartupError as e:
        raise UsageError(str(e)) from None
    try:
        yield store
    finally:
        await store.close()


async def list_deliveries(path: Path, query: DeliveryQuery, *, origin: str) -> list[DeliveryRow]:
    async with open_store(path, origin=origin) as store:
        return await store.deliveries(query)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDetail:
    delivery: DeliveryRow
    attempts: tuple[AttemptRow, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """What `hookd history show` prints: the event and its deliveries (one, or all of the event's)."""

    event: EventRecord | None  # None only if the event row is gone
    event_id: str
    deliveries: tuple[DeliveryDetail, ...]
    asked_for: str  # "delivery" or "event"


async def show(path: Path, item_id: str, *, origin: str) -> Shown:
    """A delivery and its event when `item_id` is a delivery id, else an event and all its deliveries.

    Raises NotFound when it is neither.
    """
    async with open_store(path, origin=origin) as store:
        delivery = await store.delivery(item_id)
        if delivery is not None:
            rows = [delivery]
            event_id, asked_for = delivery.event_id, "delivery"
        else:
            rows = await store.deliveries(DeliveryQuery(event_ids=(item_id,), newest_first=False))
            event_id, asked_for = item_id, "event"
        event = await store.event(event_id)
        if event is None and not rows:
            raise NotFound(
                f"no delivery or event has the id {item_id!r} in {str(path)!r}; `hookd history` lists them "
                "(old ones are pruned after storage.retention)"
            )
        details = [DeliveryDetail(delivery=r, attempts=tuple(await store.attempts(r.id))) for r in rows]
    return Shown(event=event, event_id=event_id, deliveries=tuple(details), asked_for=asked_for)


async def hook_stats(path: Path, *, since: float, until: float, origin: str) -> list[HookStats]:
    async with open_store(path, origin=origin) as store:
        return await store.stats(since, until)


async def prune(
    path: Path, *, older_than: float, origin: str, synchronous: Literal["normal", "full"] = "normal"
) -> PruneCounts:
    async with open_store(path, origin=origin, synchronous=synchronous) as store:
        return await store.prune_counts(older_than)
