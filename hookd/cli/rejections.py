"""`hookd history rejections`: input hookd refused, newest first: socket lines, file lines and
http requests, with where each came from and why ("why does GitHub get 401?")."""

from __future__ import annotations

import asyncio
import time
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
    warn,
)
from hookd.cli.history import _given_before, history_app
from hookd.errors import HookdError
from hookd.redact import Redactor
from hookd.store.base import RejectionRow
from hookd.suggest import did_you_mean

# Kept first on a narrow terminal: why, then whose and where; `reason` takes the width left over.
_PRIORITY = ("reason", "source", "where", "time")


@history_app.command("rejections")
def rejections(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only this source; repeat for several.")] = None,
    since: Annotated[str, typer.Option("--since", help="A duration ago (1h, 7d) or an RFC 3339 time.")] = "7d",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List refused input, newest first: socket and file lines that were not valid events, and http
    requests a source refused (401 signature, 403 address, 413 size, ...), with the source, where it
    came from (file:line, connection, or caller and path) and the reason.

    Beyond the first few per connection or caller in a minute, refusals are counted in one summary row.
    An http request's body is never kept; a line's first bytes are (--json: `excerpt`).

    Exit 0 (also when there are none), 2 for bad usage or a missing database.
    """
    config, db = _given_before(ctx, config, db)
    try:
        now = time.time()
        since_at = core.parse_when(since, now=now, option="--since")
        where = database("history rejections", config, db, secrets_optional=True)
        rows = asyncio.run(
            core.rejections(where.path, since=since_at, sources=source or [], limit=limit, origin=where.origin)
        )
    except HookdError as e:
        fail(e)
    redactor = Redactor(where.settings.secrets) if where.settings is not None else Redactor(())
    if where.settings is not None:
        known = [s.name for s in where.settings.sources]
        for name in source or []:
            if name not in known and not name.startswith("http "):
                warn(f"the config has no source {name!r}{did_you_mean(name, known)}")
    if as_json:
        render.print_json({"since": utc_time(since_at), "rejections": [_as_dict(r, redactor) for r in rows]})
        return
    if not rows:
        render.stdout.print(f"no rejections since {local_time(since_at)}")
        return
    columns = {
        "time": Column(
            "time", tuple(local_time(r.at) for r in rows), compact=tuple(compact_time(r.at, now=now) for r in rows)
        ),
        "source": Column("source", tuple(render.escape(r.source) for r in rows)),
        "where": Column("where", tuple(render.escape(redactor.text(r.position)) for r in rows)),
        "reason": Column("reason", tuple(render.escape(redactor.text(r.reason)) for r in rows), flexible=True),
    }
    print_table(fitted_table(columns, order=list(columns), priority=_PRIORITY, width=table_width()))


def _as_dict(row: RejectionRow, redactor: Redactor) -> dict[str, object]:
    return {
        "at": utc_time(row.at),
        "source": row.source,
        "where": redactor.text(row.position),
        "reason": redactor.text(row.reason),
        "excerpt": redactor.text(row.excerpt.decode("utf-8", errors="replace")) if row.excerpt else None,
    }
