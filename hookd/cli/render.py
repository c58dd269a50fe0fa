"""Output for humans (rich, colour only on a TTY) and machines (JSON, GitHub annotations)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape as _markup_escape

__all__ = ["escape", "escape_lines", "split_lines", "stderr", "stdout"]

from hookd import jsonvalue
from hookd.errors import Problem
from hookd.logs import escape_json_text, escape_text

# Outside text (event ids and data, receivers' answers, stored rows) reaches the terminal only
# through escape() or escape_lines(): escape sequences, bidi controls and line separators are shown
# as `\x1b`, `\u202e`, `\u2028`, by the same rule as the log (hookd.logs.escape_text), so that
# nothing a sender or receiver wrote can colour, clear, reorder or split the operator's screen.


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich exits 1 here; a closed pipe (`| head`) is no failure of the command: what follows is
        # discarded and the command ends with its own exit code (status: the daemon's health).
        self.quiet = True
        discard_stdout()


def escape(text: str) -> str:
    """`text` for rich markup, on one line: every non-printable character (controls, CR, LF, tab,
    bidi controls, line separators) written as a backslash escape, and markup brackets escaped."""
    return _markup_escape(escape_text(text))


def escape_lines(text: str) -> str:
    """Like escape(), but a newline stays a line break: for a body or a message whose lines are its
    layout. Every other line break (CR, U+0085, U+2028, U+2029) is escaped."""
    return "\n".join(escape(line) for line in text.split("\n"))


def split_lines(text: str) -> list[str]:
    """`text`'s lines, split at newlines only (str.splitlines() also splits at CR, U+2028 and other
    characters that escape() shows escaped), with no empty last line for a trailing newline."""
    return text.removesuffix("\n").split("\n") if text else []


stdout = _Console(highlight=False, soft_wrap=True, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def json_text(value: object) -> str:
    """`value` as indented JSON, with DEL, C1 controls, bidi controls, U+2028/U+2029 and every other
    non-printable character written as \\uXXXX, as the JSON log does (the same strings to a reader)."""
    return escape_json_text(jsonvalue.dumps(value, indent=True).decode())


def print_json(value: object) -> None:
    write(json_text(value) + "\n")


def write(text: str) -> None:
    """Plain text to stdout; a reader that closed the pipe (`| head`) ends the output, not the command."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        stdout.quiet = True
        discard_stdout()


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
    text = "\n".join(escape_text(line) for line in text.split("\n"))  # a newline is encoded below
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


def notice_github(file: str, message: str) -> str:
    """A GitHub Actions notice on a whole file (information, neither error nor warning)."""
    title = _github_escape("hookd validate", prop=True)
    return f"::notice file={_github_escape(file, prop=True)},title={title}::{_github_escape(message)}"


def problems_text(problems: Iterable[Problem], *, console: Console = stdout) -> None:
    for p in problems:
        problem_text(p, console=console)


def discard_stdout() -> None:
    """After a closed pipe on stdout (`| head`): send what is still buffered, and anything later,
    to /dev/null, so that the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (a test runner's buffer): nothing will flush it at exit
