"""The HTTP sender in a child process: `hookd serve` sends its requests from a delivery worker.

Why a process: one Python process runs one thread of Python at a time (the GIL), and aiohttp is
most of hookd's CPU (50-95 µs per request on the machines bench/ runs on, as they speed up and slow
down; more at a steady rate). In one process every socket ack waits behind HTTP work. At 2,000
events/s that still left ack p99 at 3-4 ms, as with this worker; at 3,000 events/s in one process
p99 was 10-19 ms, with the worker 4-5 ms (bench/, same session). The price is CPU: the frames to
and from the worker cost ~5 µs per request in the daemon and about as much here, so under flood
the two processes use ~10% more CPU per event than one process (bench/: 95-105 against 93-96
µs, in a fast phase of the machine). The worker has a GIL of
its own; the daemon keeps parsing, routing, the store, retry decisions and every write to the
database, so a worker that dies loses nothing: what it had in flight comes back as a retryable
failure (sent again, with the same webhook-id) and the next request starts a new worker.

Wire: one socketpair, frames of a 4-byte big-endian length and a pickled list of messages
(hookd.senders.messages), one frame per event-loop turn each way (hookd.workers.channel; pickle:
both ends are this module, in processes of one install). The daemon first sends Configure, with every hook's endpoint
profile; the worker answers Ready once its HTTP client started, then one Answer per Send (or none
after a Cancel), and forwards its log records as Log. Requests and endpoint profiles carry secrets,
so they go over this private socket and never through argv, the environment or a file.

The worker ignores SIGINT and SIGTERM (a Ctrl-C or a service manager signals the whole group, and
in-flight requests must get the daemon's grace period); it stops when its socket closes, which
includes the daemon dying by kill -9.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from hookd.errors import StartupError
from hookd.health import RecentErrors
from hookd.logs import LogLine
from hookd.redact import redact_text
from hookd.runtime import run, settle_gc
from hookd.senders.base import OutboundRequest, Outcome, no_response
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from hookd.senders.messages import Answer, Cancel, Configure, Message, Ready, Send, decode, encode
from hookd.workers.channel import Channel, open_channel
from hookd.workers.logs import ForwardLogs, Log, log_forwarded

log = logging.getLogger("hookd.senders.worker")

START_TIMEOUT_S = 30.0
# The worker answers every request within its own timeout; this much more and it is taken as hung.
ANSWER_SLACK_S = 30.0
SWEEP_INTERVAL_S = 1.0
RESTART_BACKOFF_S = 1.0  # a worker that dies at once is not restarted more often than this
STOP_TIMEOUT_S = 10.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


# -- the daemon's side ---------------------------------------------------------------------------


class _Worker:
    """One running worker process and the requests it has not answered yet."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.channel: Channel[Message] | None = None
        self.waiting: dict[int, tuple[asyncio.Future[Outcome], float]] = {}  # rid -> (answer, deadline)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.reading: asyncio.Task[None] | None = None  # waits for the channel's end, then cleans up
        self.alive = True

    @property
    def outbox(self) -> Channel[Message]:
        assert self.channel is not None
        return self.channel

    def receive(self, messages: list[Message]) -> None:
        """Each frame from the worker, as it arrives."""
        waiting = self.waiting
        for m in messages:
            if isinstance(m, Answer):
                entry = waiting.pop(m.rid, None)
                if entry is not None and not entry[0].done():
                    entry[0].set_result(m.outcome)
            elif isinstance(m, Log):
                log_forwarded(m, "delivery worker")
            elif isinstance(m, Ready) and not self.ready.done():
                self.ready.set_result(None)


