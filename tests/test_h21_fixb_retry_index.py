"""The retries-first claim of a rate-limited hook and the next retry's due time are ranges of a partial
index of the pending retries (migration 0008_retry_due_index), however large the fresh backlog."""

from __future__ import annotations

from pathlib import Path

from hookd.store.base import AttemptRecord, DueDelivery, RoutedEvent
from hookd.store.sqlite import _CLAIM_RETRIES, SQLiteStore
from hookd.store.sqlite_reads import NEXT_RETRY
from tests.conftest import db_rows
from tests.store_helpers import ingest_all, order_event, query_plan, vm_work

BACKLOG = 100_000


def routed(event_id: str) -> RoutedEvent:
    return RoutedEvent(order_event(event_id), "sock", ("h",), frozenset(), {})


def retry_at(due: DueDelivery, next_at: float) -> AttemptRecord:
    return AttemptRecord(
        delivery_id=due.id, attempt=due.attempt, started_at=100.0, duration_s=0.1, status=503, error="",
        request={}, response_headers={}, response_excerpt="", state="pending", next_at=next_at,
    )  # fmt: skip


def _plan(db_path: Path, sql: str, params: tuple[object, ...]) -> str:
    return " / ".join(query_plan(db_path, sql, params))


def _rows_and_steps(db_path: Path, sql: str, params: tuple[object, ...]) -> tuple[list[tuple[object, ...]], int]:
    """The rows `sql` gives and the SQLite VM instructions it ran (in thousands), rolled back."""
    rows, steps = vm_work(db_path, lambda db: db.execute(sql, params).fetchall())
    assert isinstance(rows, list)
    return rows, steps


async def test_due_retries_are_an_index_range_behind_a_large_fresh_backlog(store: SQLiteStore, db_path: Path) -> None:
    """1. Hook h: 100,000 fresh deliveries (no attempt yet), then 5 claimed and failed, due again at
    150 and later. 2. Ask when the next retry is due, and claim the due retries, at 160.
    Result: both are SEARCHes of deliveries_retry_due and run a handful of thousand VM instructions
    (walking the fresh backlog runs millions); the index holds the 5 retries, none of the fresh rows."""
    await ingest_all(store, [routed(f"e{i:06d}") for i in range(BACKLOG)], 100.0)
    failed = await store.claim_due(100.0, {"h": 5})
    await store.record_attempts([retry_at(d, 150.0 + n) for n, d in enumerate(failed)])

    claim_params = (160.0, "h", 160.0, 3)
    assert "USING INDEX deliveries_retry_due" in _plan(db_path, _CLAIM_RETRIES, claim_params)
    assert "USING INDEX deliveries_retry_due" in _plan(db_path, NEXT_RETRY, ("h",))
    assert "SCAN" not in _plan(db_path, NEXT_RETRY, ("h",))
    held = db_rows(
        db_path,
        "SELECT count(*) FROM deliveries INDEXED BY deliveries_retry_due WHERE state = 'pending' AND attempts > 0",
    )
    assert held == [(5,)]
    claimed, steps = _rows_and_steps(db_path, _CLAIM_RETRIES, claim_params)
    assert sorted(str(row[1]) for row in claimed) == ["e000000", "e000001", "e000002"]
    assert steps < 20, steps
    first, steps = _rows_and_steps(db_path, NEXT_RETRY, ("h",))
    assert first == [(150.0,)]
    assert steps < 20, steps

    assert await store.next_retry_at("h") == 150.0
    assert [d.event_id for d in await store.claim_retries(160.0, {"h": 10})] == [f"e{i:06d}" for i in range(5)]
    assert await store.next_retry_at("h") is None  # claimed: out of the index
