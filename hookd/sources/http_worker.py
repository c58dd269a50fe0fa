"""The http worker: the process that serves every http source's listeners (`python -m
hookd.sources.http_worker FD`, started by the daemon: hookd.sources.http_intake).

It reads requests, checks callers, signatures and bodies, and turns each into an event, on a core of
its own: the daemon keeps its time for storing and delivering (bench/inbound.py). Each event goes to
the daemon over the socketpair (Take), which stores it and says what to answer (Answer); refusals go
as rejections (Reject). Its log records are logged by the daemon, in its format.

It ignores SIGINT and SIGTERM: the daemon stops it (StopReading, then closing the socket), so a
Ctrl-C to the process group cannot cut requests off before the daemon has answered them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from hookd.clock import RealClock
from hookd.config.model import HttpSourceConfig
from hookd.errors import StartupError
from hookd.events import Event
from hookd.inbound.reply import Reply, json_reply
from hookd.runtime import run, settle_gc
from hookd.sources.base import Rejection
from hookd.sources.http import HttpSource
from hookd.sources.http_listener import BodyBudget, Listeners
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
from hookd.workers.logs import ForwardLogs

log = logging.getLogger("hookd.sources.http")

# What a request waiting for the daemon is answered when the daemon is gone (it restarts the worker).
_DAEMON_GONE = json_reply(503, {"error": "hookd is restarting"}, {"Retry-After": "5"})


class ChannelBack:
    """Implements hookd.inbound.back.Back in the worker: each event goes to the daemon, the answer
    comes back by its request id."""

    def __init__(self, outbox: Channel[Message]) -> None:
        self.outbox = outbox
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Reply]] = {}

    async def take(self, config: HttpSourceConfig, event: Event) -> Reply:
        if self.outbox.closed.done():
            return _DAEMON_GONE
        rid = next(self._ids)
        answer: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = answer
        self.outbox.put(Take(rid, config.name, event))
        try:
            return await answer
        finally:
            self._waiting.pop(rid, None)

    def reject(self, rejection: Rejection) -> None:
        self.outbox.put(Reject(rejection))

    def answered(self, m: Answer) -> None:
        answer = self._waiting.get(m.rid)
        if answer is not None and not answer.done():
            answer.set_result(Reply(m.status, m.headers, m.body))

    def daemon_gone(self) -> None:
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_result(_DAEMON_GONE)


class _Side:
    """What the worker does with each message from the daemon, as it arrives."""

    def __init__(self) -> None:
        self.configured: asyncio.Future[Configure | None] = asyncio.get_running_loop().create_future()
        self.back: ChannelBack | None = None
        self.stop_requested = asyncio.Event()

    def receive(self, messages: list[Message]) -> None:
        for m in messages:
            if isinstance(m, Answer):
                if self.back is not None:
                    self.back.answered(m)
            elif isinstance(m, Configure):
                if not self.configured.done():
                    self.configured.set_result(m)
            elif isinstance(m, StopReading):
                self.stop_requested.set()


async def _serve(fd: int) -> None:
    side = _Side()
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
    back = side.back = ChannelBack(outbox)
    listeners = Listeners(BodyBudget(config.body_budget))
    sources = [HttpSource(c, listeners, back, clock=RealClock()) for c in config.sources]
    try:
        error = None
        try:
            for source in sources:
                await source.start()
        except StartupError as e:
            error = str(e)
        addresses = {s.name: (s.describe(), s.port) for s in sources if error is None}
        settle_gc()
        outbox.put(Ready(os.getpid(), addresses, error))
        if error is not None:
            return
        stopping = asyncio.ensure_future(side.stop_requested.wait())
        await asyncio.wait((stopping, outbox.closed), return_when=asyncio.FIRST_COMPLETED)
        if side.stop_requested.is_set():
            await asyncio.gather(*(s.stop_reading() for s in sources))
            outbox.put(Stopped())
        stopping.cancel()
        await asyncio.shield(outbox.closed)
    finally:
        back.daemon_gone()
        for source in sources:
            await source.close()
        outbox.close()


def main(argv: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    run(_serve(int(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
