"""What the history, replay and prune commands share: options, finding the database, rendering rows."""

from __future__ import annotations

import getpass
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hookd import history as core
from hookd.cli import render
from hookd.cli.state import state
from hookd.config.load import check_config, default_config_path
from hookd.config.model import Settings
from hookd.errors import HookdError
from hookd.events import utc_now_rfc3339
from hookd.hook_state import WAITS_FOR_RESUME
from hookd.store.base import PARK_OFFSET_S, DeliveryRow

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
    typer.Option(
        "--since",
        help="Only deliveries created since: a duration ago (30m, 1h, 7d, or 60 for seconds) or an RFC 3339 time.",
    ),
]
UntilOption = Annotated[
    str | None, typer.Option("--until", help="Only deliveries created before: a duration ago or an RFC 3339 time.")
]
HookOption = Annotated[list[str] | None, typer.Option("--hook", help="Only this hook; repeat for several.")]
EventOption = Annotated[
    list[str] | None,
    typer.Option("--event", help="Only this event id (or a prefix that starts only it); repeat for several."),
]
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
    # References (`${VAR}`, `${file:...}`) left unresolved in `settings` (secrets_optional): their values
    # hold the reference's text, not a secret.
    unresolved: tuple[str, ...] = ()


def database(
    command: str, config: Path | None, db: Path | None, *, need_config: bool = False, secrets_optional: bool = False
) -> Database:
    """The database to open: --db, else the config's storage.path. Reads the config only when needed
    (no --db, --config given, or `need_config`); an invalid one prints its problems and exits 2.

    `secrets_optional`: a command that needs only storage.path and the admin listener (hooks, history)
    still runs where the deployment's secrets are not (an operator's shell): a config whose only
    problems are unset `${VAR}`s or missing `${file:...}`s is read with them left unresolved."""
    settings = None
    unresolved: tuple[str, ...] = ()
    if config is not None or db is None or need_config:
        path = config or default_config_path()
        result = check_config(path)
        if result.settings is None and secrets_optional:
            partial = check_config(path, check_environment=False)
            if partial.settings is not None and not partial.errors:
                result, unresolved = partial, partial.unchecked
                _unresolved_storage(command, partial.settings, unresolved, db)
        if result.settings is None:
            render.problems_text(result.problems, console=render.stderr)
            needs = "its hooks" if need_config else "storage.path"
            hint = "" if need_config else ", or --db PATH"
            render.stderr.print(f"hookd {command} needs a valid config for {needs} (-c FILE){hint}.")
            raise typer.Exit(2)
        settings = result.settings
    if db is not None:
        return Database(db, "given with --db", settings, unresolved)
    assert settings is not None
    return Database(settings.storage.path, f"storage.path in {settings.config_path}", settings, unresolved)


def _unresolved_storage(command: str, settings: Settings, unresolved: Sequence[str], db: Path | None) -> None:
    """Exit 2 when the database's path itself is one of the unresolved references (and no --db)."""
    if db is not None:
        return
    used = [ref for ref in unresolved if ref in str(settings.storage.path)]
    if used:
        render.stderr.print(
            f"hookd {command}: storage.path in {render.escape(str(settings.config_path))} uses "
            f"{render.escape(', '.join(used))}, which is not set here; set it, or pass --db PATH."
        )
        raise typer.Exit(2)


def fail(e: HookdError) -> NoReturn:
    """Print a user error as one sentence (a traceback only with --debug) and exit with its code."""
    if state.debug:
        raise e
    render.stderr.print(f"[red]error:[/red] {render.escape_lines(str(e))}")
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


_COLOURS = {
    "delivered": "green", "failed": "red", "retrying": "yellow", "pending": "cyan", "delivering": "blue",
    "cancelled": "magenta",
}  # fmt: skip


def waits_for_resume(row: DeliveryRow) -> bool:
    """Whether `row` is pending because its last answer paused its hook or destination."""
    return row.state == "pending" and row.last_error is not None and WAITS_FOR_RESUME in row.last_error


