"""What the history, replay and prune commands share: options, finding the database, rendering rows."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hookd import history as core
from hookd.cli import render
from hookd.cli.state import state
from hookd.config.load import check_config, default_config_path
from hookd.config.model import Settings
from hookd.errors import HookdError
from hookd.events import utc_now_rfc3339
from hookd.store.base import DeliveryRow

# -- shared by history, replay and prune --------------------------------------------------------------

ConfigOption = Annotated[
    Path | None,
    typer.Option("-c", "--config", help="Config file, for storage.path (default: $HOOKD_CONFIG or ./hookd.yaml)."),
]
DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="The SQLite file to use instead of the config's storage.path.", metavar="PATH"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only deliveries created since: a duration ago (30m, 1h, 7d) or an RFC 3339 time."),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Only deliveries created before: a duration ago or an RFC 3339 time.")
]
HookOption = Annotated[list[str] | None, typer.Option("--hook", help="Only this hook; repeat for several.")]
EventOption = Annotated[list[str] | None, typer.Option("--event", help="Only this event id; repeat for several.")]
TypeOption = Annotated[
    str | None, typer.Option("--type", help="Only events whose type matches this glob, like 'order.*'.")
]

DEFAULT_LIMIT = 50
_PIPED_WIDTH = 10_000


@dataclass(frozen=True, slots=True)
class Database:
    path: Path
    origin: str  # where the path came from, for messages
    settings: Settings | None  # the config, when one was read


def database(command: str, config: Path | None, db: Path | None, *, need_config: bool = False) -> Database:
    """The database to open: --db, else the config's storage.path. Reads the config only when needed
    (no --db, --config given, or `need_config`); an invalid one prints its problems and exits 2."""
    settings = None
    if config is not None or db is None or need_config:
        path = config or default_config_path()
        result = check_config(path)
        if result.settings is None:
            render.problems_text(result.problems, console=render.stderr)
            needs = "its hooks" if need_config else "storage.path"
            hint = "" if need_config else ", or --db PATH"
            render.stderr.print(f"hookd {command} needs a valid config for {needs} (-c FILE){hint}.")
            raise typer.Exit(2)
        settings = result.settings
    if db is not None:
        return Database(db, "given with --db", settings)
    assert settings is not None
    return Database(settings.storage.path, f"storage.path in {settings.config_path}", settings)


def fail(e: HookdError) -> NoReturn:
    """Print a user error as one sentence (a traceback only with --debug) and exit with its code."""
    if state.debug:
        raise e
    render.stderr.print(f"[red]error:[/red] {render.escape(str(e))}")
    raise typer.Exit(e.exit_code)


def window(since: str | None, until: str | None, *, now: float) -> tuple[float | None, float | None]:
    return (
        core.parse_when(since, now=now, option="--since") if since is not None else None,
        core.parse_when(until, now=now, option="--until") if until is not None else None,
    )


def local_time(at: float | None) -> str:
    """ISO 8601 in the local timezone, with its offset (so it can be pasted into --since)."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")


def utc_time(at: float | None) -> str | None:
    return utc_now_rfc3339(at) if at is not None else None


def milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


_COLOURS = {"delivered": "green", "failed": "red", "retrying": "yellow", "pending": "cyan", "delivering": "blue"}


def status_text(row: DeliveryRow) -> str:
    colour = _COLOURS[row.status]
    replay = " [dim](replay)[/dim]" if row.replay_of else ""
    return f"[{colour}]{row.status}[/{colour}]{replay}"


def delivery_dict(row: DeliveryRow) -> dict[str, object]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "type": row.event_type,
        "hook": row.hook,
        "status": row.status,
        "state": row.state,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "last_duration_s": row.last_duration_s,
        "created_at": utc_time(row.created_at),
        "updated_at": utc_time(row.updated_at),
        "next_at": utc_time(row.next_at) if row.state == "pending" else None,
        "replay_of": row.replay_of,
    }


def deliveries_table(rows: Sequence[DeliveryRow], *, caption: str | None = None) -> Table:
    esc = render.escape
    errors = any(r.last_error and r.state != "delivered" for r in rows)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, caption=caption, caption_justify="left")
    table.add_column("time", no_wrap=True)
    table.add_column("delivery", no_wrap=True)
    table.add_column("event", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("hook", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("code", justify="right", no_wrap=True)
    table.add_column("ms", justify="right", no_wrap=True)
    if errors:
        table.add_column("last error", overflow="fold")
    for r in rows:
        cells = [
            local_time(r.created_at),
            r.id,
            esc(r.event_id),
            esc(r.event_type or "-"),
            esc(r.hook),
            status_text(r),
            str(r.attempts),
            str(r.last_status) if r.last_status is not None else "-",
            milliseconds(r.last_duration_s),
        ]
        if errors:
            cells.append(esc(r.last_error or "") if r.state != "delivered" else "")
        table.add_row(*cells)
    return table


def print_table(table: Table) -> None:
    if render.stdout.is_terminal:
        render.stdout.print(table)
    else:
        # Piped, every row stays on one line (for grep and cut) instead of wrapping at 80 columns.
        console = Console(highlight=False, width=_PIPED_WIDTH, file=io.StringIO())
        with console.capture() as captured:
            console.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
