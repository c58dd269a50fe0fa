"""The SQLite store: one file, WAL, one writer connection, one transaction per method.

Each method carries a whole batch per await (executemany), because the cost of aiosqlite is the
hop to its thread, not SQLite itself (shared/PERFORMANCE.md): one hop per statement per event is
what makes a naive pipeline 15x slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import orjson

from hookd.errors import StartupError
from hookd.ids import uuid7
from hookd.sources.base import Checkpoint, Rejection
from hookd.store.base import (
    AttemptRecord,
    AttemptRow,
    DeliveryQuery,
    DeliveryRow,
    DeliveryStatus,
    DueDelivery,
    EventRecord,
    FailureReason,
    HookStats,
    IngestResult,
    PruneCounts,
    ReplayItem,
    RoutedEvent,
)
from hookd.store.migrations import MIGRATIONS

log = logging.getLogger("hookd.store")

SLOW_TRANSACTION_S = 0.5
CHECKPOINT_INTERVAL_S = 1.0
WAL_WARN_PAGES = 100_000  # ~400 MB with 4 KiB pages
_MAX_VARS = 900  # stay well under SQLite's bound-parameter limit per statement


async def _rollback_quietly(db: aiosqlite.Connection) -> None:
    """ROLLBACK if a transaction is open; "no transaction is active" is fine."""
    with contextlib.suppress(sqlite3.Error):
        await db.execute("ROLLBACK")


def _chunks(items: Sequence[str], size: int = _MAX_VARS) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


_STATUS_SQL: Mapping[DeliveryStatus, str] = {
    "pending": "(d.state = 'pending' AND d.attempts = 0)",
    "retrying": "(d.state = 'pending' AND d.attempts > 0)",
    "delivering": "d.state = 'delivering'",
    "delivered": "d.state = 'delivered'",
    "failed": "d.state = 'failed'",
}
_DELIVERY_COLUMNS = (
    "d.id, d.event_id, e.type, d.hook, d.state, d.attempts, d.next_at, d.created_at, d.updated_at, "
    "d.last_status, d.last_error, d.last_duration_s, d.replay_of"
)
# History and stats read windows of deliveries by created_at (indexed), then their attempts by key:
# the attempts table has no time index, and adding one would cost every attempt write.
_STATS_DELIVERIES = """
SELECT hook, count(*), sum(state = 'delivered'), sum(state = 'failed'), sum(state IN ('pending', 'delivering'))
FROM deliveries WHERE created_at >= :since AND created_at < :until GROUP BY hook
"""
# Nearest-rank percentiles: the smallest duration whose rank r satisfies r >= p/100 * n.
_STATS_LATENCY = """
WITH a AS (
    SELECT d.hook AS hook, a.duration_s AS duration_s,
           row_number() OVER (PARTITION BY d.hook ORDER BY a.duration_s) AS r,
           count(*) OVER (PARTITION BY d.hook) AS n
    FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
    WHERE d.created_at >= :since AND d.created_at < :until AND a.duration_s IS NOT NULL
)
SELECT hook, max(n), min(CASE WHEN r * 100 >= n * 50 THEN duration_s END),
       min(CASE WHEN r * 100 >= n * 95 THEN duration_s END)
FROM a GROUP BY hook
"""
_STATS_FAILURES = """
SELECT d.hook, CASE WHEN a.status IS NOT NULL THEN 'HTTP ' || a.status ELSE coalesce(a.error, 'unknown error') END,
       count(*)
FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
WHERE d.created_at >= :since AND d.created_at < :until AND a.outcome != 'delivered'
GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
"""


def sqlite_glob(pattern: str) -> str:
    """An event-type glob (the router's fnmatch syntax) as an SQLite GLOB: only `[!…]` differs."""
    return pattern.replace("[!", "[^")


def _delivery_row(r: Sequence[Any]) -> DeliveryRow:  # a row of _DELIVERY_COLUMNS
    return DeliveryRow(
        id=r[0],
        event_id=r[1],
        event_type=r[2],
        hook=r[3],
        state=r[4],
        attempts=r[5],
        next_at=r[6],
        created_at=r[7],
        updated_at=r[8],
        last_status=r[9],
        last_error=r[10],
        last_duration_s=r[11],
        replay_of=r[12],
    )


def _json_object(text: object) -> dict[str, object]:
    if not isinstance(text, str | bytes) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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
        self._db: aiosqlite.Connection | None = None
        self.background_checkpoints = background_checkpoints
        # False for a short-lived CLI beside a running daemon: a TRUNCATE checkpoint takes the write
        # lock and fsyncs, stalling the daemon's commits; the daemon checkpoints the WAL itself.
        self.checkpoint_on_close = checkpoint_on_close
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one transaction at a time on the one writer connection
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._db is not None:
            return  # already open
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
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout_s)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            await self._db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            await self._db.execute("PRAGMA temp_store=MEMORY")
            await self._migrate()
            if self.background_checkpoints:
                # A checkpoint is where WAL mode fsyncs; run inside a commit it stalled ingest acks for
                # 100-400 ms (bench/). A second connection on its own thread does it beside the writer.
                await self._db.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
                await self._checkpointer.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
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

    async def _migrate(self) -> None:
        async with self._tx() as db:
            await db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            async with db.execute("SELECT name FROM migrations") as cur:
                applied = {row[0] for row in await cur.fetchall()}
            known = {name for name, _ in MIGRATIONS}
            unknown = applied - known
            if unknown:
                raise StartupError(
                    f"the database {str(self.path)!r} was written by a newer hookd (migrations "
                    f"{', '.join(sorted(unknown))}); upgrade hookd or point storage.path elsewhere"
                )
            for name, sql in MIGRATIONS:
                if name in applied:
                    continue
                for statement in (s.strip() for s in sql.split(";")):
                    if statement:
                        await db.execute(statement)
                await db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))

    async def _checkpoint_forever(self) -> None:
        assert self._checkpointer is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                async with self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)") as cur:
                    row = await cur.fetchone()
            except sqlite3.Error as e:
                log.warning("store: WAL checkpoint failed: %s; will try again", e)
                continue
            if row is not None and row[1] > WAL_WARN_PAGES and row[2] < row[1]:
                log.warning(
                    "store: the WAL holds %d pages not yet checkpointed; a long read may be blocking it", row[1]
                )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:  # let a transaction in progress finish
            await self._close_quietly()

    async def _close_quietly(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
            self._checkpoint_task = None
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            await checkpointer.close()
        if self._db is not None:
            db, self._db = self._db, None
            if self.checkpoint_on_close:
                with contextlib.suppress(sqlite3.Error):
                    # Tidying only (leave a small WAL behind): never wait for a reader elsewhere to
                    # finish, which the busy timeout would let hold a stop up for 10 s.
                    await db.execute("PRAGMA busy_timeout=0")
                    await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await db.close()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        db = self._db
        if db is None:
            raise RuntimeError("store is not open")
        async with self._lock:
            started = time.perf_counter()
            # Every exit below leaves the connection outside a transaction: a caller cancelled while
            # BEGIN runs on aiosqlite's thread (the prune task at stop, say) once left it inside
            # one, and every later write failed with "cannot start a transaction within a transaction".
            try:
                await db.execute("BEGIN IMMEDIATE")
            except BaseException:
                await asyncio.shield(_rollback_quietly(db))
                raise
            try:
                yield db
            except BaseException:
                await asyncio.shield(_rollback_quietly(db))
                raise
            try:
                # Shielded: a cancelled caller must not leave the connection inside a transaction.
                await asyncio.shield(db.execute("COMMIT"))
            except BaseException:
                await asyncio.shield(_rollback_quietly(db))  # SQLite's advice after a failed COMMIT
                raise
            else:
                elapsed = time.perf_counter() - started
                if elapsed > SLOW_TRANSACTION_S:
                    log.warning("store: a transaction took %.0f ms (slow disk, or a large checkpoint)", elapsed * 1000)

    # -- ingest ------------------------------------------------------------------------------------

    async def ingest(
        self,
        routed: Sequence[RoutedEvent],
        rejections: Sequence[Rejection],
        checkpoints: Sequence[Checkpoint],
        now: float,
    ) -> IngestResult:
        ids = list(dict.fromkeys(r.event.id for r in routed))
        async with self._tx() as db:
            existing: set[str] = set()
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                async with db.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk) as cur:
                    existing.update(row[0] for row in await cur.fetchall())
            seen = set(existing)
            event_rows = []
            delivery_rows: list[tuple[object, ...]] = []
            claimed: list[DueDelivery] = []
            pending_hooks: set[str] = set()
            for r in routed:
                e = r.event
                if e.id in seen:
                    continue  # already stored, or twice in this batch: the first one wins
                seen.add(e.id)
                event_rows.append((e.id, e.type, r.source, e.source, e.time, now, e.body))
                for hook in r.hooks:
                    delivery_id = uuid7()
                    if hook in r.claimed:
                        delivery_rows.append((delivery_id, e.id, hook, "delivering", 1, None, now, now))
                        claimed.append(DueDelivery(delivery_id, e.id, hook, 1, e.body, None))
                    else:
                        delivery_rows.append((delivery_id, e.id, hook, "pending", 0, now, now, now))
                        pending_hooks.add(hook)
            if event_rows:
                await db.executemany(
                    "INSERT INTO events (id, type, source, event_source, time, received_at, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    event_rows,
                )
            if delivery_rows:
                await db.executemany(
                    "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    delivery_rows,
                )
            if rejections:
                await db.executemany(
                    "INSERT INTO rejected (source, position, reason, excerpt, at) VALUES (?, ?, ?, ?, ?)",
                    [(j.source, j.position, j.reason, j.excerpt, now) for j in rejections],
                )
            if checkpoints:
                await db.executemany(
                    'INSERT OR REPLACE INTO checkpoints (source, path, device, inode, "offset", line, updated_at) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(c.source, c.path, c.device, c.inode, c.offset, c.line, now) for c in checkpoints],
                )
        return IngestResult(
            inserted=frozenset(row[0] for row in event_rows),
            deliveries=len(delivery_rows),
            claimed=tuple(claimed),
            pending_hooks=frozenset(pending_hooks),
        )

    async def checkpoint(self, source: str) -> Checkpoint | None:
        db = self._require()
        async with db.execute(
            'SELECT source, path, device, inode, "offset", line FROM checkpoints WHERE source = ?', (source,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Checkpoint(source=row[0], path=row[1], device=row[2], inode=row[3], offset=row[4], line=row[5])

    # -- delivery ----------------------------------------------------------------------------------

    async def claim_due(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        claimed: list[tuple[str, str, str, int, str | None]] = []
        async with self._tx() as db:
            for hook, limit in limits.items():
                if limit <= 0:
                    continue
                async with db.execute(
                    "UPDATE deliveries SET state = 'delivering', attempts = attempts + 1, updated_at = ? "
                    "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND hook = ? AND next_at <= ? "
                    "ORDER BY next_at, id LIMIT ?) "
                    "RETURNING id, event_id, hook, attempts, replay_of",
                    (now, hook, now, limit),
                ) as cur:
                    claimed.extend(await cur.fetchall())  # type: ignore[arg-type]
        if not claimed:
            return []
        bodies: dict[str, bytes] = {}
        event_ids = list({row[1] for row in claimed})
        db = self._require()
        for chunk in _chunks(event_ids):
            marks = ",".join("?" * len(chunk))
            async with db.execute(f"SELECT id, body FROM events WHERE id IN ({marks})", chunk) as cur:
                bodies.update({row[0]: row[1] for row in await cur.fetchall()})
        claimed.sort(key=lambda row: row[0])  # uuid7 ids: oldest first
        return [
            DueDelivery(id=d, event_id=e, hook=h, attempt=a, body=bodies.get(e, b"null"), replay_of=r)
            for d, e, h, a, r in claimed
        ]

    async def release(self, delivery_ids: Sequence[str], now: float) -> None:
        if not delivery_ids:
            return
        async with self._tx() as db:
            await db.executemany(
                "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, next_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'delivering'",
                [(now, now, i) for i in delivery_ids],
            )

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
        if not records:
            return
        async with self._tx() as db:
            await db.executemany(
                "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_s, status, error, "
                "request, response_headers, response_excerpt, outcome, next_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
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
                    )
                    for r in records
                ],
            )
            await db.executemany(
                "UPDATE deliveries SET state = ?, next_at = ?, last_status = ?, last_error = ?, "
                "last_duration_s = ?, updated_at = ? WHERE id = ? AND attempts = ?",
                [
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
                ],
            )

    async def next_due_at(self, hooks: Sequence[str]) -> float | None:
        if not hooks:
            return None
        db = self._require()
        marks = ",".join("?" * len(hooks))
        async with db.execute(
            f"SELECT min(next_at) FROM deliveries WHERE state = 'pending' AND hook IN ({marks})", list(hooks)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def recover_interrupted(self, now: float) -> int:
        async with self._tx() as db:
            cur = await db.execute(
                "UPDATE deliveries SET state = 'pending', next_at = ?, updated_at = ? WHERE state = 'delivering'",
                (now, now),
            )
            return cur.rowcount

    async def pending_by_hook(self) -> dict[str, int]:
        db = self._require()
        async with db.execute(
            "SELECT hook, count(*) FROM deliveries WHERE state IN ('pending', 'delivering') GROUP BY hook"
        ) as cur:
            return {row[0]: row[1] for row in await cur.fetchall()}

    # -- retention ---------------------------------------------------------------------------------

    async def prune(self, older_than: float, *, batch: int = 5000) -> int:
        """Deletes in short transactions so ingest is never held up for long."""
        return (await self.prune_counts(older_than, batch=batch)).total

    async def prune_counts(self, older_than: float, *, batch: int = 5000) -> PruneCounts:
        deliveries = attempts = 0
        finished = (
            # updated_at >= created_at, so the created_at bound is implied; it lets the index do the work.
            "SELECT id FROM deliveries WHERE created_at < ?1 AND updated_at < ?1 "
            "AND state IN ('delivered', 'failed') ORDER BY created_at, id LIMIT ?2"
        )
        while True:
            async with self._tx() as db:
                cur = await db.execute(f"DELETE FROM attempts WHERE delivery_id IN ({finished})", (older_than, batch))
                attempts += max(cur.rowcount, 0)  # rows too: "returns rows deleted"
                cur = await db.execute(f"DELETE FROM deliveries WHERE id IN ({finished})", (older_than, batch))
                n = max(cur.rowcount, 0)
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
                async with self._tx() as db:
                    cur = await db.execute(sql, (older_than, batch))
                    n = max(cur.rowcount, 0)
                total += n
                if n < batch:
                    break
                await asyncio.sleep(0)
            others.append(total)
        return PruneCounts(deliveries=deliveries, attempts=attempts, events=others[0], rejected=others[1])

    # -- history and replay (read by `hookd history`, written by `hookd replay`) ---------------------

    async def deliveries(self, query: DeliveryQuery) -> list[DeliveryRow]:
        where: list[str] = []
        params: list[object] = []
        # Id lists travel as one JSON parameter (json_each), so any number fits in one statement.
        for column, values in (("d.id", query.ids), ("d.event_id", query.event_ids), ("d.hook", query.hooks)):
            if values:
                where.append(f"{column} IN (SELECT value FROM json_each(?))")
                params.append(orjson.dumps(list(values)).decode())
        if query.statuses:
            where.append("(" + " OR ".join(_STATUS_SQL[s] for s in dict.fromkeys(query.statuses)) + ")")
        if query.type_glob is not None:
            where.append("e.type GLOB ?")
            params.append(sqlite_glob(query.type_glob))
        if query.since is not None:
            where.append("d.created_at >= ?")
            params.append(query.since)
        if query.until is not None:
            where.append("d.created_at < ?")
            params.append(query.until)
        if query.replayed is not None:
            # A replay shares its event id, so the deliveries_event index finds it.
            exists = "EXISTS (SELECT 1 FROM deliveries r WHERE r.event_id = d.event_id AND r.replay_of = d.id)"
            where.append(exists if query.replayed else f"NOT {exists}")
        order = "DESC" if query.newest_first else "ASC"
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN events e ON e.id = d.event_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY d.created_at {order}, d.id {order}"
        )
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)
        db = self._require()
        async with db.execute(sql, params) as cur:
            return [_delivery_row(row) for row in await cur.fetchall()]

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        rows = await self.deliveries(DeliveryQuery(ids=(delivery_id,)))
        return rows[0] if rows else None

    async def event(self, event_id: str) -> EventRecord | None:
        db = self._require()
        async with db.execute(
            "SELECT id, type, source, event_source, time, received_at, body FROM events WHERE id = ?", (event_id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        body = row[6] if isinstance(row[6], bytes) else str(row[6]).encode()
        return EventRecord(
            id=row[0], type=row[1], source=row[2], event_source=row[3], time=row[4], received_at=row[5], body=body
        )

    async def known_events(self, event_ids: Sequence[str]) -> frozenset[str]:
        if not event_ids:
            return frozenset()
        db = self._require()
        async with db.execute(
            "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(list(event_ids)).decode(),),
        ) as cur:
            return frozenset(row[0] for row in await cur.fetchall())

    async def attempts(self, delivery_id: str) -> list[AttemptRow]:
        db = self._require()
        async with db.execute(
            "SELECT delivery_id, attempt, started_at, duration_s, status, error, request, response_headers, "
            "response_excerpt, outcome, next_at FROM attempts WHERE delivery_id = ? ORDER BY attempt",
            (delivery_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [
            AttemptRow(
                delivery_id=r[0],
                attempt=r[1],
                started_at=r[2],
                duration_s=r[3],
                status=r[4],
                error=r[5],
                request=_json_object(r[6]),
                response_headers={str(k): str(v) for k, v in _json_object(r[7]).items()},
                response_excerpt=r[8] or "",
                outcome=r[9],
                next_at=r[10],
            )
            for r in rows
        ]

    async def stats(self, since: float, until: float) -> list[HookStats]:
        db = self._require()
        window = {"since": since, "until": until}
        async with db.execute(_STATS_DELIVERIES, window) as cur:
            counts = {row[0]: row[1:] for row in await cur.fetchall()}
        async with db.execute(_STATS_LATENCY, window) as cur:
            latency = {row[0]: row[1:] for row in await cur.fetchall()}
        failures: dict[str, list[FailureReason]] = {}
        async with db.execute(_STATS_FAILURES, window) as cur:
            for hook, reason, n in await cur.fetchall():
                failures.setdefault(hook, []).append(FailureReason(reason=reason, attempts=n))
        out = []
        for hook in sorted(counts):
            deliveries, delivered, failed, unfinished = (int(v or 0) for v in counts[hook])
            attempts, p50, p95 = latency.get(hook, (0, None, None))
            out.append(
                HookStats(
                    hook=hook,
                    deliveries=deliveries,
                    delivered=delivered,
                    failed=failed,
                    unfinished=unfinished,
                    attempts=int(attempts or 0),
                    p50_s=p50,
                    p95_s=p95,
                    failures=tuple(failures.get(hook, ())),
                )
            )
        return out

    async def replay(self, items: Sequence[ReplayItem], now: float) -> list[str]:
        if not items:
            return []
        ids = [uuid7() for _ in items]
        async with self._tx() as db:
            await db.executemany(
                "INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, updated_at, "
                "replay_of) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
                [
                    (i, item.event_id, item.hook, item.next_at, now, now, item.replay_of)
                    for i, item in zip(ids, items, strict=True)
                ],
            )
        return ids

    def _require(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store is not open")
        return self._db
