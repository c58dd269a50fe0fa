"""Output for humans (rich, colour only on a TTY) and machines (JSON, GitHub annotations)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

__all__ = ["escape", "stderr", "stdout"]

from hookd import jsonvalue
from hookd.errors import Problem

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: object) -> None:
    sys.stdout.write(jsonvalue.dumps(value, indent=True).decode() + "\n")
    sys.stdout.flush()


def problem_text(p: Problem, *, console: Console = stdout) -> None:
    colour = "red" if p.severity == "error" else "yellow"
    where = f"{escape(p.path)}: " if p.path else ""
    console.print(f"[bold]{escape(p.location())}[/bold]: [{colour}]{p.severity}[/{colour}]: {where}{escape(p.message)}")


def problem_dict(p: Problem) -> dict[str, object]:
    return {
        "file": p.file,
        "line": p.line,
        "column": p.column,
        "path": p.path,
        "severity": p.severity,
        "message": p.message,
    }


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def problem_github(p: Problem) -> str:
    """A GitHub Actions workflow command, shown as an annotation on the file and line."""
    props = [f"file={_github_escape(p.file, prop=True)}"]
    if p.line > 0:
        props.append(f"line={p.line}")
    if p.column > 0:
        props.append(f"col={p.column}")
    props.append(f"title={_github_escape('hookd validate', prop=True)}")
    where = f"{p.path}: " if p.path else ""
    return f"::{p.severity} {','.join(props)}::{_github_escape(where + p.message)}"


def problems_text(problems: Iterable[Problem], *, console: Console = stdout) -> None:
    for p in problems:
        problem_text(p, console=console)