def status_text(row: DeliveryRow) -> str:
    colour = _COLOURS[row.status]
    replay = " [dim](replay)[/dim]" if row.replay_of else ""
    # Still `retrying` (the --status word), but it is not due at a time: its answer paused it.
    paused = " [dim](paused)[/dim]" if waits_for_resume(row) else ""
    return f"[{colour}]{row.status}[/{colour}]{paused}{replay}"


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
        # Null when its last answer paused it: it waits for a resume, not a time.
        "next_at": utc_time(due_at(row.next_at)) if row.state == "pending" and not waits_for_resume(row) else None,
        "replay_of": row.replay_of,
        "ordering_key": row.ordering_key,
        "batch_id": row.batch_id,
    }


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table fitted to the terminal (see fitted_table)."""

    header: str
    cells: tuple[str, ...]  # rich markup
    justify: Literal["left", "right"] = "left"
    compact: tuple[str, ...] | None = None  # a narrower form of the cells, used when the full one does not fit
    fold: bool = False  # a name too long for the terminal wraps onto more lines rather than being cut
    flexible: bool = False  # takes the width left over (at least _FLEXIBLE_MIN_WIDTH), cells cut with "…"

    def width(self, *, compact: bool = False) -> int:
        cells = self.compact if compact and self.compact is not None else self.cells
        return max([cell_len(self.header), *(Text.from_markup(c).cell_len for c in cells)])


# Columns kept first when the terminal is too narrow for all: what identifies a delivery and how it
# ended, then when, for what, and why it failed; `last error` takes whatever width is left.
_PRIORITY = ("delivery", "status", "hook", "time", "event", "code", "last error", "tries", "batch", "type", "ms")
_ORDER = ("time", "delivery", "event", "type", "hook", "batch", "status", "tries", "code", "ms", "last error")
_FLEXIBLE_MIN_WIDTH = 16
_GAP = 3  # between columns: one space of padding on each side, and the (blank) divider


def compact_time(at: float, *, now: float) -> str:
    """The local time of day when `at` is today, else the date and the time to the minute (no UTC offset)."""
    moment = datetime.fromtimestamp(at).astimezone()
    if moment.date() == datetime.fromtimestamp(now).astimezone().date():
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def table_width() -> int | None:
    """The width to fit tables to: the terminal's, or COLUMNS when set (also when piped); None for no limit."""
    if render.stdout.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return render.stdout.width
    return None


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) as one space, for a one-line cell."""
    return " ".join(text.split())


def deliveries_table(
    rows: Sequence[DeliveryRow],
    *,
    caption: str | None = None,
    short: Mapping[str, str] | None = None,
    width: int | None = None,
) -> Table:
    """Deliveries as a table, one line a row; ids cut to their `short` forms. Given a `width`, the
    columns that matter most are kept (see _PRIORITY), the time is shortened, the last error is cut
    with "…", and the caption says what was left out."""
    esc = render.escape
    ids = short or {}
    moment = time.time()
    columns = {
        "time": Column(
            "time",
            tuple(local_time(r.created_at) for r in rows),
            compact=tuple(compact_time(r.created_at, now=moment) for r in rows),
        ),
        "delivery": Column("delivery", tuple(esc(ids.get(r.id, r.id)) for r in rows)),
        "event": Column("event", tuple(esc(ids.get(r.event_id, r.event_id)) for r in rows), fold=True),
        "type": Column("type", tuple(esc(r.event_type or "-") for r in rows), fold=True),
        "hook": Column("hook", tuple(esc(r.hook) for r in rows), fold=True),
        "status": Column("status", tuple(status_text(r) for r in rows)),
        "tries": Column("tries", tuple(str(r.attempts) for r in rows), "right"),
        "code": Column("code", tuple(str(r.last_status) if r.last_status is not None else "-" for r in rows), "right"),
        "ms": Column("ms", tuple(milliseconds(r.last_duration_s) for r in rows), "right"),
    }
    if any(r.batch_id for r in rows):  # a hook with `batch:`: the request each delivery went in
        columns["batch"] = Column("batch", tuple(esc(ids.get(r.batch_id, r.batch_id)) if r.batch_id else "-"
                                                 for r in rows))  # fmt: skip
    if any(r.last_error and r.state != "delivered" for r in rows):
        cells = tuple(esc(one_line(r.last_error or "")) if r.state != "delivered" else "" for r in rows)
        columns["last error"] = Column("last error", cells, flexible=True)
    return fitted_table(columns, order=_ORDER, priority=_PRIORITY, width=width, caption=caption)


def fitted_table(
    columns: Mapping[str, Column],
    *,
    order: Sequence[str],
    priority: Sequence[str],
    width: int | None,
    caption: str | None = None,
) -> Table:
    """`columns` as a table within `width` (None: no limit), shown in `order`. When not all fit, the
    columns are kept strictly in `priority` order (none is kept while one before it is left out) and
    the caption names those left out."""
    fit = _fit(columns, priority, width)
    left_out = [name for name in order if name in columns and name not in fit.kept]
    if left_out:
        note = f"{', '.join(left_out)} left out to fit {width} columns; --json has everything"
        caption = f"{caption}; {note}" if caption else note
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, caption=caption, caption_justify="left")
    shown = [name for name in order if name in fit.kept]
    for name in shown:
        column = columns[name]
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not column.fold,
            overflow="fold" if column.fold else "ellipsis",
            min_width=None if column.flexible else column.width(compact=name in fit.compact),
            max_width=fit.flexible_width if column.flexible else None,
        )
    for i in range(len(next(iter(columns.values())).cells) if columns else 0):
        table.add_row(
            *((columns[n].compact or columns[n].cells)[i] if n in fit.compact else columns[n].cells[i] for n in shown)
        )
    return table


@dataclass(frozen=True, slots=True)
class _Fit:
    kept: set[str]
    compact: set[str]  # kept columns shown in their compact form
    flexible_width: int | None  # the most a flexible column may take; None for no limit


def _fit(columns: Mapping[str, Column], priority: Sequence[str], width: int | None) -> _Fit:
    """The columns to show within `width`: in `priority` order until one does not fit (the first is
    always shown), compact forms where the full ones do not fit, and the width left for a flexible one."""
    if width is None:
        return _Fit(set(columns), set(), None)
    kept: set[str] = set()
    compact = {name for name, c in columns.items() if c.compact is not None}
    used = -_GAP
    flexible = 0  # the width counted for the flexible column, if kept
    for name in (n for n in priority if n in columns):
        column = columns[name]
        full = column.width(compact=name in compact)
        need = min(full, _FLEXIBLE_MIN_WIDTH) if column.flexible else full
        if kept and used + need + _GAP > width:
            break  # strictly by priority: a less needed column never takes the place of this one
        kept.add(name)
        used += need + _GAP
        flexible = need if column.flexible else flexible
    for name in sorted(compact):  # widen again what fits in full
        extra = columns[name].width() - columns[name].width(compact=True)
        if name in kept and used + extra <= width:
            compact.discard(name)
            used += extra
    return _Fit(kept, compact, max(flexible, width - (used - flexible)))


def warn(text: str) -> None:
    """A warning on stderr: the command goes on."""
    render.stderr.print(f"[yellow]warning:[/yellow] {render.escape_lines(text)}")


def print_table(table: Table) -> None:
    if render.stdout.is_terminal:
        render.stdout.print(table)
    else:
        # Piped, every row stays on one line (for grep and cut) instead of wrapping at 80 columns,
        # unless COLUMNS asks for a width.
        console = Console(highlight=False, emoji=False, width=table_width() or _PIPED_WIDTH, file=io.StringIO())
        with console.capture() as captured:
            console.print(table)
        render.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def due_at(next_at: float | None) -> float | None:
    """A pending delivery's due time as stored: a parked one (its destination's gate is closed) keeps it
    under store.base.PARK_OFFSET_S."""
    return next_at - PARK_OFFSET_S if next_at is not None and next_at >= PARK_OFFSET_S else next_at


def operator_origin() -> str:
    """`cli:USER` for an action a command takes: the OS user running it (its uid when the system has no
    name for it, as in a container run with an arbitrary uid)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no LOGNAME/USER and no passwd entry for the uid
        user = f"uid {os.getuid()}"
    return f"cli:{user}"
