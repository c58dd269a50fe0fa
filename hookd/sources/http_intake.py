"""The daemon's side of the http sources: the http worker process (hookd.sources.http_worker) that
serves their listeners, and one Source per http source for the supervisor, health and stop order.

The worker is started by the first of them to start and closed when the last one closes. Each event
it takes is stored and answered here (hookd.inbound.back.StoreBack); when it exits unasked, every
http source's `run` raises SourceError, so the supervisor logs it, reports the sources failing and
starts them (and a new worker) again after its pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hookd.config.model import HttpSourceConfig
from hookd.errors import StartupError
from hookd.inbound.back import StoreBack
from hookd.logs import LogLine
from hookd.sources.base import SourceError, Submit
from hookd.sources.http_messages import (
    Answer,
    Configure,
    Message,
    Ready,
    Reject,
    Stopped,
    StopReading,
    Take,
    decode,
    encode,
)
from hookd.workers.channel import Channel, open_channel
from hookd.workers.logs import Log, log_forwarded

log = logging.getLogger("hookd.sources.http")

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class HttpWorker:
    """The http worker process, as the daemon drives it."""

    def __init__(self, configs: Sequence[HttpSourceConfig], back: StoreBack, body_budget: int) -> None:
        self.configs = {c.name: c for c in configs}
        self.back = back
        self.body_budget = body_budget
        self.addresses: Mapping[str, tuple[str, int]] = {}
        self.exited: asyncio.Event = asyncio.Event()  # the running worker's socket closed
        self._proc: asyncio.subprocess.Process | None = None
        self._channel: Channel[Message] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._ready: asyncio.Future[Ready] | None = None
        self._stopped = asyncio.Event()
        self._attached: set[str] = set()
        self._taking: set[asyncio.Task[None]] = set()
        self.closing = False
        self.pid: int | None = None  # the running process's (status)
        self.restarts = 0  # processes started again after one exited unasked (status, metrics)
        self._started = False

    @property
    def alive(self) -> bool:
        return self._channel is not None and not self._channel.closed.done()

    async def attach(self, name: str) -> None:
        """Source `name` starts: the worker runs (started now if it does not). Raises StartupError."""
        self._attached.add(name)
        self.closing = False
        if self.alive:
            return
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._spawn())
        await asyncio.shield(self._starting)

    async def detach(self, name: str) -> None:
        """Source `name` closes; the last one closes the worker."""
        self._attached.discard(name)
        if not self._attached:
            await self.close()

    async def stop_reading(self) -> None:
        """Shutdown, first step: the worker answers 503 to new requests and has answered those it had."""
        self.closing = True
        channel = self._channel
        if channel is None or channel.closed.done():
            return
        if not self._stopped.is_set():
            channel.put(StopReading())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.wait(
                    (asyncio.ensure_future(self._stopped.wait()), channel.closed), return_when=asyncio.FIRST_COMPLETED
                )
        if self._taking:  # answers the daemon is still making (a sync source's): sent before the close
            await asyncio.gather(*self._taking, return_exceptions=True)

    async def close(self) -> None:
        self.closing = True
        channel, proc = self._channel, self._proc
        self._channel = self._proc = None
        self.pid = None
        if channel is not None:
            channel.close()
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def _spawn(self) -> None:
        await self.close()
        self.closing = False
        self._stopped.clear()
        self.exited = asyncio.Event()
        ours, theirs = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "hookd.sources.http_worker", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                # `-m` looks in the working directory first: run it where this very hookd package lies.
                cwd=_PACKAGE_ROOT,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._ready = asyncio.get_running_loop().create_future()
        self._channel = channel = await open_channel(ours, self._receive, encode, decode)
        exited = self.exited
        channel.closed.add_done_callback(lambda _: exited.set())
        channel.put(Configure(tuple(self.configs.values()), self.body_budget))
        ready = self._ready
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await asyncio.wait((ready, channel.closed), return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            await self.close()
            raise StartupError(f"the http worker process did not start within {START_TIMEOUT_S:.0f}s") from None
        if not ready.done():
            await self.close()
            raise StartupError("the http worker process exited as it started; see its messages above")
        answer = ready.result()
        if answer.error is not None:
            await self.close()
            raise StartupError(answer.error)
        self.addresses = answer.addresses
        self.pid = answer.pid
        if self._started:
            self.restarts += 1
        self._started = True
        log.debug(LogLine("http worker process started", {"pid": answer.pid}))

    def _receive(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, Take):
                task = asyncio.ensure_future(self._take(m))
                self._taking.add(task)
                task.add_done_callback(self._taking.discard)
            elif isinstance(m, Reject):
                self.back.reject(m.rejection)
            elif isinstance(m, Log):
                log_forwarded(m, "http worker")
            elif isinstance(m, Ready):
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(m)
            elif isinstance(m, Stopped):
                self._stopped.set()

    async def _take(self, m: Take) -> None:
        reply = await self.back.take(self.configs[m.source], m.event)
        channel = self._channel
        if channel is not None:
            channel.put(Answer(m.rid, reply.status, reply.headers, reply.body))


class HttpSourceProxy:
    """Implements hookd.sources.base.Source for one http source served by the http worker."""

    def __init__(self, config: HttpSourceConfig, worker: HttpWorker) -> None:
        self.config = config
        self.name = config.name
        self._worker = worker

    @property
    def port(self) -> int:
        """The port it listens on (the system's choice for port 0). Only once started."""
        return self._worker.addresses[self.name][1]

    def describe(self) -> str:
        address = self._worker.addresses.get(self.name)
        return address[0] if address is not None else ""

    async def start(self) -> None:
        await self._worker.attach(self.name)

    async def run(self, submit: Submit) -> None:
        self._worker.back.submit = submit
        exited = self._worker.exited
        await exited.wait()
        if not self._worker.closing:
            raise SourceError("the http worker process exited; it is started again")
        await asyncio.Event().wait()  # stopping: cancelled by the daemon

    async def stop_reading(self) -> None:
        await self._worker.stop_reading()

    async def close(self) -> None:
        await self._worker.detach(self.name)
