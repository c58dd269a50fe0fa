"""The SQLite store: one file, WAL, one writer connection, one transaction per method.

Every method is one call to the connection's thread (store/thread.py) that runs the whole
transaction there: the cost of a thread-backed SQLite is the hop, not SQLite itself
(shared/PERFORMANCE.md), so a method carries a whole batch in one hop (executemany).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from itertools import chain
from pathlib import Path
from typing import Concatenate, Literal, ParamSpec, TypeVar

import orjson

from hookd.errors import StartupError
from hookd.ids import uuid7
from hookd.logs import LogLine
from hookd.sources.base import Checkpoint, Rejection
from hookd.store import sqlite_destinations as destinations
from hookd.store import sqlite_hook_state as hook_state
from hookd.store import sqlite_reads as reads
from hookd.store.base import (
    FINISHED_STATES,
    PARK_OFFSET_S,
    AttemptRecord,
    AttemptRow,
    AuditRow,
    BatchCandidates,
    BatchRow,
    BreakerRecord,
    DeliveryQuery,
    DeliveryRow,
    DueBatch,
    DueDelivery,
    EventRecord,
    HookActivity,
    HookPause,
    HookState,
    HookStats,
    IdTable,
    InboundRecord,
    IngestResult,
    PruneCounts,
    RejectionRow,
    ReplayItem,
    RoutedEvent,
)
from hookd.store.migrations import MIGRATIONS
from hookd.store.thread import ConnectionThread, Deferred

log = logging.getLogger("hookd.store")

P = ParamSpec("P")
T = TypeVar("T")

SLOW_TRANSACTION_S = 0.5
# A hot-path write of at most this many rows may run on the event loop's thread (_write_hot): ~1 ms.
INLINE_MAX_ROWS = 64
CHECKPOINT_INTERVAL_S = 1.0
WAL_WARN_PAGES = 100_000  # ~400 MB with 4 KiB pages
_MAX_VARS = 900  # stay well under SQLite's bound-parameter limit per statement


def _chunks(items: Sequence[str], size: int = _MAX_VARS) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# Rows go in as multi-row statements, not executemany: Python's sqlite3 releases the GIL around every
# step, and executemany steps once per row. With the event loop busy, each step then waited for the
# GIL: an outcome write of 64 rows took 11 ms for 1.6 ms of work (bench/). A statement per chunk of
# 2^k rows (at most 128) steps once per chunk and leaves few statement shapes to cache.
_ROWS_PER_STATEMENT = 128
# UPDATE ... FROM needs SQLite 3.33; older libraries take the per-row path.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


def _row_chunks(rows: Sequence[tuple[object, ...]]) -> list[Sequence[tuple[object, ...]]]:
    chunks = []
    start = 0
    while start < len(rows):
        size = min(_ROWS_PER_STATEMENT, 1 << ((len(rows) - start).bit_length() - 1))
        chunks.append(rows[start : start + size])
        start += size
    return chunks


@functools.lru_cache(maxsize=256)
def _values(columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return ", ".join([row] * rows)


def _flat(rows: Sequence[tuple[object, ...]]) -> list[object]:
    # chain in C, not a nested comprehension: ~25% less for the ~20 values of each row (timeit).
    return list(chain.from_iterable(rows))


def _insert_rows(db: sqlite3.Connection, head: str, rows: Sequence[tuple[object, ...]]) -> None:
    """`head` ("INSERT INTO t (a, b) VALUES") with every row, in few statements."""
    for chunk in _row_chunks(rows):
        db.execute(f"{head} {_values(len(chunk[0]), len(chunk))}", _flat(chunk))


def _transaction(
    db: sqlite3.Connection,
    body: Callable[Concatenate[sqlite3.Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`body` inside BEGIN IMMEDIATE ... COMMIT, rolled back if it or the COMMIT fails (a plain
    function: nothing can interrupt it half way)."""
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    return _body_and_commit(db, started, body, *args, **kwargs)


