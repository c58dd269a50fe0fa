"""Errors a user can act on. Only hookd.cli turns them into text on a terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong with a config file, located at a YAML node."""

    file: str
    line: int  # 1-based; 0 when the problem concerns the whole file
    column: int  # 1-based; 0 when unknown
    path: str  # e.g. "hooks[2] (name='orders').filter"; "" for the file itself
    message: str  # what is wrong and how to fix it, as a sentence
    severity: Severity = "error"

    def location(self) -> str:
        if self.line <= 0:
            return self.file
        if self.column <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.location()}: {self.severity}: {where}{self.message}"


class HookdError(Exception):
    """Base class for errors that carry what a user needs to act."""

    exit_code: int = 1


class ConfigError(HookdError):
    """A config file could not be loaded; carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        first = str(errors[0]) if errors else "config is invalid"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class StartupError(HookdError):
    """The daemon cannot start: an environment problem a user must fix (exit code 3)."""

    exit_code = 3


class DaemonUnavailable(HookdError):
    """No running daemon answered (exit code 3)."""

    exit_code = 3


@dataclass(frozen=True, slots=True)
class EventError(Exception):
    """An input line or object is not a valid event. `where` says which input and position."""

    reason: str
    where: str = ""
    event_id: str | None = field(default=None)

    def __str__(self) -> str:
        prefix = f"{self.where}: " if self.where else ""
        ident = f" (event {self.event_id})" if self.event_id else ""
        return f"{prefix}{self.reason}{ident}"
