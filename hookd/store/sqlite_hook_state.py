"""The hook_state table (migrations 0004, 0009): pauses and breaker states by hook name, each hook's
last success and failure, and the per-hook activity `hookd hooks list` shows. Bodies run on the
store's connection thread (store/sqlite.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

from hookd.store.base import AttemptRecord, BreakerRecord, BreakerState, HookActivity, HookPause, HookState, PausedBy

_STATE_COLUMNS = (
    "hook, paused_by, paused_reason, paused_at, breaker, breaker_reason, breaker_since, breaker_retry_at, "
    "pause_announced, last_success_at, last_failure_at"
)


def hook_states(db: sqlite3.Connection) -> dict[str, HookState]:
    out: dict[str, HookState] = {}
    for row in db.execute(f"SELECT {_STATE_COLUMNS} FROM hook_state"):
        pause = (
            HookPause(by=cast(PausedBy, row[1]), reason=row[2] or "", at=float(row[3] or 0.0), announced=bool(row[8]))
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
        out[row[0]] = HookState(
            hook=row[0],
            pause=pause,
            breaker=breaker,
            last_success_at=row[9],
            last_failure_at=row[10],
            # Unpaused, pause_announced tells whether its resume was told (hookd hooks resume stores 0).
            resume_announced=pause is not None or bool(row[8]),
        )
    return out


def _paused(db: sqlite3.Connection, hook: str) -> HookPause | None:
    row = db.execute(
        "SELECT paused_by, paused_reason, paused_at, pause_announced FROM hook_state WHERE hook = ?", (hook,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return HookPause(by=cast(PausedBy, row[0]), reason=row[1] or "", at=float(row[2] or 0.0), announced=bool(row[3]))


def pause_hook(db: sqlite3.Connection, hook: str, pause: HookPause) -> HookPause | None:
    before = _paused(db, hook)
    if before is not None:
        return before
    db.execute(
        "INSERT INTO hook_state (hook, paused_by, paused_reason, paused_at, pause_announced, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hook) DO UPDATE SET paused_by = excluded.paused_by, "
        "paused_reason = excluded.paused_reason, paused_at = excluded.paused_at, "
        "pause_announced = excluded.pause_announced, updated_at = excluded.updated_at",
        (hook, pause.by, pause.reason, pause.at, int(pause.announced), pause.at),
    )
    return None


def mark_pause_announced(db: sqlite3.Connection, hook: str, paused_at: float) -> None:
    db.execute(
        "UPDATE hook_state SET pause_announced = 1 WHERE hook = ? AND paused_at = ? AND paused_by IS NOT NULL",
        (hook, paused_at),
    )


# Each hook's last successful and failed attempt end, the newest of a batch of outcomes (one row per
# hook in it): `hookd hooks list` reads them without a scan of attempts.
_LAST_OUTCOMES = (
    "INSERT INTO hook_state (hook, last_success_at, last_failure_at, updated_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (hook) DO UPDATE SET "
    "last_success_at = coalesce(max(last_success_at, excluded.last_success_at), last_success_at, "
    "excluded.last_success_at), "
    "last_failure_at = coalesce(max(last_failure_at, excluded.last_failure_at), last_failure_at, "
    "excluded.last_failure_at)"
)


def last_outcomes(records: Sequence[AttemptRecord]) -> list[tuple[str, float | None, float | None, float]]:
    """(hook, last success end, last failure end, now) per hook of `records`, for record_last_outcomes."""
    ok: dict[str, float] = {}
    bad: dict[str, float] = {}
    for r in records:
        if not r.hook:  # a record made without its hook (not by the dispatcher): nothing to name
            continue
        ends = ok if r.state == "delivered" else bad
        end = r.started_at + r.duration_s
        if ends.get(r.hook, 0.0) < end:
            ends[r.hook] = end
    return [(hook, ok.get(hook), bad.get(hook), max(ok.get(hook, 0.0), bad.get(hook, 0.0))) for hook in {*ok, *bad}]


def record_last_outcomes(db: sqlite3.Connection, rows: Sequence[tuple[str, float | None, float | None, float]]) -> None:
    db.executemany(_LAST_OUTCOMES, rows)


def resume_hook(db: sqlite3.Connection, hook: str, now: float) -> HookPause | None:
    before = _paused(db, hook)
    if before is not None:
        db.execute(
            # The resume is to be told (0) only if the pause it lifts was: one never told needs no resume.
            "UPDATE hook_state SET paused_by = NULL, paused_reason = NULL, paused_at = NULL, "
            "pause_announced = 1 - pause_announced, updated_at = ? WHERE hook = ?",
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


def mark_resume_announced(db: sqlite3.Connection, hook: str) -> None:
    db.execute("UPDATE hook_state SET pause_announced = 1 WHERE hook = ? AND paused_by IS NULL", (hook,))


def clear_breakers(db: sqlite3.Connection, now: float) -> list[str]:
    rows = db.execute(
        "UPDATE hook_state SET breaker = NULL, breaker_reason = NULL, breaker_since = NULL, breaker_retry_at = NULL, "
        "updated_at = ? WHERE breaker IS NOT NULL RETURNING hook",
        (now,),
    ).fetchall()
    return sorted(row[0] for row in rows)


# One pass over deliveries, as the admin listener's counts.
_ACTIVITY = "SELECT hook, sum(state IN ('pending', 'delivering')) FROM deliveries GROUP BY hook"


def hook_activity(db: sqlite3.Connection) -> dict[str, HookActivity]:
    return {row[0]: HookActivity(hook=row[0], backlog=int(row[1] or 0)) for row in db.execute(_ACTIVITY)}
