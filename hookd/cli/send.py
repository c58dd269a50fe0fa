"""`hookd send`: write events to the running daemon's socket and print what it answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NoReturn

import typer

from hookd import client
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.state import state
from hookd.config.load import check_config, default_config_path
from hookd.errors import HookdError


@app.command()
def send(
    events: list[str] = typer.Argument(
        None, metavar="EVENT", help="Events as JSON objects; - reads JSON or JSON Lines from stdin."
    ),
    config: Path = typer.Option(None, "-c", "--config", help="Config file (default: $HOOKD_CONFIG or ./hookd.yaml)."),
    socket: Path = typer.Option(
        None, "--socket", help="The daemon's unix socket (default: the config's first socket source with a path)."
    ),
    event_type: str = typer.Option(None, "--type", help="Send one event of this type (with --data)."),
    data: str = typer.Option(None, "--data", help="The data of the --type event, as JSON."),
    timeout: float = typer.Option(client.SEND_TIMEOUT_S, "--timeout", min=0.1, help="Seconds to wait for each answer."),
    as_json: bool = typer.Option(False, "--json", help="Print the answers as JSON."),
) -> None:
    """Send events to the running daemon and print the id of each one it stored.

    Each EVENT is a JSON object like '{"type": "order.created", "data": {"id": 7}}'; `-` reads
    one JSON document (an object or an array of objects) or JSON Lines from stdin; --type and
    --data build one event. hookd answers each event once it is stored (or says why not).

    Exit 0 when every event was stored (or was a duplicate), 1 when hookd rejected any, 2 for bad
    input, 3 when no daemon answers on the socket.
    """
    try:
        lines = _lines(events or [], event_type, data)
        if socket is None:
            path = config or default_config_path()
            result = check_config(path)
            if result.settings is None:
                render.problems_text(result.problems, console=render.stderr)
                render.stderr.print("hookd send needs a valid config to find the socket, or --socket.")
                raise typer.Exit(2)
            socket = client.socket_path(result.settings)
        acks = asyncio.run(client.send_events(socket, lines, timeout_s=timeout))
    except client.SendInterrupted as e:
        _print(e.acks, len(lines), as_json, error=str(e))
        _error(e)
    except HookdError as e:
        _error(e)
    rejected = _print(acks, len(lines), as_json)
    if rejected:
        raise typer.Exit(1)


def _lines(events: list[str], event_type: str | None, data: str | None) -> list[bytes]:
    if data is not None and event_type is None:
        raise client.InputError("--data needs --type: an event must have a type")
    lines: list[bytes] = []
    for n, text in enumerate(events, 1):
        if text == "-":
            lines.extend(client.stdin_lines(typer.get_binary_stream("stdin").read()))
        else:
            lines.append(client.event_line(text, f"argument {n}"))
    if event_type is not None:
        lines.append(client.typed_event_line(event_type, data))
    if not lines:
        raise client.InputError("nothing to send: give EVENT arguments, - to read stdin, or --type")
    return lines


def _print(acks: list[client.Ack], sent: int, as_json: bool, *, error: str | None = None) -> int:
    """Print the answers; returns how many events were rejected."""
    rejected = [a for a in acks if not a.ok]
    if as_json:
        doc: dict[str, object] = {
            "sent": sent,
            "stored": sum(1 for a in acks if a.ok and not a.duplicate),
            "duplicates": sum(1 for a in acks if a.duplicate),
            "rejected": len(rejected),
            "unanswered": sent - len(acks),
            "events": [a.as_dict() for a in acks],
        }
        if error is not None:
            doc["error"] = error
        render.print_json(doc)
        return len(rejected)
    for a in acks:
        if a.ok:
            # stdout carries only ids, so `id=$(hookd send ...)` works.
            render.stdout.print(f"{render.escape(a.id or '')}{' duplicate' if a.duplicate else ''}")
        else:
            # hookd's reason names the event's id when it has one.
            render.stderr.print(f"[red]rejected:[/red] event {a.index}: {render.escape(a.error or '')}")
    if rejected:
        render.stderr.print(f"{len(rejected)} of {sent} event(s) rejected; the others were stored")
    return len(rejected)


def _error(e: HookdError) -> NoReturn:
    if state.debug:
        raise e
    render.stderr.print(f"[red]error:[/red] {render.escape(str(e))}")
    raise typer.Exit(e.exit_code) from None
