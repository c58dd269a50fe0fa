"""The `hookd` command: global options, sub-commands, and domain errors turned into exit codes.

Exit codes: 0 success; 1 the operation failed; 2 usage error; 3 could not start / no daemon.
"""

from __future__ import annotations

import sys

import typer

from hookd import __version__
from hookd.cli import render
from hookd.cli.state import state
from hookd.errors import ConfigError, HookdError

app = typer.Typer(
    name="hookd",
    help="hookd: a webhook daemon. Events in, durably stored, routed by YAML, delivered over HTTP.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        render.write(f"hookd {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _global(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (never for secrets)."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.debug = debug


@app.command("version")
def version_command() -> None:
    """Print the hookd version."""
    render.write(f"hookd {__version__}\n")


def _register() -> None:
    # Imported for their @app.command side effect; one module per command.
    from hookd.cli import (  # noqa: F401
        history,
        hooks,
        prune,
        reload,
        replay,
        secret,
        send,
        serve,
        status,
        tail,
        test_cmd,
        validate,
        why,
    )


_register()


def main() -> None:
    try:
        app()
    except ConfigError as e:
        render.problems_text(e.problems, console=render.stderr)
        errors = sum(1 for p in e.problems if p.severity == "error")
        render.stderr.print(f"{errors} error(s) in the config; fix them and try again (hookd validate shows all).")
        sys.exit(e.exit_code)
    except HookdError as e:
        if state.debug:
            raise
        render.stderr.print(f"[red]error:[/red] {render.escape_lines(str(e))}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
