"""The SQLite store's read-only queries for history, stats and replay selection (synchronous).

SQLiteStore runs each on its connection's thread (store/thread.py): one hop per query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import orjson

from hookd.senders.base import Hop
from hookd.store.base import (
    AttemptRow,
    AuditRow,
    BatchCandidates,
    BatchRow,
    DeliveryQuery,
    DeliveryRow,
    DeliveryStatus,
    DueDelivery,
    EventRecord,
    FailureReason,
    HookStats,
    IdTable,
    InboundRecord,
    RejectionRow,
)

_STATUS_SQL: Mapping[DeliveryStatus, str] = {
    "pending": "(d.state = 'pending' AND d.attempts = 0)",
    "retrying": "(d.state = 'pending' AND d.attempts > 0)",
    "delivering": "d.state = 'delivering'",
    "delivered": "d.state = 'delivered'",
    "failed": "d.state = 'failed'",
    "cancelled": "d.state = 'cancelled'",
}
_DELIVERY_COLUMNS = (
    "d.id, d.event_id, e.type, d.hook, d.state, d.attempts, d.next_at, d.created_at, d.updated_at, "
    "d.last_status, d.last_error, d.last_duration_s, d.replay_of, d.ordering_key, d.batch_id"
)
# History and stats read windows of deliveries by created_at (indexed), then their attempts by key:
# the attempts table has no time index, and adding one would cost every attempt write.
_STATS_DELIVERIES = """
SELECT hook, count(*), sum(state = 'delivered'), sum(state = 'failed'), sum(state IN ('pending', 'delivering')),
       sum(state = 'cancelled')
FROM deliveries WHERE created_at >= :since AND created_at < :until GROUP BY hook
"""
# Nearest-rank percentiles: the smallest duration whose rank r satisfies r >= p/100 * n.
# Every attempt of the window: the deliveries' own, and the requests of the batches formed in it (keyed
# by the batch id: one request, however many deliveries it carried).
_WINDOW_ATTEMPTS = """
    SELECT d.hook AS hook, a.duration_s AS duration_s, a.status AS status, a.error AS error, a.outcome AS outcome
    FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
    WHERE d.created_at >= :since AND d.created_at < :until
    UNION ALL
    SELECT b.hook, a.duration_s, a.status, a.error, a.outcome
    FROM batches b JOIN attempts a ON a.delivery_id = b.id
    WHERE b.created_at >= :since AND b.created_at < :until
"""
_STATS_LATENCY = f"""
WITH w AS ({_WINDOW_ATTEMPTS}), a AS (
    SELECT hook, duration_s,
           row_number() OVER (PARTITION BY hook ORDER BY duration_s) AS r,
           count(*) OVER (PARTITION BY hook) AS n
    FROM w WHERE duration_s IS NOT NULL
)
SELECT hook, max(n), min(CASE WHEN r * 100 >= n * 50 THEN duration_s END),
       min(CASE WHEN r * 100 >= n * 95 THEN duration_s END)