class WorkerSender:
    """Implements hookd.senders.base.Sender: an HttpSender in a child process, restarted when it dies."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        user_agent: str = "hookd",
        python: str = sys.executable,
        errors: RecentErrors | None = None,
        endpoints: Mapping[str, EndpointSpec] | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.user_agent = user_agent
        self.endpoints: Mapping[str, EndpointSpec] = endpoints or {}
        self.python = python  # the interpreter that runs the worker: this one
        self.errors = errors or RecentErrors()  # a worker that died or hung makes the daemon degraded
        self._worker: _Worker | None = None
        self._rids = itertools.count(1)
        self._starting: asyncio.Future[_Worker] | None = None
        self._last_start = float("-inf")
        self._sweeping: asyncio.Task[None] | None = None
        self._closed = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The worker's process id while one runs (tests, status)."""
        w = self._worker
        return w.proc.pid if w is not None and w.alive else None

    async def start(self) -> None:
        """Start the worker and wait until its HTTP client is ready. Raises StartupError."""
        self._closed = False
        try:
            await self._running_worker()
        except OSError as e:
            raise StartupError(
                f"cannot start the delivery worker process ({self.python} -m hookd.senders.worker): {e}"
            ) from None
        except _WorkerFailed as e:
            raise StartupError(f"the delivery worker process did not start: {e}") from None
        if self._sweeping is None:
            self._sweeping = asyncio.create_task(self._sweep(), name="hookd-worker-sweep")

    def configure(self, endpoints: Mapping[str, EndpointSpec]) -> None:
        """Talk to each hook's endpoint as its spec says: the running worker from its next request
        on, and every worker started later."""
        self.endpoints = endpoints
        worker = self._worker
        if worker is not None and worker.alive:
            worker.outbox.put(Configure(self.max_connections, self.user_agent, endpoints))

    async def send(self, request: OutboundRequest) -> Outcome:
        started = time.perf_counter()
        try:
            worker = self._worker if self._worker is not None and self._worker.alive else await self._running_worker()
        except (OSError, _WorkerFailed) as e:
            return no_response(
                f"the delivery worker process is not running ({e}); will retry", started, retryable=True, kind="worker"
            )
        rid = next(self._rids)
        answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        worker.waiting[rid] = (answer, time.monotonic() + request.timeout_s + ANSWER_SLACK_S)
        worker.outbox.put(Send(rid, request))
        try:
            return await answer
        except asyncio.CancelledError:
            if worker.waiting.pop(rid, None) is not None and worker.alive:
                worker.outbox.put(Cancel(rid))
            raise

    async def close(self) -> None:
        """Close the worker's socket (it cancels what it still has and exits) and wait for it. Idempotent."""
        self._closed = True
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
            self._sweeping = None
        if self._starting is not None:  # a start in progress would leave a worker behind
            await asyncio.gather(self._starting, return_exceptions=True)
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.outbox.close()
        try:
            await asyncio.wait_for(worker.proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.error(LogLine("the delivery worker process did not exit; killing it", {"pid": worker.proc.pid}))
            await _kill(worker.proc)
        else:
            log.debug(
                LogLine("delivery worker process exited", {"pid": worker.proc.pid, "status": worker.proc.returncode})
            )
        if worker.reading is not None:
            await asyncio.gather(worker.reading, return_exceptions=True)
        _fail_waiting(worker, "the delivery worker process stopped before answering")

    async def _running_worker(self) -> _Worker:
        if self._worker is not None and self._worker.alive:
            return self._worker
        if self._closed:
            raise _WorkerFailed("hookd is stopping")
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._spawn())
        starting = self._starting
        try:
            return await asyncio.shield(starting)
        finally:
            if starting.done():
                self._starting = None

    async def _spawn(self) -> _Worker:
        wait = self._last_start + RESTART_BACKOFF_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_start = time.monotonic()
        ours, theirs = socket.socketpair()
        try:
            proc = await _exec(self.python, theirs)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(proc)
        try:
            worker.channel = await open_channel(ours, worker.receive, encode, decode)
        except BaseException:
            ours.close()
            await _kill(proc)
            raise
        worker.outbox.put(Configure(self.max_connections, self.user_agent, self.endpoints))
        try:
            ready = await asyncio.wait_for(_until_ready(worker), START_TIMEOUT_S)
        except TimeoutError:
            worker.outbox.close()
            await _kill(proc)
            raise _WorkerFailed(f"it was not ready within {START_TIMEOUT_S:.0f}s; see its messages above") from None
        if not ready:
            worker.outbox.close()
            # It closed the socket: it is exiting. Killing it now could reap it before asyncio's child
            # watcher does (Popen.send_signal polls first), which then reports a made-up status.
            try:
                code = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                code = await _kill(proc)
            raise _WorkerFailed(f"it exited with status {code} before it was ready; see its messages above")
        if self._worker is not None:
            self.restarts += 1
            log.warning(LogLine("delivery worker process restarted", {"pid": proc.pid, "restarts": self.restarts}))
        else:
            log.debug(LogLine("delivery worker process started", {"pid": proc.pid}))
        worker.reading = asyncio.create_task(self._read(worker), name="hookd-worker-read")
        self._worker = worker
        return worker

    async def _read(self, worker: _Worker) -> None:
        """Its answers arrive through worker.receive; this waits for the end of its socket."""
        try:
            await asyncio.shield(worker.outbox.closed)
        finally:
            worker.alive = False
            worker.outbox.close()
            if not self._closed:
                try:
                    code = await asyncio.wait_for(worker.proc.wait(), STOP_TIMEOUT_S)
                except TimeoutError:  # it closed its socket but does not exit
                    code = await _kill(worker.proc)
                log.error(
                    LogLine(
                        "the delivery worker process exited; the requests in flight will be retried, and a new "
                        "worker starts with the next request",
                        {"pid": worker.proc.pid, "status": code, "in_flight": len(worker.waiting)},
                    )
                )
                self.errors.add(f"the delivery worker process (pid {worker.proc.pid}) exited with status {code}")
                _fail_waiting(worker, f"the delivery worker process exited with status {code} before answering")

    async def _sweep(self) -> None:
        """A worker that leaves a request unanswered past its timeout (plus ANSWER_SLACK_S) is hung:
        its requests fail (retryable) and it is killed; the next request starts a new one."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            worker = self._worker
            if worker is None or not worker.alive:
                continue
            now = time.monotonic()
            if not any(deadline < now for _, deadline in worker.waiting.values()):
                continue
            log.error(
                LogLine(
                    "the delivery worker process stopped answering; killing it, the requests in flight will be retried",
                    {"pid": worker.proc.pid, "in_flight": len(worker.waiting)},
                )
            )
            self.errors.add(f"the delivery worker process (pid {worker.proc.pid}) stopped answering and was killed")
            _fail_waiting(worker, "the delivery worker process stopped answering")
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()  # its reader task notices the exit and reaps it


class _WorkerFailed(Exception):
    pass


async def _exec(python: str, theirs: socket.socket) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        python,
        "-m",
        "hookd.senders.worker",
        str(theirs.fileno()),
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        # `-m` looks in the working directory first: run it where this very hookd package lies, so a
        # ./hookd folder of the user's (configs, say) cannot stand in for it.
        cwd=_PACKAGE_ROOT,
    )


async def _kill(proc: asyncio.subprocess.Process) -> int:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    return await proc.wait()


async def _until_ready(worker: _Worker) -> bool:
    """Whether it said Ready before its socket closed."""
    await asyncio.wait((worker.ready, worker.outbox.closed), return_when=asyncio.FIRST_COMPLETED)
    return worker.ready.done()


def _fail_waiting(worker: _Worker, reason: str) -> None:
    # Retryable: a request may or may not have reached the receiver; it is sent again with the same
    # webhook-id, so the receiver can tell.
    failed = no_response(f"{reason}; will retry", time.perf_counter(), retryable=True, kind="worker")
    for answer, _ in worker.waiting.values():
        if not answer.done():
            answer.set_result(failed)
    worker.waiting.clear()


# -- the worker's side ---------------------------------------------------------------------------


async def _serve(fd: int) -> None:
    side = _WorkerSide()
    outbox = await open_channel(socket.socket(fileno=fd), side.receive, encode, decode)
    root = logging.getLogger("hookd")
    root.handlers[:] = [ForwardLogs(outbox)]
    root.setLevel(logging.INFO)
    root.propagate = False
    await asyncio.wait((side.configured, outbox.closed), return_when=asyncio.FIRST_COMPLETED)
    config = side.configured.result() if side.configured.done() else None
    if config is None:
        outbox.close()
        return
    sender = HttpSender(max_connections=config.max_connections, user_agent=config.user_agent,
                        endpoints=config.endpoints)  # fmt: skip
    # Tokens this process fetches are secrets the daemon does not know: hidden before a record leaves.
    root.handlers[0].addFilter(sender.hidden.log_filter())
    try:
        await sender.start()
        settle_gc()
        outbox.put(Ready(os.getpid()))
        side.serve(sender, _Lanes(sender, outbox, config.max_connections))
        await asyncio.shield(outbox.closed)
    finally:
        if side.lanes is not None:
            await side.lanes.close()
        await sender.close()
        outbox.close()


class _WorkerSide:
    """What the worker does with each frame from the daemon, as it arrives: the first message must
    be Configure (else the worker exits); what comes before its HTTP client has started waits for it."""

    def __init__(self) -> None:
        self.configured: asyncio.Future[Configure | None] = asyncio.get_running_loop().create_future()
        self.sender: HttpSender | None = None
        self.lanes: _Lanes | None = None
        self._early: list[Message] = []

    def serve(self, sender: HttpSender, lanes: _Lanes) -> None:
        self.sender = sender
        self.lanes = lanes
        early, self._early = self._early, []
        self.receive(early)

    def receive(self, messages: list[Message]) -> None:
        lanes = self.lanes
        if lanes is None:
            if not self.configured.done():
                first = messages[0] if messages else None
                self.configured.set_result(first if isinstance(first, Configure) else None)
                messages = messages[1:]
            self._early += messages
            return
        for m in messages:
            if isinstance(m, Send):
                lanes.add(m.rid, m.request)
            elif isinstance(m, Cancel):
                lanes.cancel(m.rid)
            elif isinstance(m, Configure):
                assert self.sender is not None
                self.sender.configure(m.endpoints)


class _Lanes:
    """Long-lived coroutines that take requests in arrival order, as many as the connection pool
    allows. Not a task per request: with 64 requests in flight against the bench receiver, a task
    per request cost 58-60 µs of CPU per request against 54 µs without (HttpSender alone); a lane
    that finishes a request picks up the next one in the same step."""

    def __init__(self, sender: HttpSender, outbox: Channel[Message], lanes: int) -> None:
        self.sender = sender
        self.outbox = outbox
        self.waiting: deque[tuple[int, OutboundRequest]] = deque()
        self.idle: deque[asyncio.Future[None]] = deque()
        self.sending: dict[int, asyncio.Task[None]] = {}  # rid -> the lane sending it
        self.tasks: set[asyncio.Task[None]] = set()  # every lane not yet finished, cancelled ones included
        for _ in range(max(1, lanes)):
            self._new_lane()

    def _new_lane(self) -> None:
        lane = asyncio.create_task(self._lane())
        self.tasks.add(lane)
        lane.add_done_callback(self.tasks.discard)

    def add(self, rid: int, request: OutboundRequest) -> None:
        self.waiting.append((rid, request))
        while self.idle:
            wake = self.idle.popleft()
            if not wake.done():
                wake.set_result(None)
                break

    def cancel(self, rid: int) -> None:
        lane = self.sending.pop(rid, None)
        if lane is not None:
            # The lane goes with its request (aiohttp closes that connection); a new one takes its place.
            lane.cancel()
            self._new_lane()
            return
        for i, (waiting_rid, _) in enumerate(self.waiting):
            if waiting_rid == rid:
                del self.waiting[i]
                return

    async def _lane(self) -> None:
        loop = asyncio.get_running_loop()
        lane = asyncio.current_task()
        assert lane is not None
        while True:
            if not self.waiting:
                wake = loop.create_future()
                self.idle.append(wake)
                await wake
                continue
            rid, request = self.waiting.popleft()
            self.sending[rid] = lane
            try:
                o = await self.sender.send(request)
            except Exception as e:  # a bug in the sender: the daemon must still get an answer
                log.exception("delivery worker: internal error while sending")
                o = self.sender.hidden.outcome(_internal_error(e, request.url))
            finally:
                self.sending.pop(rid, None)
            self.outbox.put(Answer(rid, o))

    async def close(self) -> None:
        """Cancel every lane, and with it what it is sending."""
        tasks: Sequence[asyncio.Task[None]] = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _internal_error(e: Exception, url: str) -> Outcome:
    error = f"internal error: {type(e).__name__}"
    with contextlib.suppress(Exception):  # a message that cannot be made leaves the type alone
        error += f": {redact_text(str(e), url)}"
    return Outcome(status=None, ok=False, retryable=True, duration_s=0.0, error=error, kind="internal")


def main(argv: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    run(_serve(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
