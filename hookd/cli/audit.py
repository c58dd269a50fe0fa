"""`hookd history audit`: operator actions, newest first: replays, cancels, pauses, resumes, prunes and
reloads, with when, what and from where (a command and its user, or what asked the daemon to reload)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from hookd import history as core
from hookd.cli import render
from hookd.cli.common import (
    DEFAULT_LIMIT,
    Column,
    ConfigOption,
    DbOption,
    JsonOption,
    compact_time,
    database,
    fail,
    fitted_table,
    local_time,
    print_table,
    table_width,
    utc_time,
)
from hookd.cli.history import _given_before, history_app
from hookd.errors import HookdError
from hookd.store.base import AuditRow

# Kept first on a narrow terminal: what, on what, then when and who; `detail` takes the width left over.
_PRIORITY = ("action", "target", "time", "origin", "detail")


@history_app.command("audit")
def audit(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    since: Annotated[str, typer.Option("--since", help="A duration ago (1h, 7d) or an RFC 3339 time.")] = "30d",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List operator actions, newest first: replay, cancel (replay --cancel), pause, resume, prune and
    reload, with when, what was acted on (a hook, the selection given, counts), the reason or outcome,
    and the origin: `cli:USER` for a command (the OS user who ran it), or SIGHUP, admin or watch for
    what asked the daemon to reload (refused reloads too).

    Every action but a dry run leaves a row, also one that found nothing to do (its counts say 0).
    A row holds names, selectors and counts, never an event's body nor a secret. Rows are never pruned.

    Exit 0 (also when there are none), 2 for bad usage or a missing database.
    """
    config, db = _given_before(ctx, config, db)
    try:
        now = time.time()
        since_at = core.parse_when(since, now=now, option="--since")
        where = database("history audit", config, db, secrets_optional=True)
        rows = asyncio.run(_rows(where.path, origin=where.origin, since=since_at, limit=limit))
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json({"since": utc_time(since_at), "actions": [_as_dict(r) for r in rows]})
        return
    if not rows:
        render.stdout.print(f"no operator actions since {local_time(since_at)}")
        return
    columns = {
        "time": Column(
            "time", tuple(local_time(r.at) for r in rows), compact=tuple(compact_time(r.at, now=now) for r in rows)
        ),
        "action": Column("action", tuple(render.escape(r.action) for r in rows)),
        "target": Column("target", tuple(render.escape(r.target) for r in rows), fold=True),
        "origin": Column("origin", tuple(render.escape(r.origin) for r in rows)),
        "detail": Column("detail", tuple(render.escape(r.detail) for r in rows), flexible=True),
    }
    print_table(fitted_table(columns, order=list(columns), priority=_PRIORITY, width=table_width()))


async def _rows(path: Path, *, origin: str, since: float, limit: int) -> list[AuditRow]:
    async with core.open_store(path, origin=origin) as store:
        return await store.audit_rows(since, limit)


def _as_dict(row: AuditRow) -> dict[str, object]:
    return {
        "at": utc_time(row.at),
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
        "origin": row.origin,
    }