def _body_and_commit(
    db: sqlite3.Connection,
    started: float,
    body: Callable[Concatenate[sqlite3.Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    try:
        result = body(db, *args, **kwargs)
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # "no transaction is active" is fine
            db.execute("ROLLBACK")
        raise
    elapsed = time.perf_counter() - started
    if elapsed > SLOW_TRANSACTION_S:
        log.warning(
            LogLine("store: a slow transaction (slow disk, or a large checkpoint)", {"ms": round(elapsed * 1000)})
        )
    return result


class _BusyTimeout:
    """The writer connection's busy timeout: 0 for a transaction on the event loop's thread, which
    must not wait for another process's write lock (`_transaction_unless_locked`), and `ms` for each
    call on the connection's own thread, which may (`restore`, ConnectionThread's `before`). Set
    only when it changes: a PRAGMA to 0 and one back around every transaction on the event loop's
    thread cost ~7 µs each time, at a steady rate about one transaction per event (bench/)."""

    __slots__ = ("ms", "zero")

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.zero = False  # what the connection has now: set by `_setup`, so not 0

    def drop(self, db: sqlite3.Connection) -> None:
        if not self.zero:
            db.execute("PRAGMA busy_timeout = 0")
            self.zero = True

    def restore(self, db: sqlite3.Connection) -> None:
        if self.zero:
            db.execute(f"PRAGMA busy_timeout = {self.ms}")
            self.zero = False


def _transaction_unless_locked(
    db: sqlite3.Connection,
    busy: _BusyTimeout,
    body: Callable[Concatenate[sqlite3.Connection, P], T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`_transaction`, but Deferred at once, before anything is done, when another connection holds
    the write lock (a CLI command): run on the event loop's thread, it must not wait for it."""
    started = time.perf_counter()
    busy.drop(db)
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if e.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            raise Deferred from None
        raise
    return _body_and_commit(db, started, body, *args, **kwargs)


def _setup(db: sqlite3.Connection, synchronous: str, busy_timeout_ms: int, background_checkpoints: bool) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous.upper()}")
    db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    db.execute("PRAGMA temp_store=MEMORY")
    if background_checkpoints:
        # A checkpoint is where WAL mode fsyncs; run inside a commit it stalled ingest acks for
        # 100-400 ms (bench/). A second connection on its own thread does it beside the writer.
        db.execute("PRAGMA wal_autocheckpoint=0")


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    applied = {row[0] for row in db.execute("SELECT name FROM migrations").fetchall()}
    unknown = applied - {name for name, _ in MIGRATIONS}
    if unknown:
        raise StartupError(
            f"the database {str(path)!r} was written by a newer hookd (migrations "
            f"{', '.join(sorted(unknown))}); upgrade hookd or point storage.path elsewhere"
        )
    for name, sql in MIGRATIONS:
        if name in applied:
            continue
        for statement in _statements(sql):
            db.execute(statement)
        db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))


def _statements(sql: str) -> list[str]:
    """A migration's statements, in order: split at each `;` that ends one (SQLite's own test), so a
    trigger's body, whose statements end in `;` too, stays whole."""
    statements, current = [], ""
    for part in sql.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements


def _wal_checkpoint(db: sqlite3.Connection, mode: str) -> tuple[int, int, int] | None:
    row = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return (int(row[0]), int(row[1]), int(row[2])) if row is not None else None


def _close_checkpoint(db: sqlite3.Connection) -> None:
    # Tidying only (leave a small WAL behind): never wait for a reader elsewhere to finish, which
    # the busy timeout would let hold a stop up for 10 s.
    with contextlib.suppress(sqlite3.Error):
        db.execute("PRAGMA busy_timeout=0")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class SQLiteStore:
    """Implements hookd.store.base.Store on one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Literal["normal", "full"] = "normal",
        busy_timeout_s: float = 10.0,
        background_checkpoints: bool = True,
        checkpoint_on_close: bool = True,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout_s = busy_timeout_s
        self._busy = _BusyTimeout(int(busy_timeout_s * 1000))
        # One connection and thread for every read and write: calls run one at a time, in order.
        self._db = ConnectionThread("hookd-sqlite", before=self._busy.restore)
        self.background_checkpoints = background_checkpoints
        # False for a short-lived CLI beside a running daemon: a TRUNCATE checkpoint takes the write
        # lock and fsyncs, stalling the daemon's commits; the daemon checkpoints the WAL itself.
        self.checkpoint_on_close = checkpoint_on_close
        self._checkpointer = ConnectionThread("hookd-sqlite-checkpoint")
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def is_open(self) -> bool:
        return self._db.is_open

    async def _write(
        self, body: Callable[Concatenate[sqlite3.Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._db.run(_transaction, body, *args, **kwargs)

    async def _write_hot(
        self, rows: int, body: Callable[Concatenate[sqlite3.Connection, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A hot-path write (ingest, claims, outcomes): run in the caller's thread when it is small
        and the connection is idle (ConnectionThread.run_here_if_idle says why). Not with
        synchronous=full, whose commits wait for an fsync that would stall the event loop; not when
        another process holds the write lock (it goes to the thread, which waits for it)."""
        if self.synchronous != "normal" or rows > INLINE_MAX_ROWS:
            return await self._write(body, *args, **kwargs)
        busy = self._busy
        return await self._db.run_here_if_idle(
            lambda db: _transaction_unless_locked(db, busy, body, *args, **kwargs),
            lambda db: _transaction(db, body, *args, **kwargs),
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._db.is_open:
            return
        self._closed = False
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StartupError(
                f"cannot create the database directory {str(directory)!r}: {e.strerror}; "
                "create it or change storage.path"
            ) from None
        try:
            # Events hold producers' payloads: the file is the owner's alone whatever the umask (SQLite
            # gives its -wal and -shm files the database file's mode).
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError as e:
            raise StartupError(
                f"cannot create the database {str(self.path)!r}: {e.strerror}; check the directory's "
                "permissions or change storage.path"
            ) from None
        busy_ms = int(self.busy_timeout_s * 1000)
        self._busy = _BusyTimeout(busy_ms)  # a new connection: its timeout is set by connect and _setup
        self._db.before = self._busy.restore
        try:
            await self._db.open(self.path, timeout_s=self.busy_timeout_s)
            await self._db.run(_setup, self.synchronous, busy_ms, self.background_checkpoints)
            await self._write(_migrate, self.path)
            if self.background_checkpoints:
                await self._checkpointer.open(self.path, timeout_s=self.busy_timeout_s)
                self._checkpoint_task = asyncio.create_task(self._checkpoint_forever(), name="hookd-checkpoint")
        except sqlite3.DatabaseError as e:
            await self._close_quietly()
            raise StartupError(
                f"cannot open the database {str(self.path)!r}: {e}; check the path, its permissions, "
                "and that it is a hookd SQLite file"
            ) from None
        except BaseException:
            await self._close_quietly()  # a newer database (StartupError) must not leak the connection
            raise

    async def _checkpoint_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                row = await self._checkpointer.run(_wal_checkpoint, "PASSIVE")
            except sqlite3.Error as e:
                log.warning(LogLine("store: WAL checkpoint failed; will try again", {"error": str(e)}))
                continue
            if row is not None and row[1] > WAL_WARN_PAGES and row[2] < row[1]:
                log.warning(
                    LogLine("store: WAL pages not yet checkpointed; a long read may be blocking it", {"pages": row[1]})
                )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._close_quietly()  # after the calls already queued on the connection's thread

    async def _close_quietly(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
            self._checkpoint_task = None
        await self._checkpointer.close()
        if self._db.is_open and self.checkpoint_on_close:
            await self._db.run(_close_checkpoint)
        await self._db.close()

    # -- ingest ------------------------------------------------------------------------------------

    async def ingest(
        self,
        routed: Sequence[RoutedEvent],
        rejections: Sequence[Rejection],
        checkpoints: Sequence[Checkpoint],
        now: float,
    ) -> IngestResult:
        return await self._write_hot(len(routed), _ingest, routed, rejections, checkpoints, now)

    async def checkpoint(self, source: str) -> Checkpoint | None:
        def read(db: sqlite3.Connection) -> Checkpoint | None:
            row = db.execute(
                'SELECT source, path, device, inode, "offset", line, fingerprint FROM checkpoints WHERE source = ?',
                (source,),
            ).fetchone()
            if row is None:
                return None
            return Checkpoint(
                source=row[0], path=row[1], device=row[2], inode=row[3], offset=row[4], line=row[5], fingerprint=row[6]
            )

        return await self._db.run(read)

    # -- delivery ----------------------------------------------------------------------------------

    async def claim_due(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        return await self._write_hot(sum(limits.values()), _claim_due, now, limits)

    async def claim_retries(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        return await self._write_hot(sum(limits.values()), _claim_due, now, limits, retries_only=True)

    async def next_retry_at(self, hook: str) -> float | None:
        return await self._db.run(reads.next_retry_at, hook)

    async def release(self, delivery_ids: Sequence[str], now: float, *, batches: Sequence[str] = ()) -> None:
        if not delivery_ids and not batches:
            return

        def release(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, next_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'delivering'",
                [(now, now, i) for i in delivery_ids],
            )
            if batches:
                _release_batches(db, batches, now)

        await self._write(release)

    # -- batches (a hook with `batch:`; hookd.batching) ---------------------------------------------

    async def claim_batches(self, hook: str, now: float, limit: int) -> list[DueBatch]:
        return await self._write_hot(limit, _claim_batches, hook, now, limit)

    async def batch_candidates(self, hook: str, now: float, limit: int, known: AbstractSet[str]) -> BatchCandidates:
        return await self._db.run(reads.batch_candidates, hook, now, limit, known)

    async def claim_formed(
        self, hook: str, now: float, batches: Sequence[tuple[str, Sequence[str]]], singles: Sequence[str]
    ) -> tuple[list[DueBatch], list[DueDelivery]]:
        if not batches and not singles:
            return [], []
        rows = sum(len(m) for _, m in batches) + len(singles)
        return await self._write_hot(rows, _claim_formed, hook, now, batches, singles)

    async def batch(self, batch_id: str) -> BatchRow | None:
        return await self._db.run(reads.batch, batch_id)

    async def delivery_destinations(self, ids: Sequence[str]) -> dict[str, str]:
        """The destination host stored with each of `ids` that has one (a hook with a templated url host)."""
        return await self._db.run(reads.delivery_destinations, ids)

    async def parked_destinations(self, hooks: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per hook, its destinations with parked deliveries (a closed gate), and how many."""
        return await self._db.run(reads.parked_destinations, hooks, PARK_OFFSET_S)

    async def departed(self, batch_id: str) -> list[DeliveryRow]:
        """The deliveries that left batch `batch_id` at a split (after a 413), as they are now."""
        return await self._db.run(reads.departed, batch_id)

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
        if records:
            batches, members = _batch_updates(records)
            # Deliveries with an ordering key (or batches of such) that end for good now: the next of each
            # one's key goes.
            ended = [(r.delivery_id, r.started_at) for r in records if r.ordered and r.state in FINISHED_STATES]
            last = hook_state.last_outcomes(records)  # one hook_state row per hook of the batch
            if ended:
                await self._write_hot(
                    len(records) + members, _record_attempts_and_advance, _attempt_rows(records),
                    _delivery_updates(records), batches, ended, last,
                )  # fmt: skip
                return
            await self._write_hot(
                len(records) + members, _record_attempts, _attempt_rows(records), _delivery_updates(records), batches,
                last,
            )  # fmt: skip

    async def next_due_at(self, hooks: Sequence[str]) -> float | None:
        return await self._db.run(reads.next_due_at, hooks) if hooks else None

    async def recover_interrupted(self, now: float) -> int:
        def recover(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "UPDATE deliveries SET state = 'pending', next_at = ?, updated_at = ? WHERE state = 'delivering'",
                (now, now),
            )
            return cur.rowcount

        return await self._write(recover)

    async def unorder(self, hooks: Sequence[str], now: float) -> int:
        if not hooks:
            return 0

        def unorder(db: sqlite3.Connection) -> int:
            # Only deliveries waiting for their key have a pending state and no due time: a seek on
            # deliveries_due (hook, next_at) per hook, nothing for a hook with none.
            return sum(
                db.execute(
                    "UPDATE deliveries SET next_at = ?, updated_at = ? "
                    "WHERE state = 'pending' AND hook = ? AND next_at IS NULL",
                    (now, now, hook),
                ).rowcount
                for hook in hooks
            )

        return await self._write(unorder)

    async def pending_by_hook(self) -> dict[str, int]:
        return await self._db.run(reads.pending_by_hook)

    # -- retention ---------------------------------------------------------------------------------

    async def prune(self, older_than: float, *, batch: int = 5000) -> int:
        """Deletes in short transactions so ingest is never held up for long."""
        return (await self.prune_counts(older_than, batch=batch)).total

    async def prune_counts(self, older_than: float, *, batch: int = 5000) -> PruneCounts:
        deliveries = attempts = 0
        while True:
            n_attempts, n = await self._write(_prune_deliveries, older_than, batch)
            attempts += n_attempts
            deliveries += n
            if n < batch:
                break
            await asyncio.sleep(0)  # let ingest and delivery in between
        others = []
        for sql in (
            "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE received_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.event_id = events.id) LIMIT ?)",
            "DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE at < ? LIMIT ?)",
        ):
            total = 0
            while True:
                n = await self._write(_delete_rows, sql, older_than, batch)
                total += n
                if n < batch:
                    break
                await asyncio.sleep(0)
            others.append(total)
        return PruneCounts(deliveries=deliveries, attempts=attempts, events=others[0], rejected=others[1])

    # -- history and replay (read by `hookd history`, written by `hookd replay`) ---------------------

    async def deliveries(self, query: DeliveryQuery) -> list[DeliveryRow]:
        return await self._db.run(reads.deliveries, query)

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        rows = await self.deliveries(DeliveryQuery(ids=(delivery_id,)))
        return rows[0] if rows else None

    async def event(self, event_id: str) -> EventRecord | None:
        return await self._db.run(reads.event, event_id)

    async def known_events(self, event_ids: Sequence[str]) -> frozenset[str]:
        return await self._db.run(reads.known_events, event_ids)

    async def attempts(self, delivery_id: str) -> list[AttemptRow]:
        return await self._db.run(reads.attempts, delivery_id)

    async def stats(self, since: float, until: float) -> list[HookStats]:
        return await self._db.run(reads.stats, since, until)

    async def note_config(self, sha256: str, path: str, at: float) -> None:
        await self._write(
            _execute, "INSERT INTO config_runs (started_at, sha256, path) VALUES (?, ?, ?)", (at, sha256, path)
        )

    async def config_at(self, at: float) -> tuple[str, str, float] | None:
        return await self._db.run(reads.config_at, at)

    async def rejections(self, since: float, sources: Sequence[str], limit: int) -> list[RejectionRow]:
        return await self._db.run(reads.rejections, since, sources, limit)

    async def withdraw(self, query: DeliveryQuery, now: float, reason: str) -> int:
        where, params = reads.where_clause(query)
        queued = f"{where} AND" if where else " WHERE"

        def withdraw(db: sqlite3.Connection) -> int:
            rows = db.execute(
                "UPDATE deliveries SET state = 'cancelled', next_at = NULL, updated_at = ?, last_error = ? "
                "WHERE id IN (SELECT d.id FROM deliveries d LEFT JOIN events e ON e.id = d.event_id"
                f"{queued} d.state = 'pending') RETURNING hook, ordering_key, batch_id",
                [now, reason, *params],
            ).fetchall()
            # A withdrawn head lets the next delivery of its key go, as a delivery that failed for good does.
            for hook, key in {(h, k) for h, k, _ in rows if k is not None}:
                _advance_key(db, hook, key, now)
            _leave_batches(db, {b for _, _, b in rows if b is not None}, now)
            return len(rows)

        return await self._write(withdraw)

    async def ids_with_prefix(self, table: IdTable, prefix: str, limit: int) -> list[str]:
        return await self._db.run(reads.ids_with_prefix, table, prefix, limit)

    async def unique_prefix_lengths(self, ids: Sequence[str], min_length: int) -> dict[str, int]:
        return await self._db.run(reads.unique_prefix_lengths, ids, min_length)

    async def hooks_with_deliveries(self, names: Sequence[str]) -> frozenset[str]:
        return await self._db.run(reads.hooks_with_deliveries, names)

    async def hook_names(self) -> list[str]:
        return await self._db.run(reads.hook_names)

    # -- run-time hook state (hookd/store/sqlite_hook_state.py) --------------------------------------

    async def hook_states(self) -> dict[str, HookState]:
        return await self._db.run(hook_state.hook_states)

    async def pause_hook(self, hook: str, pause: HookPause) -> HookPause | None:
        return await self._write(hook_state.pause_hook, hook, pause)

    async def mark_pause_announced(self, hook: str, paused_at: float) -> None:
        await self._write(hook_state.mark_pause_announced, hook, paused_at)

    async def resume_hook(self, hook: str, now: float) -> HookPause | None:
        return await self._write(hook_state.resume_hook, hook, now)

    async def mark_resume_announced(self, hook: str) -> None:
        await self._write(hook_state.mark_resume_announced, hook)

    async def set_breaker(self, hook: str, breaker: BreakerRecord | None, now: float) -> None:
        await self._write(hook_state.set_breaker, hook, breaker, now)

    async def clear_breakers(self, now: float) -> list[str]:
        return await self._write(hook_state.clear_breakers, now)

    # -- destinations of hooks with a templated url host (hookd/store/sqlite_destinations.py) --------

    async def destination_pauses(self) -> dict[str, dict[str, HookPause]]:
        return await self._db.run(destinations.destination_pauses)

    async def mark_destination_announced(self, hook: str, destination: str) -> None:
        await self._write(destinations.mark_destination_announced, hook, destination)

    async def pause_destination(self, hook: str, destination: str, pause: HookPause) -> HookPause | None:
        return await self._write(destinations.pause_destination, hook, destination, pause)

    async def resume_destinations(self, hook: str, destination: str | None, now: float) -> dict[str, HookPause]:
        return await self._write(destinations.resume_destinations, hook, destination, now)

    async def park(self, hook: str, destination: str, delivery_ids: Sequence[str], now: float) -> int:
        return await self._write(destinations.park, hook, destination, delivery_ids, now)

    async def unpark(self, hook: str, destination: str | None, now: float, limit: int | None = None) -> int:
        return await self._write(destinations.unpark, hook, destination, now, limit)

    async def unpark_at_start(self, templated: Sequence[str], hooks: Sequence[str], now: float) -> int:
        return await self._write(destinations.unpark_at_start, templated, hooks, now)

    async def hook_activity(self) -> dict[str, HookActivity]:
        return await self._db.run(hook_state.hook_activity)

    async def replay(self, items: Sequence[ReplayItem], now: float) -> list[str]:
        if not items:
            return []
        ids = [uuid7() for _ in items]

        def insert(db: sqlite3.Connection) -> None:
            # A replay with an ordering key goes behind the unfinished deliveries of its (hook, key).
            busy: set[tuple[str, str]] = set()
            rows = []
            for i, item in zip(ids, items, strict=True):
                next_at: float | None = item.next_at
                key = item.ordering_key
                if key is not None:
                    if (item.hook, key) in busy or _key_busy(db, item.hook, key):
                        next_at = None
                    busy.add((item.hook, key))
                rows.append((i, item.event_id, item.hook, next_at, now, now, item.replay_of, key))
            db.executemany(
                "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at, "
                "replay_of, ordering_key) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)",
                rows,
            )

        await self._write(insert)
        return ids

    async def audit(self, entry: AuditRow) -> None:
        await self._write(
            _execute,
            "INSERT INTO audit (at, action, target, detail, origin) VALUES (?, ?, ?, ?, ?)",
            (entry.at, entry.action, entry.target, entry.detail, entry.origin),
        )

    async def audit_rows(self, since: float, limit: int) -> list[AuditRow]:
        return await self._db.run(reads.audit_rows, since, limit)


# -- transaction bodies (run on the connection's thread, inside _transaction) ----------------------


def _ingest(
    db: sqlite3.Connection,
    routed: Sequence[RoutedEvent],
    rejections: Sequence[Rejection],
    checkpoints: Sequence[Checkpoint],
    now: float,
) -> IngestResult:
    ids = list(dict.fromkeys(r.event.id for r in routed))
    existing: dict[str, str] = {}  # id -> the source that stored it
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        existing.update(db.execute(f"SELECT id, source FROM events WHERE id IN ({marks})", chunk).fetchall())
    seen = set(existing)
    event_rows = []
    delivery_rows: list[tuple[object, ...]] = []
    failed_rows: list[tuple[object, ...]] = []  # never attempted: the filter failed on the event
    failed: list[tuple[str, str, str]] = []  # their (delivery id, event id, hook)
    claimed: list[DueDelivery] = []
    pending_hooks: set[str] = set()
    keyed_rows: list[tuple[object, ...]] = []  # deliveries with an ordering key
    busy: set[tuple[str, str]] = set()  # (hook, key) with an unfinished delivery, stored or in this batch
    dest_rows: list[tuple[object, ...]] = []  # deliveries of hooks with a templated url host
    inbound_rows: list[tuple[object, ...]] = []  # what http sources keep beside their events
    for r in routed:
        e = r.event
        if e.id in seen:
            continue  # already stored, or twice in this batch: the first one wins
        seen.add(e.id)
        event_rows.append((e.id, e.type, r.source, e.source, e.time, now, e.body))
        inbound = None
        if e.inbound is not None:
            inbound = InboundRecord.of(e)
            assert inbound is not None
            verdict = e.inbound.verification
            inbound_rows.append(
                (e.id, inbound.request, inbound.raw_body, None if verdict is None else orjson.dumps(verdict))
            )
        keys = r.keys
        dests = r.destinations
        for hook in r.hooks:
            delivery_id = uuid7()
            if dests is not None and hook in dests:
                # A hook with a templated url host: its row carries the destination (and maybe a key).
                dest = dests[hook]
                key = keys.get(hook) if keys is not None else None
                row: tuple[object, ...]
                if key is not None and ((hook, key) in busy or _key_busy(db, hook, key)):
                    busy.add((hook, key))
                    row = (delivery_id, e.id, hook, "pending", 0, None, now, now, key, dest)
                elif hook in r.claimed:
                    row = (delivery_id, e.id, hook, "delivering", 1, now if key is not None else None, now, now, key,
                           dest)  # fmt: skip
                    claimed.append(DueDelivery(delivery_id, e.id, hook, 1, e.body, None, key, dest, inbound))
                else:
                    row = (delivery_id, e.id, hook, "pending", 0, now, now, now, key, dest)
                    pending_hooks.add(hook)
                if key is not None:
                    busy.add((hook, key))
                dest_rows.append(row)
            elif keys is not None and hook in keys:
                key = keys[hook]
                if (hook, key) in busy or _key_busy(db, hook, key):
                    busy.add((hook, key))  # waits for the key: no due time, never claimed now
                    keyed_rows.append((delivery_id, e.id, hook, "pending", 0, None, now, now, key))
                    continue
                busy.add((hook, key))
                if hook in r.claimed:  # due now, so that it counts as the key's head (see _advance_key)
                    keyed_rows.append((delivery_id, e.id, hook, "delivering", 1, now, now, now, key))
                    claimed.append(DueDelivery(delivery_id, e.id, hook, 1, e.body, None, key, None, inbound))
                else:
                    keyed_rows.append((delivery_id, e.id, hook, "pending", 0, now, now, now, key))
                    pending_hooks.add(hook)
            elif hook in r.claimed:
                delivery_rows.append((delivery_id, e.id, hook, "delivering", 1, None, now, now))
                claimed.append(DueDelivery(delivery_id, e.id, hook, 1, e.body, None, None, None, inbound))
            else:
                delivery_rows.append((delivery_id, e.id, hook, "pending", 0, now, now, now))
                pending_hooks.add(hook)
        for hook, reason in r.failed.items():
            failed_id = uuid7()
            failed_rows.append((failed_id, e.id, hook, "failed", 0, None, now, now, reason))
            failed.append((failed_id, e.id, hook))
    if event_rows:
        head = "INSERT INTO events (id, type, source, event_source, time, received_at, body) VALUES"
        _insert_rows(db, head, event_rows)
    if inbound_rows:
        _insert_rows(db, "INSERT INTO inbound (event_id, request, raw_body, verification) VALUES", inbound_rows)
    if delivery_rows:
        _insert_rows(
            db,
            "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at) VALUES",
            delivery_rows,
        )
    if keyed_rows:
        _insert_rows(
            db,
            "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at, "
            "ordering_key) VALUES",
            keyed_rows,
        )
    if dest_rows:
        _insert_rows(
            db,
            "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at, "
            "ordering_key, destination) VALUES",
            dest_rows,
        )
    if failed_rows:
        _insert_rows(
            db,
            "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at, last_error) "
            "VALUES",
            failed_rows,
        )
    if rejections:
        db.executemany(
            "INSERT INTO rejected (source, position, reason, excerpt, at) VALUES (?, ?, ?, ?, ?)",
            [(j.source, j.position, j.reason, j.excerpt, now) for j in rejections],
        )
    if checkpoints:
        db.executemany(
            'INSERT OR REPLACE INTO checkpoints (source, path, device, inode, "offset", line, fingerprint, updated_at) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.source, c.path, c.device, c.inode, c.offset, c.line, c.fingerprint, now) for c in checkpoints],
        )
    return IngestResult(
        stored_by=existing,
        inserted=frozenset(row[0] for row in event_rows),
        deliveries=len(delivery_rows) + len(keyed_rows) + len(dest_rows) + len(failed_rows),
        claimed=tuple(claimed),
        pending_hooks=frozenset(pending_hooks),
        failed=tuple(failed),
    )


def _claim_due(
    db: sqlite3.Connection, now: float, limits: Mapping[str, int], *, retries_only: bool = False
) -> list[DueDelivery]:
    claimed: list[tuple[str, str, str, int, str | None, str | None, str | None]] = []
    for hook, limit in limits.items():
        if limit <= 0:
            continue
        claimed.extend(
            db.execute(
                _CLAIM_RETRIES if retries_only else _CLAIM,
                (now, hook, now, limit),
            ).fetchall()
        )
    if not claimed:
        return []
    stored = reads.stored_events(db, [row[1] for row in claimed])
    claimed.sort(key=lambda row: row[0])  # uuid7 ids: oldest first
    due = []
    for d, e, h, a, r, k, t in claimed:
        body, inbound = stored.get(e, reads.NO_EVENT)
        due.append(DueDelivery(d, e, h, a, body, r, k, t, inbound))
    return due


_CLAIM = (
    "UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, updated_at = ? "
    "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND hook = ? AND next_at <= ? "
    "ORDER BY next_at, id LIMIT ?) "
    "RETURNING id, event_id, hook, attempts, replay_of, ordering_key, destination"
)
# Due retries only (a delivery given back unsent has its attempt uncounted, so attempts > 0 means one
# was made): a rate-limited hook claims these first. A range of deliveries_retry_due, the partial index
# of exactly these rows (migration 0008), so the hook's fresh backlog is never walked.
_CLAIM_RETRIES = (
    "UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, updated_at = ? "
    "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND hook = ? AND next_at <= ? "
    "AND attempts > 0 ORDER BY next_at, id LIMIT ?) "
    "RETURNING id, event_id, hook, attempts, replay_of, ordering_key, destination"
)


# With the ordering key: a member or single of an ordered hook that ends for good must release its key
# (the recorder looks the key up only for an attempt marked `ordered`).
_MEMBER_COLUMNS = "id, event_id, hook, attempts, replay_of, ordering_key"


def _due(
    rows: Sequence[tuple[str, str, str, int, str | None, str | None]], bodies: Mapping[str, reads.StoredEvent]
) -> list[DueDelivery]:
    """Claimed rows (_MEMBER_COLUMNS) as DueDelivery, oldest first (uuid7 ids sort by creation)."""
    due = []
    for d, e, h, a, r, k in sorted(rows, key=lambda row: row[0]):
        body, inbound = bodies.get(e, reads.NO_EVENT)
        due.append(DueDelivery(d, e, h, a, body, r, k, None, inbound))
    return due


def _claim_batches(db: sqlite3.Connection, hook: str, now: float, limit: int) -> list[DueBatch]:
    """Batches whose members are due again (a retry, or one a crash left `delivering`, recovered)."""
    if limit <= 0:
        return []
    ids = [
        row[0]
        for row in db.execute(
            "SELECT batch_id FROM deliveries WHERE state = 'pending' AND hook = ? AND batch_id IS NOT NULL "
            "AND next_at <= ? GROUP BY batch_id ORDER BY min(next_at), batch_id LIMIT ?",
            (hook, now, limit),
        ).fetchall()
    ]
    claimed: list[tuple[str, int, list[tuple[str, str, str, int, str | None, str | None]]]] = []
    for batch_id in ids:
        members = db.execute(
            f"UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, updated_at = ? "
            f"WHERE batch_id = ? AND state = 'pending' RETURNING {_MEMBER_COLUMNS}",
            (now, batch_id),
        ).fetchall()
        row = db.execute("UPDATE batches SET attempts = attempts + 1 WHERE id = ? RETURNING attempts", (batch_id,))
        counted = row.fetchone()
        attempt = int(counted[0]) if counted is not None else max(m[3] for m in members)
        claimed.append((batch_id, attempt, members))
    bodies = reads.stored_events(db, [m[1] for _, _, members in claimed for m in members])
    return [_batch(b, hook, a, _due(m, bodies)) for b, a, m in claimed]


def _batch(batch_id: str, hook: str, attempt: int, members: list[DueDelivery]) -> DueBatch:
    return DueBatch(
        id=batch_id, event_id=batch_id, hook=hook, attempt=attempt, body=b"", replay_of=None, members=tuple(members)
    )


def _claim_formed(
    db: sqlite3.Connection,
    hook: str,
    now: float,
    batches: Sequence[tuple[str, Sequence[str]]],
    singles: Sequence[str],
) -> tuple[list[DueBatch], list[DueDelivery]]:
    # Only deliveries still pending in no batch: one withdrawn (replay --cancel) since they were read is left out.
    claim = (
        "UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, updated_at = ?, batch_id = ? "
        "WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending' AND batch_id IS NULL "
        f"RETURNING {_MEMBER_COLUMNS}"
    )
    formed = []
    for batch_id, member_ids in batches:
        members = db.execute(claim, (now, batch_id, orjson.dumps(list(member_ids)).decode())).fetchall()
        if members:
            db.execute(
                "INSERT INTO batches (id, hook, created_at, attempts, members) VALUES (?, ?, ?, 1, ?)",
                (batch_id, hook, now, len(members)),
            )
            formed.append((batch_id, members))
    alone = db.execute(claim, (now, None, orjson.dumps(list(singles)).decode())).fetchall() if singles else []
    # Each member with its event: what a retry renders again, and what a failure's alert reads.
    bodies = reads.stored_events(db, [row[1] for _, members in formed for row in members] + [row[1] for row in alone])
    return [_batch(b, hook, 1, _due(m, bodies)) for b, m in formed], _due(alone, bodies)


def _release_batches(db: sqlite3.Connection, batch_ids: Sequence[str], now: float) -> None:
    db.executemany(
        "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, next_at = ?, updated_at = ? "
        "WHERE batch_id = ? AND state = 'delivering'",
        [(now, now, b) for b in batch_ids],
    )
    db.executemany("UPDATE batches SET attempts = attempts - 1 WHERE id = ?", [(b,) for b in batch_ids])


def _leave_batches(db: sqlite3.Connection, batch_ids: AbstractSet[str], now: float) -> None:
    """Some deliveries of these batches (waiting for their retry) were withdrawn: the others leave them,
    to go again, when due, in a new batch under a new id. Retried without them, a batch would carry
    other bytes under the same webhook-id (issue 21, attacker's finding). The batch's requests stay in
    their history (batch_departures); the withdrawn ones stay in it, cancelled."""
    if not batch_ids:
        return
    ids = sorted(batch_ids)
    db.executemany(
        "INSERT INTO batch_departures (delivery_id, batch_id) SELECT id, batch_id FROM deliveries "
        "WHERE batch_id = ? AND state = 'pending' ON CONFLICT DO NOTHING",
        [(b,) for b in ids],
    )
    db.executemany(
        "UPDATE deliveries SET batch_id = NULL, updated_at = ? WHERE batch_id = ? AND state = 'pending'",
        [(now, b) for b in ids],
    )


def _attempt_rows(records: Sequence[AttemptRecord]) -> list[tuple[object, ...]]:
    return [
        (
            r.delivery_id,
            r.attempt,
            r.started_at,
            r.duration_s,
            r.status,
            r.error or None,
            orjson.dumps(r.request).decode(),
            orjson.dumps(dict(r.response_headers)).decode(),
            r.response_excerpt,
            r.state,
            r.next_at,
            orjson.dumps([(h.url, h.status) for h in r.hops]).decode() if r.hops else None,
        )
        for r in records
    ]


def _delivery_updates(records: Sequence[AttemptRecord]) -> list[tuple[object, ...]]:
    return [
        (
            r.state,
            r.next_at,
            r.status,
            r.error or None,
            r.duration_s,
            r.started_at + r.duration_s,
            r.delivery_id,
            r.attempt,
        )
        for r in records
        if not r.members  # a batch's request: _batch_updates
    ]


def _batch_updates(records: Sequence[AttemptRecord]) -> tuple[list[tuple[object, ...]], int]:
    """A batch request's outcome for each of its members (all `delivering` under its id: one statement
    through the batch index, not a row per member; a split batch's members leave it), and how many
    members in all."""
    rows: list[tuple[object, ...]] = []
    members = 0
    for r in records:
        if r.members:
            rows.append((r.state, r.next_at, r.status, r.error or None, r.duration_s, r.started_at + r.duration_s,
                         r.split, r.delivery_id))  # fmt: skip
            members += len(r.members)
    return rows, members


def _record_attempts(
    db: sqlite3.Connection,
    attempt_rows: Sequence[tuple[object, ...]],
    updates: Sequence[tuple[object, ...]],
    batch_updates: Sequence[tuple[object, ...]] = (),
    last: Sequence[tuple[str, float | None, float | None, float]] = (),
) -> None:
    if last:
        hook_state.record_last_outcomes(db, last)
    _insert_rows(
        db,
        "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_s, status, error, "
        "request, response_headers, response_excerpt, outcome, next_at, hops) VALUES",
        attempt_rows,
    )
    if batch_updates:
        split = [(row[-1],) for row in batch_updates if row[-2]]
        if split:
            # The members keep the batch's requests in their history (history reads batch_departures).
            db.executemany(
                "INSERT INTO batch_departures (delivery_id, batch_id) SELECT id, batch_id FROM deliveries "
                "WHERE batch_id = ? AND state = 'delivering' ON CONFLICT DO NOTHING",
                split,
            )
        db.executemany(
            "UPDATE deliveries SET state = ?1, next_at = ?2, last_status = ?3, last_error = ?4, last_duration_s = ?5, "
            # A split batch's members leave it: in no batch, they are candidates for new ones again. The
            # split spends no attempt of theirs (the one counted at the claim is given back): a body limit
            # is no delivery failure, and attempts spent on it ran past max_attempts (issue 21, attacker's
            # finding). Splits are bounded without: each halves the batch, down to one.
            "updated_at = ?6, batch_id = iif(?7, NULL, batch_id), attempts = attempts - iif(?7, 1, 0) "
            "WHERE batch_id = ?8 AND state = 'delivering'",
            batch_updates,
        )
    if not updates:
        return
    if not _UPDATE_FROM:
        db.executemany(
            "UPDATE deliveries SET state = ?, next_at = ?, last_status = ?, last_error = ?, "
            "last_duration_s = ?, updated_at = ? WHERE id = ? AND attempts = ?",
            updates,
        )
        return
    for chunk in _row_chunks(updates):
        db.execute(
            "UPDATE deliveries SET state = u.column1, next_at = u.column2, last_status = u.column3, "
            "last_error = u.column4, last_duration_s = u.column5, updated_at = u.column6 "
            f"FROM (VALUES {_values(8, len(chunk))}) AS u "
            "WHERE deliveries.id = u.column7 AND deliveries.attempts = u.column8",
            _flat(chunk),
        )


def _record_attempts_and_advance(
    db: sqlite3.Connection,
    attempt_rows: Sequence[tuple[object, ...]],
    updates: Sequence[tuple[object, ...]],
    batch_updates: Sequence[tuple[object, ...]],
    ended: Sequence[tuple[str, float]],
    last: Sequence[tuple[str, float | None, float | None, float]] = (),
) -> None:
    """`_record_attempts`, then the next delivery of each ended delivery's ordering key becomes due (a
    batch's id stands for its members: each of their keys)."""
    _record_attempts(db, attempt_rows, updates, batch_updates, last)
    for delivery_id, at in ended:
        rows = (
            db.execute(
                "SELECT hook, ordering_key FROM deliveries WHERE id = ? AND ordering_key IS NOT NULL "
                "AND state IN ('delivered', 'failed', 'cancelled')",
                (delivery_id,),
            ).fetchall()
            or db.execute(
                "SELECT DISTINCT hook, ordering_key FROM deliveries WHERE batch_id = ? AND ordering_key IS NOT NULL "
                "AND state IN ('delivered', 'failed', 'cancelled')",
                (delivery_id,),
            ).fetchall()
        )
        for hook, key in rows:
            _advance_key(db, hook, key, at)


# A key's head is its unfinished delivery with a due time; the others wait (next_at NULL), oldest id
# first. Both are ranges of the deliveries_key index (hook, ordering_key, next_at): these conditions
# repeat its WHERE word for word, which is how SQLite knows the partial index applies.
_KEY_HEAD = (
    "SELECT 1 FROM deliveries WHERE hook = ?1 AND ordering_key = ?2 AND ordering_key IS NOT NULL "
    "AND state IN ('pending', 'delivering') AND next_at IS NOT NULL"
)
_KEY_NEXT = (
    "SELECT id FROM deliveries WHERE hook = ?1 AND ordering_key = ?2 AND ordering_key IS NOT NULL "
    "AND state IN ('pending', 'delivering') AND next_at IS NULL ORDER BY id LIMIT 1"
)
_KEY_UNFINISHED = (
    "SELECT 1 FROM deliveries WHERE hook = ? AND ordering_key = ? AND ordering_key IS NOT NULL "
    "AND state IN ('pending', 'delivering') LIMIT 1"
)


def _key_busy(db: sqlite3.Connection, hook: str, key: str) -> bool:
    """Whether (hook, key) has an unfinished delivery, which a new one of the key must wait for."""
    return db.execute(_KEY_UNFINISHED, (hook, key)).fetchone() is not None


def _advance_key(db: sqlite3.Connection, hook: str, key: str, now: float) -> bool:
    """If (hook, key) has no head now, its oldest waiting delivery becomes due at `now`. Idempotent:
    writing the same outcome twice cannot let two deliveries of a key go at once."""
    cur = db.execute(
        f"UPDATE deliveries SET next_at = ?3 WHERE id = ({_KEY_NEXT}) AND NOT EXISTS ({_KEY_HEAD})", (hook, key, now)
    )
    return cur.rowcount > 0


def _prune_deliveries(db: sqlite3.Connection, older_than: float, batch: int) -> tuple[int, int]:
    """One batch of finished deliveries older than `older_than` and their attempts: (attempts, deliveries)."""
    finished = (
        # updated_at >= created_at, so the created_at bound is implied; it lets the index do the work.
        "SELECT id FROM deliveries WHERE created_at < ?1 AND updated_at < ?1 "
        "AND state IN ('delivered', 'failed', 'cancelled') ORDER BY created_at, id LIMIT ?2"
    )
    attempts = db.execute(f"DELETE FROM attempts WHERE delivery_id IN ({finished})", (older_than, batch)).rowcount
    db.execute(f"DELETE FROM batch_departures WHERE delivery_id IN ({finished})", (older_than, batch))
    deliveries = db.execute(f"DELETE FROM deliveries WHERE id IN ({finished})", (older_than, batch)).rowcount
    # A batch goes with its last member (one split off it counts until it goes): its requests, then itself.
    emptied = (
        "SELECT id FROM batches WHERE created_at < ?1 AND NOT EXISTS "
        "(SELECT 1 FROM deliveries d WHERE d.batch_id = batches.id) AND NOT EXISTS "
        "(SELECT 1 FROM batch_departures p WHERE p.batch_id = batches.id) LIMIT ?2"
    )
    attempts += db.execute(f"DELETE FROM attempts WHERE delivery_id IN ({emptied})", (older_than, batch)).rowcount
    db.execute(f"DELETE FROM batches WHERE id IN ({emptied})", (older_than, batch))
    return max(attempts, 0), max(deliveries, 0)


def _delete_rows(db: sqlite3.Connection, sql: str, older_than: float, batch: int) -> int:
    return max(db.execute(sql, (older_than, batch)).rowcount, 0)


def _execute(db: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> None:
    db.execute(sql, params)
