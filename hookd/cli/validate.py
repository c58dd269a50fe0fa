"""`hookd validate`: check config files (schema, expressions, templates, env vars, paths)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.config.load import CheckResult, check_config, default_config_path


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
                        "hooks": _counts(r)[0],
                        "sources": _counts(r)[1],
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
                hooks, sources = _counts(r)
                counts = (
                    f": {hooks} hook(s), {sources} source(s){warn}" if hooks is not None else warn.replace(",", ":")
                )
                render.stdout.print(f"[green]ok[/green] {render.escape(r.file)}{counts}")
            if r.unchecked:
                render.stdout.print(f"note: {render.escape(r.file)}: {render.escape(_unchecked(r.unchecked))}")
        if failed:
            failing = [r for r in results if r.errors or (strict and r.problems)]
            errors = sum(len(r.errors) for r in failing)
            warnings = sum(len(r.problems) - len(r.errors) for r in failing)
            counted = [f"{errors} error(s)"] if errors else []
            counted += [f"{warnings} warning(s)"] if warnings else []
            render.stdout.print(f"[red]{' and '.join(counted)}[/red] in {len(failing)} file(s)")
    if unreadable:
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def _counts(r: CheckResult) -> tuple[int | None, int | None]:
    """The hooks and sources of a file that checked out, with or without settings to run."""
    if r.settings is not None:
        return len(r.settings.hooks), len(r.settings.sources)
    return r.hook_count, r.source_count


def _unchecked(references: tuple[str, ...]) -> str:
    return (
        f"not checked (--no-environment): {', '.join(references)} "
        f"{'is' if len(references) == 1 else 'are'} unset or missing here, so the values "
        f"{'it gives' if len(references) == 1 else 'they give'} were not validated"
    )
