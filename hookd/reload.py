"""What a reload may change and what it changes (pure): the settings that need a restart, and the
sources and hooks a new config adds, removes or changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hookd.config.model import HttpSourceConfig, Settings, SourceConfig
from hookd.errors import Problem


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    message: str  # one sentence: what was applied, or why nothing was
    problems: tuple[Problem, ...] = ()  # a config that did not load: every error (and warning)
    changes: tuple[str, ...] = field(default=())  # "hook crm changed", "source app added", ...


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """The settings a running daemon cannot take over: the database it holds open and locked, and
    the admin listener a reload request comes through (its address, socket path and socket mode)."""
    out = []
    if new.storage.path != old.storage.path:
        out.append(f"storage.path ({old.storage.path} -> {new.storage.path})")
    if new.storage.synchronous != old.storage.synchronous:
        out.append("storage.synchronous")
    if new.admin.enabled != old.admin.enabled or new.admin.listen != old.admin.listen:
        out.append("admin.listen (or the admin section itself)")
    if new.admin.path != old.admin.path:
        out.append(f"admin.path ({old.admin.path or 'none'} -> {new.admin.path or 'none'})")
    elif new.admin.path is not None and new.admin.mode != old.admin.mode:
        # The socket file keeps the mode it was made with: a reload that said yes would leave the
        # old permissions in place while the operator believes they changed.
        out.append(f"admin.mode ({old.admin.mode:04o} -> {new.admin.mode:04o})")
    return out


def source_changes(
    old: Sequence[SourceConfig], new: Sequence[SourceConfig]
) -> tuple[list[str], list[SourceConfig], bool]:
    """(names of socket and file sources to stop, their configs to start, whether the http sources
    change at all: they share one worker, started again with all of them)."""
    before = {s.name: s for s in old if not isinstance(s, HttpSourceConfig)}
    after = {s.name: s for s in new if not isinstance(s, HttpSourceConfig)}
    stop = [name for name, s in before.items() if after.get(name) != s]
    start: list[SourceConfig] = [s for name, s in after.items() if before.get(name) != s]
    http_before = [s for s in old if isinstance(s, HttpSourceConfig)]
    http_after = [s for s in new if isinstance(s, HttpSourceConfig)]
    return stop, start, http_before != http_after


def hook_changes(old: Settings, new: Settings) -> list[str]:
    """What a reload does to the hooks, for its log line and answer."""
    before = {h.name: h for h in old.hooks}
    after = {h.name: h for h in new.hooks}
    out = [f"hook {n} added" for n in after if n not in before]
    out += [f"hook {n} removed (its pending deliveries are kept)" for n in before if n not in after]
    out += [f"hook {n} changed" for n in after if n in before and after[n] != before[n]]
    return out
