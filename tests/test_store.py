"""SQLiteStore on a real SQLite file in tmp_path, checked through its methods and by reading the file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from hookd.clock import RealClock
from hookd.config.model import HookConfig
from hookd.errors import StartupError
from hookd.events import Event, event_from_object
from hookd.ingest import Ingest
from hookd.router import Router
from hookd.sources.base import Batch, Checkpoint, Rejection
from hookd.store.base import AttemptRecord, DeliveryState, DueDelivery, IngestResult, RoutedEvent
from hookd.store.migrations import MIGRATIONS
from hookd.store.sqlite import INLINE_MAX_ROWS, SQLiteStore


def event(event_id: str, data: object = None, etype: str = "order.created") -> Event:
    return event_from_object(
        {"id": event_id, "type": etype, "time": "2026-01-31T12:00:00Z", "source": "shop", "data": data}
    )


def routed(event_id: str, *hooks: str, data: object = None) -> RoutedEvent:
    return RoutedEvent(event=event(event_id, data), source="sock", hooks=hooks)


def query(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql, args).fetchall()


def deliveries(path: Path) -> list[tuple[object, ...]]:
    """(event_id, hook, state, attempts, next_at) of every delivery, ordered by event and hook."""
    return query(path, "SELECT event_id, hook, state, attempts, next_at FROM deliveries ORDER BY event_id, hook")


def delivery_id(path: Path, event_id: str, hook: str) -> str:
    rows = query(path, "SELECT id FROM deliveries WHERE event_id = ? AND hook = ?", event_id, hook)
    assert len(rows) == 1
    value = rows[0][0]
    assert isinstance(value, str)
    return value


def record(
    due: DueDelivery, state: DeliveryState, *, status: int | None = 200, next_at: float | None = None,
    started_at: float = 200.0, error: str = "",
) -> AttemptRecord:  # fmt: skip
    return AttemptRecord(
        delivery_id=due.id,
        attempt=due.attempt,
        started_at=started_at,
        duration_s=0.5,
        status=status,
        error=error,
        request={"method": "POST", "url": "https://example.com/hook", "headers": {"Authorization": "***"}},
        response_headers={"content-type": "text/plain"},
        response_excerpt="thanks",
        state=state,
        next_at=next_at,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "hookd.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(db_path)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def ingest(store: SQLiteStore, items: Sequence[RoutedEvent], now: float = 100.0) -> IngestResult:
    return await store.ingest(items, [], [], now)


# -- open, migrations, close ----------------------------------------------------------------------


async def test_open_creates_the_directory_and_records_the_migration(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    await store.open()
    await store.close()

    assert db_path.is_file()
    rows = query(db_path, "SELECT name FROM migrations ORDER BY name")
    assert rows == [(name,) for name, _ in MIGRATIONS]
    tables = query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [
        ("attempts",), ("audit",), ("batch_departures",), ("batches",), ("checkpoints",), ("config_runs",),
        ("deliveries",), ("destination_state",), ("events",), ("hook_state",), ("inbound",), ("migrations",),
        ("rejected",),
    ]  # fmt: skip
    assert query(db_path, "PRAGMA journal_mode") == [("wal",)]


async def test_opening_again_applies_nothing_and_keeps_the_data(db_path: Path) -> None:
    first = SQLiteStore(db_path)
    await first.open()
    await ingest(first, [routed("e1", "h1")])
    await first.close()
    applied = query(db_path, "SELECT name, applied_at FROM migrations")

    second = SQLiteStore(db_path)
    await second.open()
    await second.close()

    assert query(db_path, "SELECT name, applied_at FROM migrations") == applied
    assert len(applied) == len(MIGRATIONS)
    assert deliveries(db_path) == [("e1", "h1", "pending", 0, 100.0)]


async def test_close_is_idempotent_and_the_store_refuses_work_after_it(store: SQLiteStore) -> None:
    await store.close()
    await store.close()

    with pytest.raises(RuntimeError, match="store is not open"):
        await ingest(store, [routed("e1", "h1")])
    with pytest.raises(RuntimeError, match="store is not open"):
        await store.next_due_at(["h1"])


async def test_a_directory_that_cannot_be_created_is_a_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    store = SQLiteStore(blocker / "var" / "hookd.db")

    with pytest.raises(StartupError) as info:
        await store.open()

    assert str(info.value) == (
        f"cannot create the database directory '{blocker / 'var'}': Not a directory; create it or change storage.path"
    )
    assert info.value.exit_code == 3
    await store.close()


async def test_a_file_that_is_not_sqlite_is_a_startup_error(tmp_path: Path) -> None:
    path = tmp_path / "hookd.db"
    path.write_bytes(b"this is a text file, not a database\n" * 20)
    store = SQLiteStore(path)

    with pytest.raises(StartupError) as info:
        await store.open()

    assert str(info.value) == (
        f"cannot open the database '{path}': file is not a database; check the path, its permissions, "
        "and that it is a hookd SQLite file"
    )
    assert not store.is_open  # the connection was closed, not leaked
    assert path.read_bytes() == b"this is a text file, not a database\n" * 20
    await store.close()


async def test_a_database_from_a_newer_hookd_is_a_startup_error_and_left_alone(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    await store.open()
    await store.close()
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future', 1.0)")

    newer = SQLiteStore(db_path)
    with pytest.raises(StartupError) as info:
        await newer.open()

    assert str(info.value) == (
        f"the database '{db_path}' was written by a newer hookd (migrations 9999_from_the_future); "
        "upgrade hookd or point storage.path elsewhere"
    )
    assert not newer.is_open  # the connection was closed, not leaked
    names = [*((name,) for name, _ in MIGRATIONS), ("9999_from_the_future",)]
    assert query(db_path, "SELECT name FROM migrations ORDER BY name") == names
    await newer.close()


# -- ingest ---------------------------------------------------------------------------------------


async def test_ingest_stores_events_deliveries_rejections_and_checkpoint(store: SQLiteStore, db_path: Path) -> None:
    e1 = routed("e1", "h1", "h2", data={"n": 1})
    e2 = routed("e2", data={"n": 2})  # matched no hook: stored, no delivery
    rejection = Rejection(source="tail", position="events.jsonl:3", reason="invalid JSON", excerpt=b"{oops")
    checkpoint = Checkpoint(source="tail", path="/var/log/events.jsonl", device=5, inode=77, offset=300, line=3)

    result = await store.ingest([e1, e2], [rejection], [checkpoint], 100.0)

    assert result == IngestResult(inserted=frozenset({"e1", "e2"}), deliveries=2, pending_hooks=frozenset({"h1", "h2"}))
    assert query(db_path, "SELECT id, type, source, event_source, time, received_at, body FROM events ORDER BY id") == [
        ("e1", "order.created", "sock", "shop", "2026-01-31T12:00:00Z", 100.0, e1.event.body),
        ("e2", "order.created", "sock", "shop", "2026-01-31T12:00:00Z", 100.0, e2.event.body),
    ]
    assert deliveries(db_path) == [("e1", "h1", "pending", 0, 100.0), ("e1", "h2", "pending", 0, 100.0)]
    assert query(db_path, "SELECT source, position, reason, excerpt, at FROM rejected") == [
        ("tail", "events.jsonl:3", "invalid JSON", b"{oops", 100.0)
    ]
    assert await store.checkpoint("tail") == checkpoint


async def test_ingest_is_one_transaction(store: SQLiteStore, db_path: Path) -> None:
    bad_checkpoint = Checkpoint(source="tail", path=None, device=1, inode=1, offset=1, line=1)  # type: ignore[arg-type]

    with pytest.raises(sqlite3.IntegrityError):
        await store.ingest([routed("e1", "h1")], [Rejection("tail", "f:1", "bad")], [bad_checkpoint], 100.0)

    assert query(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM deliveries") == [(0,)]
    assert query(db_path, "SELECT count(*) FROM rejected") == [(0,)]
    # The connection is not left inside the failed transaction.
    assert await ingest(store, [routed("e1", "h1")]) == IngestResult(
        inserted=frozenset({"e1"}), deliveries=1, pending_hooks=frozenset({"h1"})
    )


async def test_an_already_stored_id_is_not_inserted_or_routed_again(store: SQLiteStore, db_path: Path) -> None:
    first = routed("e1", "h1", data={"v": "first"})
    await ingest(store, [first])

    result = await ingest(store, [routed("e1", "h1", "h2", data={"v": "second"}), routed("e3", "h2")], now=200.0)

    assert result == IngestResult(inserted=frozenset({"e3"}), deliveries=1, pending_hooks=frozenset({"h2"}))
    assert deliveries(db_path) == [("e1", "h1", "pending", 0, 100.0), ("e3", "h2", "pending", 0, 200.0)]
    assert query(db_path, "SELECT body FROM events WHERE id = 'e1'") == [(first.event.body,)]


async def test_duplicate_ids_within_one_batch_are_stored_once(store: SQLiteStore, db_path: Path) -> None:
    first = routed("e1", "h1", data={"v": "first"})

    result = await ingest(store, [first, routed("e1", "h2", data={"v": "second"})])

    assert result == IngestResult(inserted=frozenset({"e1"}), deliveries=1, pending_hooks=frozenset({"h1"}))
    assert deliveries(db_path) == [("e1", "h1", "pending", 0, 100.0)]
    assert query(db_path, "SELECT id, body FROM events") == [("e1", first.event.body)]


async def test_checkpoint_round_trip(store: SQLiteStore) -> None:
    assert await store.checkpoint("tail") is None

    one = Checkpoint(source="tail", path="/logs/a.jsonl", device=1, inode=2, offset=10, line=1)
    other = Checkpoint(source="tail-b", path="/logs/b.jsonl", device=1, inode=3, offset=99, line=9)
    await store.ingest([], [], [one, other], 100.0)
    later = Checkpoint(source="tail", path="/logs/a.jsonl", device=1, inode=4, offset=5, line=1, fingerprint="ab12")
    await store.ingest([routed("e1", "h1")], [], [later], 101.0)

    assert await store.checkpoint("tail") == later
    assert await store.checkpoint("tail-b") == other
    assert await store.checkpoint("nope") is None


# -- claim_due ------------------------------------------------------------------------------------


async def test_claim_due_respects_per_hook_limits(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed(f"e{i}", "h1", "h2") for i in range(3)] + [routed("e3", "h3")])

    claimed = await store.claim_due(100.0, {"h1": 2, "h2": 5, "h3": 0})

    assert sorted((d.event_id, d.hook) for d in claimed) == [
        ("e0", "h1"),
        ("e0", "h2"),
        ("e1", "h1"),
        ("e1", "h2"),
        ("e2", "h2"),
    ]
    assert [d.id for d in claimed] == sorted(d.id for d in claimed)
    again = await store.claim_due(100.0, {"h1": 2, "h2": 5, "h3": 0})
    assert [(d.event_id, d.hook) for d in again] == [("e2", "h1")]
    assert await store.claim_due(100.0, {"h1": 10, "h2": 10}) == []
    assert deliveries(db_path) == [
        ("e0", "h1", "delivering", 1, 100.0),
        ("e0", "h2", "delivering", 1, 100.0),
        ("e1", "h1", "delivering", 1, 100.0),
        ("e1", "h2", "delivering", 1, 100.0),
        ("e2", "h1", "delivering", 1, 100.0),
        ("e2", "h2", "delivering", 1, 100.0),
        ("e3", "h3", "pending", 0, 100.0),
    ]


async def test_claim_due_returns_the_event_body_and_the_attempt_number(store: SQLiteStore, db_path: Path) -> None:
    item = routed("e1", "h1", data={"amount": 7})
    await ingest(store, [item])

    [due] = await store.claim_due(100.0, {"h1": 1})

    assert due == DueDelivery(
        id=delivery_id(db_path, "e1", "h1"), event_id="e1", hook="h1", attempt=1, body=item.event.body, replay_of=None
    )


async def test_claim_due_only_claims_deliveries_that_are_due(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed("e1", "h1")], now=100.0)

    assert await store.claim_due(99.999, {"h1": 10}) == []
    [due] = await store.claim_due(100.0, {"h1": 10})  # next_at <= now
    await store.record_attempts([record(due, "pending", status=503, next_at=160.0)])

    assert await store.claim_due(159.0, {"h1": 10}) == []
    [retry] = await store.claim_due(160.0, {"h1": 10})
    assert (retry.id, retry.attempt) == (due.id, 2)
    assert deliveries(db_path) == [("e1", "h1", "delivering", 2, 160.0)]


# -- record_attempts ------------------------------------------------------------------------------


async def test_record_attempts_writes_the_attempt_and_moves_the_state(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed("e1", "ok", "bad", "later")])
    claimed = {d.hook: d for d in await store.claim_due(100.0, {"ok": 1, "bad": 1, "later": 1})}

    await store.record_attempts(
        [
            record(claimed["ok"], "delivered", status=200),
            record(claimed["bad"], "failed", status=404, error="HTTP 404"),
            record(claimed["later"], "pending", status=None, next_at=300.0, error="timed out"),
        ]
    )

    assert query(
        db_path,
        "SELECT hook, state, attempts, next_at, last_status, last_error, last_duration_s, updated_at "
        "FROM deliveries ORDER BY hook",
    ) == [
        ("bad", "failed", 1, None, 404, "HTTP 404", 0.5, 200.5),
        ("later", "pending", 1, 300.0, None, "timed out", 0.5, 200.5),
        ("ok", "delivered", 1, None, 200, None, 0.5, 200.5),
    ]
    ok_id = claimed["ok"].id
    assert query(
        db_path,
        "SELECT attempt, started_at, duration_s, status, error, request, response_headers, response_excerpt, "
        "outcome, next_at FROM attempts WHERE delivery_id = ?",
        ok_id,
    ) == [
        (
            1,
            200.0,
            0.5,
            200,
            None,
            '{"method":"POST","url":"https://example.com/hook","headers":{"Authorization":"***"}}',
            '{"content-type":"text/plain"}',
            "thanks",
            "delivered",
            None,
        )
    ]
    assert query(db_path, "SELECT outcome, next_at FROM attempts ORDER BY outcome") == [
        ("delivered", None),
        ("failed", None),
        ("pending", 300.0),
    ]


async def test_record_attempts_twice_with_the_same_record_is_idempotent(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed("e1", "h1")])
    [due] = await store.claim_due(100.0, {"h1": 1})
    outcome = record(due, "pending", status=503, next_at=300.0, error="HTTP 503")

    await store.record_attempts([outcome])
    once = (deliveries(db_path), query(db_path, "SELECT * FROM attempts"))
    await store.record_attempts([outcome])

    assert (deliveries(db_path), query(db_path, "SELECT * FROM attempts")) == once
    assert once[0] == [("e1", "h1", "pending", 1, 300.0)]
    assert len(once[1]) == 1


async def test_a_stale_record_does_not_move_a_delivery_claimed_again(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed("e1", "h1")])
    [first] = await store.claim_due(100.0, {"h1": 1})
    await store.record_attempts([record(first, "pending", status=503, next_at=150.0)])
    [second] = await store.claim_due(150.0, {"h1": 1})

    await store.record_attempts([record(first, "failed", status=500)])  # attempt 1 again, late

    assert second.attempt == 2
    assert deliveries(db_path) == [("e1", "h1", "delivering", 2, 150.0)]


async def test_record_attempts_with_nothing_is_a_no_op(store: SQLiteStore, db_path: Path) -> None:
    await store.record_attempts([])

    assert query(db_path, "SELECT count(*) FROM attempts") == [(0,)]


# -- next_due_at, recover_interrupted -------------------------------------------------------------


async def test_next_due_at_is_the_earliest_pending_of_the_given_hooks(store: SQLiteStore) -> None:
    assert await store.next_due_at(["h1"]) is None
    await ingest(store, [routed("e1", "h1")], now=100.0)
    await ingest(store, [routed("e2", "h2")], now=50.0)
    await ingest(store, [routed("e3", "h1")], now=70.0)

    assert await store.next_due_at(["h1", "h2"]) == 50.0
    assert await store.next_due_at(["h1"]) == 70.0
    assert await store.next_due_at(["h3"]) is None
    assert await store.next_due_at([]) is None

    await store.claim_due(60.0, {"h2": 1})  # delivering is not pending
    assert await store.next_due_at(["h2"]) is None


async def test_recover_interrupted_puts_delivering_back_to_pending_due_now(store: SQLiteStore, db_path: Path) -> None:
    await ingest(store, [routed("e1", "h1", "h2"), routed("e2", "h1")], now=100.0)
    await store.claim_due(100.0, {"h1": 5})

    assert await store.recover_interrupted(400.0) == 2
    assert await store.recover_interrupted(400.0) == 0

    assert deliveries(db_path) == [
        ("e1", "h1", "pending", 1, 400.0),
        ("e1", "h2", "pending", 0, 100.0),
        ("e2", "h1", "pending", 1, 400.0),
    ]
    [again] = await store.claim_due(400.0, {"h1": 1})
    assert again.attempt == 2


# -- prune ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [5000, 1])
async def test_prune_deletes_old_finished_work_and_keeps_pending_and_recent(
    store: SQLiteStore, db_path: Path, batch: int
) -> None:
    await store.ingest(
        [
            routed("old-done", "h1"),
            routed("old-failed", "h2"),
            routed("old-pending", "h3"),
            routed("old-recently-done", "h4"),
            routed("old-orphan"),
        ],
        [Rejection("tail", "f:1", "bad")],
        [],
        100.0,
    )
    await store.ingest([routed("new-orphan")], [Rejection("tail", "f:2", "bad")], [], 1000.0)
    claimed = {d.hook: d for d in await store.claim_due(100.0, {"h1": 1, "h2": 1, "h4": 1})}
    await store.record_attempts(
        [
            record(claimed["h1"], "delivered", started_at=140.0),
            record(claimed["h2"], "failed", status=410, started_at=140.0),
            record(claimed["h4"], "delivered", started_at=900.0),
        ]
    )

    removed = await store.prune(500.0, batch=batch)

    # 2 deliveries + their 2 attempts + 3 events (old-done, old-failed, old-orphan) + 1 rejection
    assert removed == 8
    assert query(db_path, "SELECT id FROM events ORDER BY id") == [
        ("new-orphan",),
        ("old-pending",),
        ("old-recently-done",),
    ]
    assert deliveries(db_path) == [
        ("old-pending", "h3", "pending", 0, 100.0),
        ("old-recently-done", "h4", "delivered", 1, None),
    ]
    assert query(db_path, "SELECT delivery_id FROM attempts") == [(claimed["h4"].id,)]
    assert query(db_path, "SELECT position FROM rejected") == [("f:2",)]
    assert await store.prune(500.0) == 0


async def test_ingest_can_store_deliveries_already_claimed(store: SQLiteStore, db_path: Path) -> None:
    """Hooks in RoutedEvent.claimed are stored as a claim leaves them: delivering, attempt 1 counted."""
    event = routed("e1", "h1", "h2")
    claimed_event = RoutedEvent(event.event, event.source, event.hooks, frozenset({"h1"}))

    result = await ingest(store, [claimed_event])

    assert [(d.event_id, d.hook, d.attempt, d.body) for d in result.claimed] == [("e1", "h1", 1, event.event.body)]
    assert result.pending_hooks == frozenset({"h2"})
    assert deliveries(db_path) == [("e1", "h1", "delivering", 1, None), ("e1", "h2", "pending", 0, 100.0)]
    # Not claimable again, and recovered like any claim after a crash.
    assert await store.claim_due(1000.0, {"h1": 10}) == []
    assert await store.recover_interrupted(2000.0) == 1


@pytest.mark.parametrize("yields", range(6))
async def test_a_transaction_cancelled_at_any_point_leaves_the_store_usable(store: SQLiteStore, yields: int) -> None:
    """A caller cancelled while BEGIN, a statement or COMMIT runs on the store's thread (the prune task
    at shutdown) must not leave the shared writer connection inside a transaction."""
    task = asyncio.create_task(store.prune(1e12))
    for _ in range(yields):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    result = await ingest(store, [routed(f"after-cancel-{yields}", "h1")])
    assert result.inserted == frozenset({f"after-cancel-{yields}"})


async def test_the_recorder_keeps_and_retries_a_batch_the_store_refused(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first write of outcomes fails (a locked or full database): the batch is kept and written
    on the next try, and the failure is remembered for health. Dropping it would leave the delivery
    `delivering`, unsent, until a restart."""
    import sqlite3 as sqlite

    from hookd import recorder as recording
    from hookd.health import RecentErrors

    class RefusingOnce(SQLiteStore):
        refused = 0

        async def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
            if self.refused == 0:
                self.refused += 1
                raise sqlite.OperationalError("database is locked")
            await super().record_attempts(records)

    monkeypatch.setattr(recording, "STORE_RETRY_S", 0.01)
    store = RefusingOnce(db_path)
    await store.open()
    try:
        await ingest(store, [routed("r-1", "h1")])
        [due] = await store.claim_due(1000.0, {"h1": 1})
        errors = RecentErrors()
        recorder = recording.Recorder(store, errors)
        recorder.start()
        recorder.add(record(due, "delivered"))
        await recorder.close()
        assert store.refused == 1
        assert deliveries(db_path) == [("r-1", "h1", "delivered", 1, None)]
        assert len(errors.recent(60)) == 1 and "database is locked" in errors.recent(60)[0]
    finally:
        await store.close()


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "executemany"])
async def test_large_batches_are_stored_and_recorded_whole(
    store: SQLiteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool
) -> None:
    """Rows go in as multi-row statements in chunks (1..128 rows); a batch of odd size must land
    every row exactly once, and every outcome must reach its own delivery, on SQLite with UPDATE ...
    FROM and (the fallback for SQLite < 3.33) without it."""
    from hookd.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_UPDATE_FROM", update_from)
    result = await ingest(store, [routed(f"big-{i:04d}", "h1", "h2") for i in range(301)])
    assert len(result.inserted) == 301 and result.deliveries == 602

    due = await store.claim_due(1000.0, {"h1": 1000, "h2": 1000})
    assert len(due) == 602
    states: list[DeliveryState] = ["delivered", "failed", "pending"]
    await store.record_attempts(
        [record(d, states[i % 3], next_at=5000.0 if states[i % 3] == "pending" else None) for i, d in enumerate(due)]
    )

    by_id = {d.id: states[i % 3] for i, d in enumerate(due)}
    stored = dict(query(db_path, "SELECT id, state FROM deliveries"))
    assert stored == by_id
    assert query(db_path, "SELECT count(*), count(DISTINCT delivery_id) FROM attempts") == [(602, 602)]
    assert query(db_path, "SELECT count(*) FROM events") == [(301,)]


