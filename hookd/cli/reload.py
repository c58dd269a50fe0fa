"""`hookd reload`: ask the running daemon to read its config again (as SIGHUP does), and say how it went."""

from __future__ import annotations

import asyncio

import typer

from hookd import client
from hookd.cli import render
from hookd.cli.admin_target import AdminConfigOption, TokenOption, UrlOption, admin_target, with_moved_hint
from hookd.cli.app import app
from hookd.cli.common import fail
from hookd.errors import DaemonUnavailable, HookdError

_INVALID = (
    "{path} is invalid (above), and the running daemon would refuse it as well: it keeps running the "
    "config it has. Fix the errors, check with `hookd validate`, and run hookd reload again."
)


@app.command()
def reload(
    config: AdminConfigOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the daemon's answer as JSON."),
) -> None:
    """Make the running daemon read its config file again and run with it (as SIGHUP does).

    The daemon reads the file it was started with, and its ${file:...} values, again (a ${VAR} keeps
    the value of the daemon's environment, fixed when it started). An
    invalid config, or one that changes storage or the admin listener, is refused: the running config
    is kept, and the errors are printed.

    Exit 0 when reloaded, 1 when refused, 2 for bad usage, 3 when no daemon answers.
    """
    try:
        target = admin_target(config, url, token, "hookd reload", invalid=_INVALID)
        answer = asyncio.run(client.request_reload(target.url, token=target.token, socket=target.socket))
    except DaemonUnavailable as e:
        # The address came from the file: if the edit moved the admin listener, the daemon is still
        # where it started, and this is no sign that it stopped.
        fail(with_moved_hint(e) if url is None else e)
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(answer)
    else:
        problems = answer.get("problems")
        for problem in problems if isinstance(problems, list) else []:
            render.stderr.print(render.escape(str(problem)))
        changes = answer.get("changes")
        listed = ", ".join(str(c) for c in changes) if isinstance(changes, list) and changes else "nothing changed"
        if answer.get("ok"):
            render.stdout.print(f"{render.escape(str(answer.get('message')))}: {render.escape(listed)}")
        else:
            render.stderr.print(f"[red]refused:[/red] {render.escape(str(answer.get('message')))}")
    raise typer.Exit(0 if answer.get("ok") else 1)
