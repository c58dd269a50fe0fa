"""`hookd tail`: see what is arriving now, and what becomes of it, from the running daemon."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

import typer

from hookd import client, jsonvalue
from hookd.cli import render
from hookd.cli.admin_target import AdminConfigOption, TokenOption, UrlOption, admin_target
from hookd.cli.app import app
from hookd.cli.common import fail
from hookd.config.model import Settings
from hookd.errors import HookdError
from hookd.logs import escape_json_text
from hookd.suggest import did_you_mean


@app.command()
def tail(
    config: AdminConfigOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    hook: list[str] = typer.Option(None, "--hook", help="Only events this hook matched, and its attempts; repeat."),
    event_type: list[str] = typer.Option(None, "--type", help="Only events whose type matches this glob; repeat."),
    source: list[str] = typer.Option(None, "--source", help="Only events from this source; repeat."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, as the daemon sends them."),
) -> None:
    """Stream events as the running daemon stores them, with the hooks each matched, then each
    attempt's outcome, until Ctrl-C. Secrets are hidden. A reader too slow for the stream never slows
    the daemon: it misses lines and is told how many.

    Exit 0 on Ctrl-C, 1 when the token is refused, 2 for bad usage, 3 when no daemon answers or it stops.
    """
    try:
        target = admin_target(config, url, token, "hookd tail")
        if target.settings is not None:
            _warn_unknown(target.settings, hook or [], source or [])
        asyncio.run(
            _follow(target.url, target.token, hook or [], event_type or [], source or [], as_json, target.socket)
        )
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    except HookdError as e:
        fail(e)


def _warn_unknown(settings: Settings, hooks: list[str], sources: list[str]) -> None:
    """A name the config does not have shows nothing: say so, rather than look like a quiet system.
    (The daemon may run a newer config than this file: a warning, not an error.)"""
    for kind, names, known in (
        ("hook", hooks, [h.name for h in settings.hooks]),
        ("source", sources, [s.name for s in settings.sources]),
    ):
        for name in names:
            if name not in known:
                hint = did_you_mean(name, known)
                render.stderr.print(
                    f"[yellow]warning:[/yellow] {kind} {render.escape(repr(name))} is not in "
                    f"{render.escape(str(settings.config_path))}{render.escape(hint)}; nothing of it will show"
                )


async def _follow(
    url: str,
    token: str | None,
    hooks: list[str],
    types: list[str],
    sources: list[str],
    as_json: bool,
    through: Path | None,
) -> None:
    stream = client.stream_tail(url, token=token, hooks=hooks, types=types, sources=sources, socket=through)
    async for line in stream:
        if as_json:  # one object per line, escaped as the JSON log is
            render.write(escape_json_text(jsonvalue.dumps(line).decode()) + "\n")
        else:
            render.stdout.print(_text(line), highlight=False)
        sys.stdout.flush()


def _clock(at: object) -> str:
    """An RFC 3339 time of the stream as this machine's local clock time, to the millisecond."""
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return "?"
    return moment.astimezone().strftime("%H:%M:%S.%f")[:-3]


def _text(line: dict[str, object]) -> str:
    esc = render.escape
    kind = line.get("kind")
    at = _clock(line.get("at"))
    if kind == "missed":
        return f"[yellow]… {line.get('count')} line(s) missed: this reader was too slow for the stream[/yellow]"
    if kind == "event":
        hooks = line.get("hooks")
        failed = line.get("failed")
        matched = ", ".join(str(h) for h in hooks) if isinstance(hooks, list) and hooks else "no hook"
        if isinstance(failed, dict) and failed:
            matched += "; filter failed for " + ", ".join(str(h) for h in failed)
        dup = " [dim](duplicate: not stored again)[/dim]" if line.get("duplicate") else ""
        return (
            f"{at} [bold]event[/bold] {esc(str(line.get('id')))} {esc(str(line.get('type')))} from "
            f"{esc(str(line.get('received_by')))} → {esc(matched)}{dup}"
        )
    status = line.get("status")
    code = f"HTTP {status}" if status is not None else "no response"
    state = str(line.get("state"))
    colour = {"delivered": "green", "failed": "red"}.get(state, "yellow")
    shown = {"pending": "will retry"}.get(state, state)
    error = f": {esc(str(line.get('error')))}" if line.get("error") else ""
    return (
        f"{at} [bold]attempt[/bold] {esc(str(line.get('hook')))} event {esc(str(line.get('event')))} "
        f"#{line.get('attempt')} {code} in {line.get('ms')} ms [{colour}]{shown}[/{colour}]{error}"
    )
