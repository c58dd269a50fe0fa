"""`hookd prune`: delete finished deliveries, their attempts, orphaned events and rejections now."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from hookd import history as core
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import ConfigOption, DbOption, JsonOption, database, fail, local_time, operator_origin, utc_time
from hookd.config.model import StorageConfig
from hookd.errors import HookdError
from hookd.units import format_duration, parse_duration_text


@app.command()
def prune(
    config: ConfigOption = None,
    db: DbOption = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Delete what finished longer ago than this, like 30d (default: storage.retention, 90d).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete finished deliveries, their attempts and orphaned events older than --older-than.

    Deletes delivered, failed and cancelled deliveries with their attempts, events left without deliveries and
    rejected lines; pending deliveries are never deleted. The daemon does this hourly; this does it
    now, in short transactions (safe while it runs), and leaves a row in `hookd history audit`.

    Exit 0, 2 for bad usage or a missing database.
    """
    try:
        where = database("prune", config, db)
        if older_than is not None:
            try:
                age_s = parse_duration_text(older_than)
            except ValueError as e:
                raise core.UsageError(f"--older-than: {e}") from None
        elif where.settings is not None:
            age_s = where.settings.storage.retention_s
        else:
            age_s = StorageConfig().retention_s
        now = time.time()
        cutoff = now - age_s
        synchronous = where.settings.storage.synchronous if where.settings is not None else "normal"
        counts = asyncio.run(
            core.prune(
                where.path,
                older_than=cutoff,
                origin=where.origin,
                synchronous=synchronous,
                audit_origin=operator_origin(),
                now=now,
            )
        )
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(
            {
                "older_than_s": age_s,
                "before": utc_time(cutoff),
                "deliveries": counts.deliveries,
                "attempts": counts.attempts,
                "events": counts.events,
                "rejected": counts.rejected,
            }
        )
        return
    render.stdout.print(
        f"pruned {counts.deliveries} delivery(ies), {counts.attempts} attempt(s), {counts.events} event(s) and "
        f"{counts.rejected} rejected line(s) older than {older_than or format_duration(age_s)} "
        f"(before {local_time(cutoff)})"
    )