async def test_ingest_stop_commits_and_answers_what_was_queued(store: SQLiteStore, db_path: Path) -> None:
    """Shutdown: batches submitted before stop() are committed and answered, then run() ends."""
    ingest = Ingest(store, Router([HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/")]), RealClock())
    running = asyncio.create_task(ingest.run())
    events = [event_from_object({"id": f"q{i}", "type": "t"}, now=1.0) for i in range(3)]
    answers = [asyncio.ensure_future(ingest.submit(Batch(events=[e], source="app"))) for e in events]
    await asyncio.sleep(0)  # the three are queued
    ingest.stop()
    await asyncio.wait_for(running, 10)
    assert [a.result()[0].id for a in answers] == ["q0", "q1", "q2"]
    with closing(sqlite3.connect(db_path)) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (3,)
        assert db.execute("SELECT count(*) FROM deliveries").fetchone() == (3,)


async def test_a_small_write_waits_for_a_lock_held_elsewhere_without_stalling_the_loop(
    store: SQLiteStore, db_path: Path
) -> None:
    """Small hot-path writes run on the event loop's thread when the connection is idle. When a CLI
    command holds the write lock, such a write must not wait there (the whole daemon would stop): it
    goes to the store's thread, which waits for the lock while the loop goes on."""
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        writing = asyncio.create_task(store.ingest([routed("locked", "h")], (), (), now=1.0))
        for _ in range(5):
            # This coroutine resumes while the write is pending: the loop is not stuck in it. Had the
            # write waited for the lock on the loop, it would be over (locked, after the busy timeout)
            # before this line ran again.
            await asyncio.sleep(0.02)
            assert not writing.done()
        other.execute("COMMIT")
        result = await asyncio.wait_for(writing, 10)
    finally:
        other.close()
    assert result.inserted == frozenset({"locked"})
    assert query(db_path, "SELECT id FROM events") == [("locked",)]


async def test_writes_keep_their_order_whether_they_run_here_or_on_the_store_thread(
    store: SQLiteStore, db_path: Path
) -> None:
    """A large write goes to the store's thread; a small one right behind it must not run ahead of it
    on the loop's thread."""
    big = [routed(f"big{i:03d}", "h") for i in range(INLINE_MAX_ROWS + 1)]
    first = asyncio.ensure_future(store.ingest(big, (), (), now=1.0))
    await asyncio.sleep(0)  # handed to the store's thread
    second = asyncio.ensure_future(store.ingest([routed("small", "h")], (), (), now=1.0))
    await asyncio.gather(first, second)
    ids = [row[0] for row in query(db_path, "SELECT id FROM events ORDER BY rowid")]
    assert ids == [r.event.id for r in big] + ["small"]
