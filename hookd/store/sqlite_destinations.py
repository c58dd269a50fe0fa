"""Destinations (migration 0007): the paused destination hosts of hooks with a templated url host, and
parking: a closed destination's pending deliveries have next_at moved up by PARK_OFFSET_S, out of every
claim's range, and back when it opens. Bodies run on the store's connection thread (store/sqlite.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

from hookd.store.base import PARK_OFFSET_S, HookPause, PausedBy


def destination_pauses(db: sqlite3.Connection) -> dict[str, dict[str, HookPause]]:
    out: dict[str, dict[str, HookPause]] = {}
    rows = db.execute(
        "SELECT hook, destination, paused_by, paused_reason, paused_at, pause_announced FROM destination_state"
    )
    for hook, destination, by, reason, at, announced in rows:
        out.setdefault(hook, {})[destination] = HookPause(
            by=cast(PausedBy, by), reason=reason, at=float(at), announced=bool(announced)
        )
    return out


def pause_destination(db: sqlite3.Connection, hook: str, destination: str, pause: HookPause) -> HookPause | None:
    row = db.execute(
        "SELECT paused_by, paused_reason, paused_at FROM destination_state WHERE hook = ? AND destination = ?",
        (hook, destination),
    ).fetchone()
    if row is not None:
        return HookPause(by=cast(PausedBy, row[0]), reason=row[1], at=float(row[2]))
    db.execute(
        "INSERT INTO destination_state (hook, destination, paused_by, paused_reason, paused_at, pause_announced) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (hook, destination, pause.by, pause.reason, pause.at, int(pause.announced)),
    )
    park(db, hook, destination, (), pause.at)
    return None


def resume_destinations(db: sqlite3.Connection, hook: str, destination: str | None, now: float) -> dict[str, HookPause]:
    where, args = (
        ("hook = ?", (hook,)) if destination is None else ("hook = ? AND destination = ?", (hook, destination))
    )
    lifted = {
        row[0]: HookPause(by=cast(PausedBy, row[1]), reason=row[2], at=float(row[3]))
        for row in db.execute(
            f"DELETE FROM destination_state WHERE {where} RETURNING destination, paused_by, paused_reason, paused_at",
            args,
        )
    }
    for host in lifted:
        unpark(db, hook, host, now)
    return lifted


def park(db: sqlite3.Connection, hook: str, destination: str, delivery_ids: Sequence[str], now: float) -> int:
    parked = 0
    if delivery_ids:
        # Claimed and not sent: pending again with the attempt uncounted (as Store.release), parked with
        # the due time it was claimed at (a claim leaves next_at as it was), so it keeps its place among
        # its destination's deliveries when unparked. Its destination is written too: a row stored
        # without one (a replay, a row from before migration 0007) is unparked with its destination's.
        parked = db.executemany(
            "UPDATE deliveries SET state = 'pending', attempts = attempts - 1, "
            "next_at = min(coalesce(next_at, ?1), ?1) + ?2, destination = ?3, updated_at = ?1 "
            "WHERE id = ?4 AND state = 'delivering'",
            [(now, PARK_OFFSET_S, destination, i) for i in delivery_ids],
        ).rowcount
    # A range of deliveries_destination. NULL next_at (waiting for an ordering key) stays as it is: its
    # key's head, parked, still holds it back.
    parked += db.execute(
        "UPDATE deliveries SET next_at = next_at + ?3 WHERE hook = ?1 AND destination = ?2 AND "
        "state = 'pending' AND next_at < ?3",
        (hook, destination, PARK_OFFSET_S),
    ).rowcount
    return max(parked, 0)


def unpark(db: sqlite3.Connection, hook: str, destination: str | None, now: float, limit: int | None = None) -> int:
    if destination is None:
        # At start (breakers and rate limits are not kept across restarts): a range of deliveries_due
        # (hook, next_at) over the parked rows only.
        return db.execute(
            "UPDATE deliveries SET next_at = next_at - ?2 WHERE hook = ?1 AND state = 'pending' AND next_at >= ?2 "
            "AND (destination IS NULL OR destination NOT IN "
            "(SELECT destination FROM destination_state WHERE hook = ?1))",
            (hook, PARK_OFFSET_S),
        ).rowcount
    # Those due first: a retry keeps its place and its due time.
    return db.execute(
        "UPDATE deliveries SET next_at = next_at - ?3 WHERE id IN (SELECT id FROM deliveries WHERE hook = ?1 "
        "AND destination = ?2 AND state = 'pending' AND next_at >= ?3 ORDER BY next_at LIMIT ?4)",
        (hook, destination, PARK_OFFSET_S, -1 if limit is None else limit),
    ).rowcount


def unpark_at_start(db: sqlite3.Connection, templated: Sequence[str], hooks: Sequence[str], now: float) -> int:
    # One transaction for every hook: a start with a thousand hooks would otherwise wait for a thousand
    # commits. A hook whose url host is no longer templated has no destinations any more: their stored
    # pauses are lifted, or its deliveries parked for them would never be claimed again.
    kept = set(templated)
    unparked = 0
    for hook in hooks:
        if hook not in kept:
            db.execute("DELETE FROM destination_state WHERE hook = ?", (hook,))
        unparked += unpark(db, hook, None, now)
    return unparked


def mark_destination_announced(db: sqlite3.Connection, hook: str, destination: str) -> None:
    db.execute(
        "UPDATE destination_state SET pause_announced = 1 WHERE hook = ? AND destination = ?", (hook, destination)
    )
