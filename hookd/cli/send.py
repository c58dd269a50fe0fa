"""`hookd send`: write events to the running daemon's socket and print what it answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import typer

from hookd import client
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import fail
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
    JSON Lines from stdin as they come, sending each line at once and printing its answer as it
    arrives (so `tail -F app.log | hookd send -` works), or one JSON document (an object or an
    array of objects) spread over several lines; --type and --data build one event. hookd answers
    each event once it is stored (or says why not).

    Exit 0 when every event was stored (or was a duplicate), 1 when hookd rejected any or a stdin
    line was not JSON, 2 for bad input, 3 when no daemon answers on the socket.
    """
    out = _Printer(as_json)
    try:
        before, reads_stdin, after = _lines(events or [], event_type, data)
        if socket is None:
            path = config or default_config_path()
            full = result = check_config(path)
            if result.settings is None:
                # Only the socket's path is needed: the deployment's secrets (an admin token's or a
                # hook's ${VAR}) may be unset in this shell.
                partial = check_config(path, check_environment=False)
                if partial.settings is not None and not partial.errors:
                    result = partial
            found = client.socket_path(result.settings) if result.settings is not None else None
            if found is None or "${" in str(found):
                render.problems_text(full.problems, console=render.stderr)
                render.stderr.print("hookd send needs a valid config to find the socket, or --socket.")
                raise typer.Exit(2)
            socket = found
        stream = typer.get_binary_stream("stdin") if reads_stdin else None
        asyncio.run(
            client.send_events(
                socket,
                _all_lines(before, stream, after) if stream is not None else before + after,
                on_ack=out.ack,
                on_line_error=out.line_error,
                timeout_s=timeout,
            )
        )
    except client.SendInterrupted as e:
        out.finish(error=str(e), sent=e.sent)
        fail(e)
    except HookdError as e:
        fail(e)
    if out.finish():
        raise typer.Exit(1)


def _lines(events: list[str], event_type: str | None, data: str | None) -> tuple[list[bytes], bool, list[bytes]]:
    """The lines given as arguments: those before `-`, whether stdin is read, those after it."""
    if data is not None and event_type is None:
        raise client.InputError("--data needs --type: an event must have a type")
    before: list[bytes] = []
    after: list[bytes] = []
    reads_stdin = False
    for n, text in enumerate(events, 1):
        if text == "-":
            if reads_stdin:
                raise client.InputError("- is given twice; stdin can be read only once")
            reads_stdin = True
        else:
            (after if reads_stdin else before).append(client.event_line(text, f"argument {n}"))
    if event_type is not None:
        after.append(client.typed_event_line(event_type, data))
    if not (before or after or reads_stdin):
        raise client.InputError("nothing to send: give EVENT arguments, - to read stdin, or --type")
    return before, reads_stdin, after


async def _all_lines(
    before: list[bytes], stream: BinaryIO, after: list[bytes]
) -> AsyncIterator[bytes | client.LineError]:
    for line in before:
        yield line
    async for item in client.stdin_events(stream):
        yield item
    for line in after:
        yield line


class _Printer:
    """Prints each answer as it arrives (text), or all of them at the end (--json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.acks: list[client.Ack] = []
        self.line_errors: list[str] = []

    def ack(self, a: client.Ack) -> None:
        self.acks.append(a)
        if self.as_json:
            return
        if a.ok:
            # stdout carries only ids, so `id=$(hookd send ...)` works.
            render.stdout.print(f"{render.escape(a.id or '')}{' duplicate' if a.duplicate else ''}")
        else:
            # hookd's reason names the event's id when it has one.
            render.stderr.print(f"[red]rejected:[/red] event {a.index}: {render.escape(a.error or '')}")

    def line_error(self, e: client.LineError) -> None:
        self.line_errors.append(e.message)
        if not self.as_json:
            render.stderr.print(f"[red]not sent:[/red] {render.escape(e.message)}")

    def finish(self, *, error: str | None = None, sent: int | None = None) -> int:
        """Print the summary; returns how many events were rejected or not sent."""
        rejected = sum(1 for a in self.acks if not a.ok)
        stored = sum(1 for a in self.acks if a.ok and not a.duplicate)
        duplicates = sum(1 for a in self.acks if a.duplicate)
        bad = rejected + len(self.line_errors)
        if self.as_json:
            doc: dict[str, object] = {
                "sent": len(self.acks) if sent is None else sent,
                "stored": stored,
                "duplicates": duplicates,
                "rejected": rejected,
                "unanswered": 0 if sent is None else sent - len(self.acks),
                "not_sent": self.line_errors,  # stdin lines that are not JSON: reported, never sent
                "events": [a.as_dict() for a in self.acks],
            }
            if error is not None:
                doc["error"] = error
            render.print_json(doc)
        elif bad and error is None:
            render.stderr.print(_summary(bad, stored, duplicates))
        return bad


def _summary(bad: int, stored: int, duplicates: int) -> str:
    """One sentence on what happened to the events as a whole, after the per-event reasons."""
    reasons = "the reason is above" if bad == 1 else "the reasons are above"
    kept = stored + duplicates
    if kept == 0:
        what = "the event was" if bad == 1 else f"all {bad} events were"
        return f"nothing was stored: {what} refused ({reasons}); fix and send again"
    if duplicates == 0:
        also = f"the other {kept} event{'s were' if kept != 1 else ' was'} stored"
    else:
        earlier = f"{duplicates} of them already {'was' if duplicates == 1 else 'were'}"
        also = f"the other {kept} {'are' if kept != 1 else 'is'} stored ({earlier})"
    return f"{bad} of {bad + kept} events were refused and not stored ({reasons}); {also}: send only the refused again"
