"""What a reload may change and what it changes (pure): the settings that need a restart, and the
sources and hooks a new config adds, removes or changes. And how reload requests are served: one at a
time, those that arrive meanwhile sharing one more (CoalescedReloads)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from hookd.config.model import HookConfig, HttpSourceConfig, Settings, SourceConfig
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
    out += [
        f"hook {n} changed ({_changed_keys(before[n], after[n])})"
        for n in after
        if n in before and after[n] != before[n]
    ]
    return out


def _changed_keys(old: HookConfig, new: HookConfig) -> str:
    """The settings that differ, by name (never their values: a header or url may hold a secret)."""
    keys = [f.name for f in dataclasses.fields(old) if f.compare and getattr(old, f.name) != getattr(new, f.name)]
    return ", ".join(keys)


@dataclass(slots=True)
class _Queued:
    """The reload the requests that arrived while another ran will share, and who asked."""

    result: asyncio.Future[ReloadResult]
    origins: list[str] = field(default_factory=list)


class CoalescedReloads:
    """Runs `reload(origins)` one at a time. Requests that arrive while one runs wait and are answered
    by one more run after it, all with its result: a burst of SIGHUPs or POST /reload makes two reads
    of the config, never one per request. A request that arrives before its run has begun reading
    joins it (the file it reads is at least as new as the request)."""

    def __init__(self, reload: Callable[[tuple[str, ...]], Awaitable[ReloadResult]]) -> None:
        self._reload = reload
        self._one_at_a_time = asyncio.Lock()
        self._queued: _Queued | None = None
        self._runs: set[asyncio.Task[None]] = set()

    async def request(self, origin: str) -> ReloadResult:
        """The result of the run that serves this request. Cancelling the caller does not cancel the
        run (others may be waiting for it). Raises what the run raised."""
        queued = self._queued
        if queued is None:
            queued = self._queued = _Queued(asyncio.get_running_loop().create_future())
            # Read here, so that a run whose every caller went away leaves no "never retrieved" log.
            queued.result.add_done_callback(lambda f: f.cancelled() or f.exception())
            run = asyncio.create_task(self._run(queued), name="hookd-reload")
            self._runs.add(run)
            run.add_done_callback(self._runs.discard)
        queued.origins.append(origin)
        return await asyncio.shield(queued.result)

    async def settle(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) for the reloads running or queued to end: a stop waits for them,
        so none starts sources or writes to the store while it is being torn down."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._runs:
                    await asyncio.gather(*self._runs, return_exceptions=True)

    async def _run(self, queued: _Queued) -> None:
        async with self._one_at_a_time:
            if self._queued is queued:
                self._queued = None  # requests from now on wait for the next run
            try:
                result = await self._reload(tuple(dict.fromkeys(queued.origins)))
            except asyncio.CancelledError:
                queued.result.cancel()
                raise
            except Exception as e:
                queued.result.set_exception(e)
            else:
                queued.result.set_result(result)
