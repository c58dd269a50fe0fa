"""Helpers for tests of the SQLite store's queries: events to ingest in bulk, and what a query costs
(its plan, the VM instructions it runs) read from the file beside the open store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

from hookd.events import Event, event_from_object
from hookd.store.base import RoutedEvent
from hookd.store.sqlite import SQLiteStore

INGEST_CHUNK = 5000  # one ingest call per chunk: a 100,000-event backlog in one would hold the writer for long


def order_event(event_id: str) -> Event:
    """An order.created event with no data: the store tests care about ids, hooks and keys, not contents."""
    return event_from_object({"id": event_id, "type": "order.created", "time": "2026-01-31T12:00:00Z", "data": {}})


async def ingest_all(store: SQLiteStore, routed: Sequence[RoutedEvent], now: float = 100.0) -> None:
    """Store `routed` (and their deliveries) as due at `now`, in chunks, as ingest's group commits would."""
    for start in range(0, len(routed), INGEST_CHUNK):
        await store.ingest(routed[start : start + INGEST_CHUNK], [], [], now)


def query_plan(db_path: Path, sql: str, params: tuple[object, ...]) -> list[str]:
    """The steps of `sql`'s EXPLAIN QUERY PLAN ("SEARCH deliveries USING INDEX ...", "SCAN ...")."""
    with closing(sqlite3.connect(db_path)) as db:
        return [str(row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def vm_work(db_path: Path, body: Callable[[sqlite3.Connection], object]) -> tuple[object, int]:
    """`body`'s result and the SQLite VM instructions it ran (in thousands, roughly), rolled back.
    A count of instructions, not a time: an index range runs thousands however large the table, a scan
    runs millions, and neither depends on how busy the machine is."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    with closing(sqlite3.connect(db_path, isolation_level=None)) as db:
        db.set_progress_handler(count, 1000)
        db.execute("BEGIN IMMEDIATE")
        try:
            return body(db), steps
        finally:
            db.execute("ROLLBACK")
