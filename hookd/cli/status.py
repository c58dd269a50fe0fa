"""`hookd status`: ask the running daemon's admin listener how it is doing."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

import typer
from rich import box
from rich.table import Table

from hookd import client
from hookd.cli import render
from hookd.cli.admin_target import AdminConfigOption, TokenOption, UrlOption, admin_target, with_moved_hint
from hookd.cli.app import app
from hookd.cli.common import fail, print_table
from hookd.errors import DaemonUnavailable, HookdError


@app.command()
def status(
    config: AdminConfigOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    timeout: float = typer.Option(client.STATUS_TIMEOUT_S, "--timeout", min=0.1, help="Seconds to wait for an answer."),
    as_json: bool = typer.Option(False, "--json", help="Print the daemon's status document as JSON."),
) -> None:
    """Show the running daemon's uptime, config, sources, per-hook queues and health.

    Exit 0 when healthy, 1 when degraded (recent failed deliveries, store errors) or the token is
    refused, 2 for bad usage, 3 when no daemon answers.
    """
    try:
        target = admin_target(config, url, token, "hookd status")
        doc = asyncio.run(client.fetch_status(target.url, token=target.token, timeout_s=timeout, socket=target.socket))
    except DaemonUnavailable as e:
        fail(with_moved_hint(e) if url is None else e)
    except HookdError as e:
        fail(e)
    health = doc.get("health")
    healthy = isinstance(health, dict) and health.get("status") == "ok"
    code = 0 if healthy else 1
    try:
        if as_json:
            render.print_json(doc)
        else:
            _human(doc)
        sys.stdout.flush()
    except BrokenPipeError:
        # `hookd status | head -3`: the reader has all it wanted. The verdict is the daemon's health,
        # whether or not every line was read, so exit as if printed, without a traceback.
        render.discard_stdout()
    raise typer.Exit(code)


# -- human output -------------------------------------------------------------------------------------


def _human(doc: dict[str, object]) -> None:
    out = render.stdout
    esc = render.escape
    config = _dict(doc.get("config"))
    database = _dict(doc.get("database"))
    admin = _dict(doc.get("admin"))
    totals = _dict(doc.get("totals"))
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row(
        "hookd",
        f"{esc(str(doc.get('version')))}, pid {doc.get('pid')}, up {_duration(_num(doc.get('uptime_s')))} "
        f"(since {esc(str(doc.get('started_at')))})",
    )
    summary.add_row("config", f"{esc(str(config.get('path')))} (sha256 {str(config.get('sha256'))[:12]})")
    summary.add_row("database", esc(str(database.get("path"))))
    summary.add_row("admin", esc(str(admin.get("url"))))
    worker = doc.get("delivery_worker")
    if isinstance(worker, dict):
        running = (
            f"pid {worker.get('pid')}"
            if worker.get("pid") is not None
            else "not running (starts with the next delivery)"
        )
        summary.add_row("worker", f"{running}, {worker.get('restarts')} restart(s) since start")
    http_worker = doc.get("http_worker")
    if isinstance(http_worker, dict):
        running = f"pid {http_worker.get('pid')}" if http_worker.get("pid") is not None else "not running"
        summary.add_row("http worker", f"{running}, {http_worker.get('restarts')} restart(s) since start")
    summary.add_row(
        "events",
        f"{totals.get('events_total')} stored, {totals.get('duplicates_total')} duplicate(s), "
        f"{totals.get('rejected_total')} rejected; last {_ago(totals.get('last_event_at'))}",
    )
    summary.add_row(
        "deliveries",
        f"{totals.get('delivered_total')} delivered, {totals.get('failed_total')} failed, "
        f"{totals.get('retried_total')} retried since start; {totals.get('pending')} pending (not attempted yet), "
        f"{totals.get('retrying')} retrying, {totals.get('in_flight')} in flight",
    )
    print_table(summary)
    out.print()

    # No type column: the address says it (unix:, tcp:, file:), and paths need the room.
    sources = Table(title="sources", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    sources.add_column("source", no_wrap=True)
    for name in ("events", "per s", "rejected"):
        sources.add_column(name, justify="right", no_wrap=True)
    sources.add_column("last event", no_wrap=True)
    sources.add_column("address, position", overflow="fold")
    for item in _dicts(doc.get("sources")):
        where = " ".join(str(a) for a in _list(item.get("addresses")))
        position = _position(item.get("file"))
        sources.add_row(
            esc(str(item.get("name"))),
            str(item.get("events_total")),
            f"{_num(item.get('events_per_s')):.2f}",
            str(item.get("rejected_total")),
            _ago(item.get("last_event_at")),
            esc(f"{where} {position}" if position else where),
        )
    print_table(sources)
    out.print()

    hooks = Table(
        title="hooks",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption="pending: not attempted yet; retrying: waiting after a failed attempt (as in hookd history); "
        "delivered, failed: since the daemon started; failed (stored): dead letters kept in the database",
        caption_justify="left",
    )
    hooks.add_column("hook")
    for name in ("pending", "retrying", "in flight", "failed (stored)", "delivered", "failed"):
        hooks.add_column(name, justify="right")
    # Filters and templates that failed on events: a column only when some did (each is also a failure).
    evaluation_errors = {
        str(item.get("name")): int(
            _num(item.get("filter_errors_total"))
            + _num(item.get("template_errors_total"))
            + _num(item.get("ordering_key_errors_total"))
        )
        for item in _dicts(doc.get("hooks"))
    }
    if any(evaluation_errors.values()):
        hooks.add_column("eval errors", justify="right")
        hooks.caption = (
            f"{hooks.caption}; eval errors: events the hook's filter, ordering_key or templates failed on, since the "
            "daemon started"
        )
    # A hook's run-time state (paused, its breaker): a column only when some hook is not active.
    states = {
        str(item.get("name")): _state_text(item.get("state")) or _held_text(item.get("held_until"))
        for item in _dicts(doc.get("hooks"))
    }
    if any(states.values()):
        hooks.add_column("state")
        hooks.caption = f"{hooks.caption}; hookd hooks list says why"
    # Rate limits: a column only when some hook has one.
    rate_limited = any(isinstance(item.get("rate_limit"), dict) for item in _dicts(doc.get("hooks")))
    if rate_limited:
        hooks.add_column("rate limit")
        hooks.caption = f"{hooks.caption}; rate limit: waiting = deliveries wait for the limit's next token"
    for item in _dicts(doc.get("hooks")):
        name = esc(str(item.get("name")))
        if item.get("configured") is False:
            name += " [dim](not in config)[/dim]"
        row = [
            name,
            str(item.get("pending")),
            str(item.get("retrying")),
            str(item.get("in_flight")),
            str(item.get("failed")),
            str(item.get("delivered_total")),
            str(item.get("failed_total")),
        ]
        if any(evaluation_errors.values()):
            row.append(str(evaluation_errors[str(item.get("name"))]))
        if any(states.values()):
            row.append(states[str(item.get("name"))] or "active")
        if rate_limited:
            row.append(_rate_limit(item.get("rate_limit")))
        hooks.add_row(*row)
    print_table(hooks)
    out.print()

    health = _dict(doc.get("health"))
    if health.get("status") == "ok":
        out.print("health: [green]ok[/green]")
    else:
        out.print(f"health: [yellow]{esc(str(health.get('status')))}[/yellow]")
        for reason in _list(health.get("reasons")):
            out.print(f"  - {esc(str(reason))}")


def _state_text(value: object) -> str:
    """`paused (by operator)`, `open`, ...; "" for an active hook (or a daemon too old to say)."""
    state = _dict(value)
    name = state.get("state")
    if not isinstance(name, str) or name == "active":
        return ""
    by = state.get("by")
    return render.escape(f"{name} (by {by})" if isinstance(by, str) else name)


def _held_text(value: object) -> str:
    """`held until … (Retry-After)` while the receiver's Retry-After holds an active hook; "" otherwise."""
    if not isinstance(value, str):
        return ""
    return render.escape(f"held until {value} (the receiver's Retry-After)")


def _rate_limit(value: object) -> str:
    """`100/min`, `100/min (group partner)`, and `, waiting` while deliveries wait for a token."""
    limit = _dict(value)
    if not limit:
        return ""
    text = render.escape(str(limit.get("limit")))
    if limit.get("group") is not None:
        text += f" (group {render.escape(str(limit.get('group')))})"
    if limit.get("waiting_for_tokens"):
        text += ", [yellow]waiting[/yellow]"
    return text


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dicts(value: object) -> list[dict[str, object]]:
    return [v for v in _list(value) if isinstance(v, dict)]


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{s}s")
    return " ".join(parts)


def _ago(value: object) -> str:
    if not isinstance(value, str):
        return "never"
    try:
        at = datetime.fromisoformat(value).timestamp()
    except ValueError:
        return render.escape(value)
    return f"{_duration(max(0.0, time.time() - at))} ago"


def _position(value: object) -> str:
    file = _dict(value)
    if not file:
        return ""
    if file.get("offset") is None:
        return "(not read yet)"
    size = file.get("size")
    of = f" of {size}" if size is not None else ", file missing"
    return f"(line {file.get('line')}, byte {file.get('offset')}{of})"