FROM a GROUP BY hook
"""
_STATS_FAILURES = f"""
WITH a AS ({_WINDOW_ATTEMPTS})
SELECT hook, CASE WHEN status IS NOT NULL THEN 'HTTP ' || status ELSE coalesce(error, 'unknown error') END, count(*)
FROM a WHERE outcome != 'delivered'
GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
"""


def sqlite_glob(pattern: str) -> str:
    """An event-type glob (the router's fnmatch syntax) as an SQLite GLOB: only `[!…]` differs."""
    return pattern.replace("[!", "[^")


def _json_list(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


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
        ordering_key=r[13],
        batch_id=r[14],
    )


def _json_object(text: object) -> dict[str, object]:
    if not isinstance(text, str | bytes) or not text:
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def where_clause(query: DeliveryQuery) -> tuple[str, list[object]]:
    """The conditions of `query` on `deliveries d LEFT JOIN events e`, and their parameters."""
    where: list[str] = []
    params: list[object] = []
    # Id lists travel as one JSON parameter (json_each), so any number fits in one statement.
    for column, values in (
        ("d.id", query.ids),
        ("d.event_id", query.event_ids),
        ("d.hook", query.hooks),
        ("d.batch_id", query.batch_ids),
    ):
        if values:
            where.append(f"{column} IN (SELECT value FROM json_each(?))")
            params.append(_json_list(values))
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
        exists = (
            "EXISTS (SELECT 1 FROM deliveries r WHERE r.event_id = d.event_id AND r.replay_of = d.id "
            "AND r.state != 'cancelled')"
        )
        where.append(exists if query.replayed else f"NOT {exists}")
    if query.replays_only:
        where.append("(d.replay_of IS NOT NULL OR e.source GLOB 'replay:*')")
    return (" WHERE " + " AND ".join(where) if where else ""), params


def deliveries(db: sqlite3.Connection, query: DeliveryQuery) -> list[DeliveryRow]:
    where, params = where_clause(query)
    order = "DESC" if query.newest_first else "ASC"
    sql = (
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN events e ON e.id = d.event_id"
        + where
        + f" ORDER BY d.created_at {order}, d.id {order}"
    )
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    return [_delivery_row(row) for row in db.execute(sql, params).fetchall()]


def event(db: sqlite3.Connection, event_id: str) -> EventRecord | None:
    row = db.execute(
        "SELECT e.id, e.type, e.source, e.event_source, e.time, e.received_at, e.body, i.request, i.verification, "
        "length(i.raw_body) FROM events e LEFT JOIN inbound i ON i.event_id = e.id WHERE e.id = ?",
        (event_id,),
    ).fetchone()
    if row is None:
        return None
    body = row[6] if isinstance(row[6], bytes) else str(row[6]).encode()
    return EventRecord(
        id=row[0], type=row[1], source=row[2], event_source=row[3], time=row[4], received_at=row[5], body=body,
        request=row[7], verification=row[8], raw_body_bytes=row[9] or 0,
    )  # fmt: skip


def known_events(db: sqlite3.Connection, event_ids: Sequence[str]) -> frozenset[str]:
    if not event_ids:
        return frozenset()
    rows = db.execute(
        "SELECT id FROM events WHERE id IN (SELECT value FROM json_each(?))", (_json_list(event_ids),)
    ).fetchall()
    return frozenset(row[0] for row in rows)


def attempts(db: sqlite3.Connection, delivery_id: str) -> list[AttemptRow]:
    rows = db.execute(
        "SELECT delivery_id, attempt, started_at, duration_s, status, error, request, response_headers, "
        "response_excerpt, outcome, next_at, hops FROM attempts WHERE delivery_id = ?1 "
        # A batch member's requests are its batch's (stored once, keyed by the batch id), and those of the
        # batches it was split off.
        "OR delivery_id = (SELECT batch_id FROM deliveries WHERE id = ?1) "
        "OR delivery_id IN (SELECT batch_id FROM batch_departures WHERE delivery_id = ?1) "
        "ORDER BY started_at, attempt",
        (delivery_id,),
    ).fetchall()
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
            hops=_hops(r[11]),
        )
        for r in rows
    ]


def delivery_destinations(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    """The destination host stored with each of `ids` that has one (a hook with a templated url host)."""
    if not ids:
        return {}
    rows = db.execute(
        "SELECT id, destination FROM deliveries WHERE id IN (SELECT value FROM json_each(?)) "
        "AND destination IS NOT NULL",
        (_json_list(ids),),
    )
    return {row[0]: row[1] for row in rows}


def parked_destinations(
    db: sqlite3.Connection, hooks: Sequence[str], park_offset_s: float
) -> dict[str, dict[str, int]]:
    """Per hook of `hooks`, its destinations with parked deliveries (a closed gate: paused, a breaker
    open, a Retry-After hold, no rate-limit tokens) and how many: a range of deliveries_due per hook,
    over the parked rows only."""
    out: dict[str, dict[str, int]] = {}
    for hook in hooks:
        rows = db.execute(
            "SELECT destination, count(*) FROM deliveries WHERE hook = ? AND state = 'pending' AND next_at >= ? "
            "AND destination IS NOT NULL GROUP BY destination ORDER BY destination",
            (hook, park_offset_s),
        )
        found = {row[0]: int(row[1]) for row in rows}
        if found:
            out[hook] = found
    return out


def departed(db: sqlite3.Connection, batch_id: str) -> list[DeliveryRow]:
    """The deliveries that left batch `batch_id` when it was split after a 413 (migration 0010), oldest
    first: what its refused request carried, as they are now."""
    return [
        _delivery_row(row)
        for row in db.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM batch_departures p JOIN deliveries d ON d.id = p.delivery_id "
            "LEFT JOIN events e ON e.id = d.event_id WHERE p.batch_id = ? ORDER BY d.created_at, d.id",
            (batch_id,),
        )
    ]


def _hops(raw: str | None) -> tuple[Hop, ...]:
    if not raw:
        return ()
    try:
        hops = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ()
    return tuple(
        Hop(str(h[0]), h[1] if isinstance(h[1], int) else None) for h in hops if isinstance(h, list) and len(h) == 2
    )


