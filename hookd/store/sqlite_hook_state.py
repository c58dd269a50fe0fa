"""The hook_state table (migration 0004): pauses and breaker states by hook name, and the per-hook
activity `hookd hooks list` shows. Bodies run on the store's connection thread (store/sqlite.py)."""

from __future__ import annotations

import sqlite3
from typing import cast

from hookd.store.base import BreakerRecord, BreakerState, HookActivity, HookPause, HookState, PausedBy

_STATE_COLUMNS = "hook, paused_by, paused_reason, paused_at, breaker, breaker_reason, breaker_since, breaker_retry_at"


def hook_states(db: sqlite3.Connection) -> dict[str, HookState]:
    out: dict[str, HookState] = {}
    for row in db.execute(f"SELECT {_STATE_COLUMNS} FROM hook_state"):
        pause = (
            HookPause(by=cast(PausedBy, row[1]), reason=row[2] or "", at=float(row[3] or 0.0))
            if row[1] is not None
            else None
        )
        breaker = (
            BreakerRecord(
                state=cast(BreakerState, row[4]), reason=row[5] or "", since=float(row[6] or 0.0), retry_at=row[7]
            )
            if row[4] is not None
            else None
        )
        out[row[0]] = HookState(hook=row[0], pause=pause, breaker=breaker)
    return out


def _paused(db: sqlite3.Connection, hook: str) -> HookPause | None:
    row = db.execute("SELECT paused_by, paused_reason, paused_at FROM hook_state WHERE hook = ?", (hook,)).fetchone()
    if row is None or row[0] is None:
        return None
    return HookPause(by=cast(PausedBy, row[0]), reason=row[1] or "", at=float(row[2] or 0.0))


def pause_hook(db: sqlite3.Connection, hook: str, pause: HookPause) -> HookPause | None:
    before = _paused(db, hook)
    if before is not None:
        return before
    db.execute(
        "INSERT INTO hook_state (hook, paused_by, paused_reason, paused_at, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (hook) DO UPDATE SET paused_by = excluded.paused_by, paused_reason = excluded.paused_reason, "
        "paused_at = excluded.paused_at, updated_at = excluded.updated_at",
        (hook, pause.by, pause.reason, pause.at, pause.at),
    )
    return None


def resume_hook(db: sqlite3.Connection, hook: str, now: float) -> HookPause | None:
    before = _paused(db, hook)
    if before is not None:
        db.execute(
            "UPDATE hook_state SET paused_by = NULL, paused_reason = NULL, paused_at = NULL, updated_at = ? "
            "WHERE hook = ?",
            (now, hook),
        )
    return before


def set_breaker(db: sqlite3.Connection, hook: str, breaker: BreakerRecord | None, now: float) -> None:
    values = (breaker.state, breaker.reason, breaker.since, breaker.retry_at) if breaker is not None else (None,) * 4
    db.execute(
        "INSERT INTO hook_state (hook, breaker, breaker_reason, breaker_since, breaker_retry_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hook) DO UPDATE SET breaker = excluded.breaker, "
        "breaker_reason = excluded.breaker_reason, breaker_since = excluded.breaker_since, "
        "breaker_retry_at = excluded.breaker_retry_at, updated_at = excluded.updated_at",
        (hook, *values, now),
    )


def clear_breakers(db: sqlite3.Connection, now: float) -> None:
    db.execute(
        "UPDATE hook_state SET breaker = NULL, breaker_reason = NULL, breaker_since = NULL, breaker_retry_at = NULL, "
        "updated_at = ? WHERE breaker IS NOT NULL",
        (now,),
    )


# One pass over deliveries, as the admin listener's counts. A failed attempt leaves its delivery
# pending with attempts > 0 and an error, or failed: its updated_at is the attempt's end.
_ACTIVITY = """
SELECT hook,
       sum(state IN ('pending', 'delivering')),
       max(CASE WHEN state = 'delivered' THEN updated_at END),
       max(CASE WHEN (state = 'failed' AND attempts > 0) OR (state = 'pending' AND attempts > 0
                AND last_error IS NOT NULL) THEN updated_at END)
FROM deliveries GROUP BY hook
"""


def hook_activity(db: sqlite3.Connection) -> dict[str, HookActivity]:
    return {
        row[0]: HookActivity(hook=row[0], backlog=int(row[1] or 0), last_success_at=row[2], last_failure_at=row[3])
        for row in db.execute(_ACTIVITY)
    }
