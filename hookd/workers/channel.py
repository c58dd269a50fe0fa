"""One end of the socketpair between the daemon and one of its worker processes (the delivery worker,
hookd.senders.worker; the http worker, hookd.sources.http_worker).

Frames of a 4-byte big-endian length and a pickled list of messages (each as its wire tuple, made by
the codec of the worker's messages: hookd.senders.messages, hookd.sources.http_messages). Messages
put during one event-loop turn go out as one frame at its end. Frames that arrive are decoded in the
event loop's read callback and handed to `receive` there: an asyncio Protocol, not a StreamReader
and a task that reads frames, which cost a wake-up of that task per frame, two reads into and out of
the stream's buffer, and on a steady rate (one or two messages a frame) as much as the messages
themselves (bench/: see the commit).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

Wire = tuple[Any, ...]  # a message as plain values: what each position holds is its codec's
M = TypeVar("M")

_HEADER = struct.Struct(">I")
log = logging.getLogger("hookd.channel")


class Channel(asyncio.Protocol, Generic[M]):
    """Messages to the other end (`put`), messages from it (`receive`, called with each frame's
    messages in order), and `closed`, done once the connection is lost (its end of stream, a reset,
    or a `receive` that raised: the connection is then closed, as a reader task's end would)."""

    def __init__(
        self,
        receive: Callable[[list[M]], None],
        encode: Callable[[M], Wire],
        decode: Callable[[Wire], M],
    ) -> None:
        self.receive = receive
        self._encode = encode
        self._decode = decode
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outgoing: list[Wire] = []
        self._scheduled = False
        # The start of a frame that has not fully arrived, and how many bytes it needs before it can
        # be read again (its header's 4, or the whole frame once its length is known).
        self._partial = bytearray()
        self._needed = _HEADER.size

    # -- out -------------------------------------------------------------------------------------

    def put(self, message: M) -> None:
        self._outgoing.append(self._encode(message))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        transport = self.transport
        if not self._outgoing or transport is None or transport.is_closing():
            self._outgoing.clear()
            return
        try:
            data = pickle.dumps(self._outgoing, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a bug: one message that cannot be pickled must not take the others with it
            data = pickle.dumps(_picklable(self._outgoing), protocol=pickle.HIGHEST_PROTOCOL)
        self._outgoing = []
        transport.writelines((_HEADER.pack(len(data)), data))

    def close(self) -> None:
        """Close the connection once what was put is written (idempotent)."""
        self.flush()
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        if self._partial:
            self._partial += data
            if len(self._partial) < self._needed:
                return
            data = bytes(self._partial)
            self._partial.clear()
        wire: list[Wire] = []
        end = len(data)
        at = 0
        with memoryview(data) as view:
            while True:
                if end - at < _HEADER.size:
                    self._needed = _HEADER.size
                    break
                size = _HEADER.unpack_from(view, at)[0]
                if end - at - _HEADER.size < size:
                    self._needed = _HEADER.size + size
                    break
                at += _HEADER.size
                wire += pickle.loads(view[at : at + size])
                at += size
            if at < end:
                self._partial += view[at:]
        if wire:
            decode_one = self._decode
            self.receive([decode_one(t) for t in wire])

    def eof_received(self) -> bool:
        return False  # close our end too: the other one is gone or going

    def connection_lost(self, exc: Exception | None) -> None:
        self._outgoing.clear()
        if not self.closed.done():
            self.closed.set_result(None)


def _picklable(messages: list[Wire]) -> list[Wire]:
    kept = []
    for m in messages:
        try:
            pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            log.exception("a message to the other process could not be written and is dropped: %s", m[:1])
            continue
        kept.append(m)
    return kept


async def open_channel(
    sock: socket.socket,
    receive: Callable[[list[M]], None],
    encode: Callable[[M], Wire],
    decode: Callable[[Wire], M],
) -> Channel[M]:
    """A Channel on a connected unix socket (one end of a socketpair)."""
    loop = asyncio.get_running_loop()
    _, channel = await loop.create_unix_connection(lambda: Channel(receive, encode, decode), sock=sock)
    return channel
