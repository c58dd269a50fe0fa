"""Keeps every source running: the one place that decides what happens when a source fails.

A source's `run` raising (any exception: a SourceError such as a path that became a directory, an
OSError from a read, a bug) must not end the source silently nor take the daemon down. The
supervisor logs the failure once with its reason, marks the source failing in SourceHealth (so
`hookd status` says `degraded` and why), waits on the injected Clock with a doubling backoff, then
closes, starts and runs the source again. A source counts as recovered once it has stored a batch
again, or has run without failing for `stable_s`; health then returns to ok and the log says so.
"""

from __future__ import annotations

import asyncio
import logging

from hookd.clock import Clock
from hookd.errors import HookdError
from hookd.health import SourceHealth
from hookd.logs import LogLine
from hookd.sources.base import Accepted, Batch, Source, Submit

log = logging.getLogger("hookd.supervisor")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
STABLE_S = 60.0


def failure_reason(error: BaseException, source: str) -> str:
    """One line saying why a source failed: the sentence of a HookdError (without the source's name
    it may start with: log line and health name the source already), else the exception itself."""
    if isinstance(error, HookdError):
        return str(error).removeprefix(f"source {source!r}: ")
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SourceSupervisor:
    """Runs one source until cancelled, restarting it after any failure. `run` raises only CancelledError."""

    def __init__(
        self,
        source: Source,
        submit: Submit,
        *,
        clock: Clock,
        health: SourceHealth,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
        stable_s: float = STABLE_S,
        start_error: BaseException | None = None,
    ) -> None:
        self._source = source
        # The source could not start (a reload added it while its port was taken): reported as its
        # first failure, and started again after the first pause.
        self._start_error = start_error
        self._submit = submit
        self._clock = clock
        self._health = health
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._stable_s = stable_s
        self._delay_s = first_retry_s
        self._logged_reason: str | None = None  # the failure last logged at ERROR, to log each once

    @property
    def name(self) -> str:
        return self._source.name

    async def run(self) -> None:
        """The daemon started the source before its ready line; this runs it, and restarts it."""
        restart = False
        while True:
            error: BaseException
            try:
                if self._start_error is not None:
                    error, self._start_error = self._start_error, None
                else:
                    await self._run_once(restart=restart)
                    error = RuntimeError("run() returned; a source runs until it is cancelled")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                error = e
            self._failed(error)
            await self._clock.sleep(self._delay_s)
            self._delay_s = min(self._delay_s * 2, self._max_retry_s)
            restart = True

    async def _run_once(self, *, restart: bool) -> None:
        if restart:
            await self._source.close()
            await self._source.start()
        # A restarted source that stays up without storing anything (an idle socket, a quiet file)
        # still counts as recovered after a while.
        watch = asyncio.create_task(self._recover_when_stable()) if restart else None
        try:
            await self._source.run(self._submit_and_note)
        finally:
            if watch is not None:
                watch.cancel()
                await asyncio.gather(watch, return_exceptions=True)

    async def _submit_and_note(self, batch: Batch) -> list[Accepted]:
        accepted = await self._submit(batch)
        self._recovered()  # it stored something: it works
        return accepted

    async def _recover_when_stable(self) -> None:
        await self._clock.sleep(self._stable_s)
        self._recovered()

    def _failed(self, error: BaseException) -> None:
        reason = failure_reason(error, self.name)
        now = self._clock.now()
        failure = self._health.failed(self.name, reason, now=now, retry_at=now + self._delay_s)
        if reason == self._logged_reason:
            log.debug(LogLine("failed again", {"source": self.name, "failures": failure.failures, "reason": reason}))
            return
        self._logged_reason = reason
        # A HookdError or OSError says what is wrong with the environment; anything else is a bug,
        # whose traceback is logged once.
        bug = not isinstance(error, HookdError | OSError)
        log.error(
            LogLine(
                f"stopped; trying again in {self._delay_s:.0f}s (hookd status shows it until it works)",
                {"source": self.name, "reason": reason},
            ),
            exc_info=error if bug else None,
        )

    def _recovered(self) -> None:
        failure = self._health.recovered(self.name)
        if failure is None:
            return
        self._delay_s = self._first_retry_s
        self._logged_reason = None
        log.info(
            LogLine(
                "works again",
                {"source": self.name, "failures": failure.failures, "over_s": round(self._clock.now() - failure.since)},
            )
        )