def stats(db: sqlite3.Connection, since: float, until: float) -> list[HookStats]:
    window = {"since": since, "until": until}
    counts = {row[0]: row[1:] for row in db.execute(_STATS_DELIVERIES, window).fetchall()}
    latency = {row[0]: row[1:] for row in db.execute(_STATS_LATENCY, window).fetchall()}
    failures: dict[str, list[FailureReason]] = {}
    for hook, reason, n in db.execute(_STATS_FAILURES, window).fetchall():
        failures.setdefault(hook, []).append(FailureReason(reason=reason, attempts=n))
    out = []
    for hook in sorted(counts):
        total, delivered, failed, unfinished, cancelled = (int(v or 0) for v in counts[hook])
        attempt_count, p50, p95 = latency.get(hook, (0, None, None))
        out.append(
            HookStats(
                hook=hook,
                deliveries=total,
                delivered=delivered,
                failed=failed,
                unfinished=unfinished,
                cancelled=cancelled,
                attempts=int(attempt_count or 0),
                p50_s=p50,
                p95_s=p95,
                failures=tuple(failures.get(hook, ())),
            )
        )
    return out


def next_due_at(db: sqlite3.Connection, hooks: Sequence[str]) -> float | None:
    if not hooks:
        return None
    marks = ",".join("?" * len(hooks))
    row = db.execute(
        f"SELECT min(next_at) FROM deliveries WHERE state = 'pending' AND hook IN ({marks})", list(hooks)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


# The first row of the hook's range of deliveries_retry_due (a partial index of exactly these rows), so
# one index step however many fresh deliveries the hook has waiting.
NEXT_RETRY = (
    "SELECT next_at FROM deliveries WHERE state = 'pending' AND hook = ? AND attempts > 0 ORDER BY next_at LIMIT 1"
)


def next_retry_at(db: sqlite3.Connection, hook: str) -> float | None:
    """When the hook's earliest pending retry (a delivery with an attempt made) is due."""
    row = db.execute(NEXT_RETRY, (hook,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def pending_by_hook(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute(
        "SELECT hook, count(*) FROM deliveries WHERE state IN ('pending', 'delivering') GROUP BY hook"
    ).fetchall()
    return {row[0]: row[1] for row in rows}


# -- ids by prefix, as git abbreviates object names ------------------------------------------------

_ID_TABLES: Mapping[IdTable, str] = {"deliveries": "deliveries", "events": "events", "batches": "batches"}


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """[low, high): exactly the strings that start with `prefix`. Code point order is UTF-8 byte order,
    which is SQLite's BINARY collation, so `id >= low AND id < high` is a range on the id's index.
    High is None when no string sorts after every extension of the prefix."""
    chars = list(prefix)
    while chars:
        following = ord(chars.pop()) + 1
        if following == 0xD800:  # surrogates cannot be stored as text: skip over them
            following = 0xE000
        if following <= 0x10FFFF:
            return prefix, "".join(chars) + chr(following)
    return prefix, None


def prefix_query(table: IdTable) -> tuple[str, str]:
    """The SELECT of ids in a prefix's range, bounded above and not (see prefix_range)."""
    name = _ID_TABLES[table]
    head = f"SELECT id FROM {name} WHERE id >= ?"
    return f"{head} AND id < ? ORDER BY id LIMIT ?", f"{head} ORDER BY id LIMIT ?"


def ids_with_prefix(db: sqlite3.Connection, table: IdTable, prefix: str, limit: int) -> list[str]:
    low, high = prefix_range(prefix)
    bounded, open_ended = prefix_query(table)
    rows = db.execute(bounded, (low, high, limit)) if high is not None else db.execute(open_ended, (low, limit))
    return [row[0] for row in rows.fetchall()]


def _common_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def unique_prefix_lengths(db: sqlite3.Connection, ids: Sequence[str], min_length: int) -> dict[str, int]:
    # The id sharing the longest prefix with `i` is next to it in sorted order: two index probes per table.
    out: dict[str, int] = {}
    for i in dict.fromkeys(ids):
        need = min_length
        for name in _ID_TABLES.values():
            for sql in (
                f"SELECT id FROM {name} WHERE id < ? ORDER BY id DESC LIMIT 1",
                f"SELECT id FROM {name} WHERE id > ? ORDER BY id LIMIT 1",
            ):
                row = db.execute(sql, (i,)).fetchone()
                if row is not None:
                    need = max(need, _common_length(i, str(row[0])) + 1)
        out[i] = min(need, len(i))
    return out


# -- hook names ------------------------------------------------------------------------------------


def hooks_with_deliveries(db: sqlite3.Connection, names: Sequence[str]) -> frozenset[str]:
    found = set()
    for name in dict.fromkeys(names):
        if db.execute("SELECT 1 FROM deliveries WHERE hook = ? LIMIT 1", (name,)).fetchone() is not None:
            found.add(name)
    return frozenset(found)


def hook_names(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT DISTINCT hook FROM deliveries ORDER BY hook").fetchall()]


# -- batches ---------------------------------------------------------------------------------------


def batch_candidates(
    db: sqlite3.Connection, hook: str, now: float, limit: int, known: AbstractSet[str]
) -> BatchCandidates:
    # `attempt`: the attempts it spent, or 1 when a batch that was split carried it (a split spends no
    # attempt): either way it was sent before, and its batch does not wait out max_wait again.
    rows = db.execute(
        "SELECT id, event_id, iif(attempts > 0, attempts, EXISTS (SELECT 1 FROM batch_departures p "
        "WHERE p.delivery_id = deliveries.id)), replay_of, created_at FROM deliveries "
        "WHERE state = 'pending' AND hook = ? AND next_at <= ? AND batch_id IS NULL ORDER BY next_at, id LIMIT ?",
        (hook, now, limit),
    ).fetchall()
    stored = stored_events(db, [r[1] for r in rows if r[0] not in known])
    due = tuple(
        DueDelivery(id=d, event_id=e, hook=hook, attempt=a, body=b"" if d in known else stored.get(e, NO_EVENT)[0],
                    replay_of=r, inbound=None if d in known else stored.get(e, NO_EVENT)[1])
        for d, e, a, r, _ in rows
    )  # fmt: skip
    retry = db.execute(
        "SELECT min(next_at) FROM deliveries WHERE state = 'pending' AND hook = ? AND batch_id IS NOT NULL", (hook,)
    ).fetchone()
    later = db.execute(
        "SELECT next_at FROM deliveries WHERE state = 'pending' AND hook = ? AND next_at > ? AND batch_id IS NULL "
        "ORDER BY next_at LIMIT 1",
        (hook, now),
    ).fetchone()
    return BatchCandidates(
        due=due,
        created_at=tuple(float(r[4]) for r in rows),
        retry_at=float(retry[0]) if retry is not None and retry[0] is not None else None,
        later_at=float(later[0]) if later is not None else None,
    )


def batch(db: sqlite3.Connection, batch_id: str) -> BatchRow | None:
    row = db.execute("SELECT id, hook, created_at, attempts, members FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        return None
    return BatchRow(id=row[0], hook=row[1], created_at=row[2], attempts=row[3], members=row[4])


StoredEvent = tuple[bytes, InboundRecord | None]
NO_EVENT: StoredEvent = (b"null", None)  # pruned under a delivery (cannot happen; kept as a guard)


def stored_events(db: sqlite3.Connection, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
    """Each event's stored envelope, and what an http source kept beside it (events.Inbound)."""
    stored: dict[str, StoredEvent] = {}
    for chunk in _chunks900(list(dict.fromkeys(event_ids))):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT e.id, e.body, i.request, i.raw_body FROM events e LEFT JOIN inbound i ON i.event_id = e.id "
            f"WHERE e.id IN ({marks})",
            chunk,
        )
        for event_id, body, request, raw_body in rows:
            stored[event_id] = (body, None if request is None else InboundRecord(request, raw_body))
    return stored


def _chunks900(items: list[str]) -> list[list[str]]:
    """Under SQLite's default limit of 999 parameters per statement."""
    return [items[i : i + 900] for i in range(0, len(items), 900)]


def rejections(db: sqlite3.Connection, since: float, sources: Sequence[str], limit: int) -> list[RejectionRow]:
    sql = "SELECT at, source, position, reason, excerpt FROM rejected WHERE at >= ?"
    params: list[object] = [since]
    if sources:
        sql += " AND source IN (SELECT value FROM json_each(?))"
        params.append(_json_list(sources))
    sql += " ORDER BY at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [
        RejectionRow(at=at, source=source, position=position, reason=reason, excerpt=excerpt or b"")
        for at, source, position, reason, excerpt in db.execute(sql, params).fetchall()
    ]


def config_at(db: sqlite3.Connection, at: float) -> tuple[str, str, float] | None:
    row = db.execute(
        "SELECT sha256, path, started_at FROM config_runs WHERE started_at <= ? ORDER BY started_at DESC LIMIT 1", (at,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), float(row[2]))


def audit_rows(db: sqlite3.Connection, since: float, limit: int) -> list[AuditRow]:
    rows = db.execute(
        "SELECT at, action, target, detail, origin FROM audit WHERE at >= ? ORDER BY at DESC, rowid DESC LIMIT ?",
        (since, limit),
    ).fetchall()
    return [
        AuditRow(at=at, action=action, target=target, detail=detail, origin=origin)
        for at, action, target, detail, origin in rows
    ]
