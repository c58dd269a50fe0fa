"""`hookd validate`: check config files (schema, expressions, templates, env vars, paths)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.config.load import check_config, default_config_path


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


@app.command()
def validate(
    files: list[Path] = typer.Argument(
        None, help="Config files to check (default: -c, $HOOKD_CONFIG or ./hookd.yaml)."
    ),
    config: list[Path] = typer.Option(None, "-c", "--config", help="Config file; repeat for several.", envvar=None),
    output: Format = typer.Option(
        Format.text, "--format", help="text for people, json for scripts, github for CI annotations."
    ),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings as errors."),
    no_environment: bool = typer.Option(
        False,
        "--no-environment",
        help="For CI without the deployment's secrets: a ${VAR} that is unset or a ${file:...} that is missing "
        "is not an error; the values they would give are not checked, and the output says which.",
    ),
) -> None:
    """Check config files and print every problem with file:line:column.

    Exit 0 when all are valid, 1 when any has an error (or a warning with --strict), 2 when a
    file cannot be read.
    """
    paths = [*(files or []), *(config or [])] or [default_config_path()]
    results = [check_config(p, check_environment=not no_environment) for p in paths]
    failed = False
    unreadable = False
    for r in results:
        bad = r.errors or (strict and r.problems)
        failed = failed or bool(bad)
        unreadable = unreadable or not r.readable
    if output is Format.json:
        render.print_json(
            {
                "valid": not failed,
                "files": [
                    {
                        "file": r.file,
                        "valid": not (r.errors or (strict and r.problems)),
                        "hooks": len(r.settings.hooks) if r.settings else None,
                        "sources": len(r.settings.sources) if r.settings else None,
                        "problems": [render.problem_dict(p) for p in r.problems],
                        # With --no-environment only: the references whose values went unchecked.
                        **({"unchecked": list(r.unchecked)} if no_environment else {}),
                    }
                    for r in results
                ],
            }
        )
    elif output is Format.github:
        for r in results:
            for p in r.problems:
                sys.stdout.write(render.problem_github(p) + "\n")
            if r.unchecked:
                sys.stdout.write(render.notice_github(r.file, _unchecked(r.unchecked)) + "\n")
    else:
        for r in results:
            render.problems_text(r.problems)
            if not r.errors and not (strict and r.problems):
                warn = f", {len(r.problems)} warning(s)" if r.problems else ""
                s = r.settings
                counts = f": {len(s.hooks)} hook(s), {len(s.sources)} source(s){warn}" if s else warn.replace(",", ":")
                render.stdout.print(f"[green]ok[/green] {render.escape(r.file)}{counts}")
            if r.unchecked:
                render.stdout.print(f"note: {render.escape(r.file)}: {render.escape(_unchecked(r.unchecked))}")
        if failed:
            n = sum(len(r.errors) if not strict else len(r.problems) for r in results)
            render.stdout.print(
                f"[red]{n} problem(s)[/red] in {sum(1 for r in results if r.errors or (strict and r.problems))} file(s)"
            )
    if unreadable:
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def _unchecked(references: tuple[str, ...]) -> str:
    return (
        f"not checked (--no-environment): {', '.join(references)} "
        f"{'is' if len(references) == 1 else 'are'} unset or missing here, so the values "
        f"{'it gives' if len(references) == 1 else 'they give'} were not validated"
    )
