"""The socket source: newline-delimited JSON over a unix socket (and optionally loopback TCP).

Every line gets one answer line, in order: `{"ok": true, "id": ...}` once the event is committed,
or `{"ok": false, "error": ...}`. Lines already received are parsed and submitted as one batch,
and the next bytes are read only after the batch is answered, so a client that writes faster
than hookd stores is slowed down by TCP/unix flow control, not buffered in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
from pathlib import Path

import orjson

from hookd.config.model import SocketSourceConfig
from hookd.errors import EventError, StartupError
from hookd.events import Event, parse_event_line, size_limit
from hookd.logs import LogLine
from hookd.sources.base import Accepted, Batch, Rejection, Submit

log = logging.getLogger("hookd.sources.socket")

READ_CHUNK = 256 * 1024
EXCERPT_BYTES = 200


class SocketSource:
    """Implements hookd.sources.base.Source."""

    def __init__(self, config: SocketSourceConfig) -> None:
        self.config = config
        self.name = config.name
        self._servers: list[asyncio.Server] = []
        self._submit: Submit | None = None
        # The socket accepts from `start` on (readiness probes connect), but lines are read only once
        # `run` has an ingest to submit them to; until then a client's bytes wait in its socket.
        self._running = asyncio.Event()
        self._conn_ids = itertools.count(1)
        self._connections: set[asyncio.Task[None]] = set()
        self._answering: set[asyncio.Task[None]] = set()  # connections whose batch is being committed
        self._stopping = False
        self.addresses: list[str] = []
        self._bound_path: Path | None = None  # the socket file this source created, and only it may remove

    def describe(self) -> str:
        return " ".join(self.addresses)

    async def start(self) -> None:
        """Bind the socket(s). Raises StartupError for an address in use or a bad path."""
        path = self.config.path
        if path is not None:
            self._prepare_path(path)
            try:
                server = await asyncio.start_unix_server(self._on_connection, path=str(path), limit=READ_CHUNK)
            except OSError as e:
                raise StartupError(
                    f"source {self.name!r}: cannot listen on unix socket {str(path)!r}: {e.strerror}"
                ) from None
            os.chmod(path, self.config.mode)
            self._bound_path = path
            self._servers.append(server)
            self.addresses.append(f"unix:{path}")
        if self.config.listen is not None:
            host, port = self.config.listen
            try:
                server = await asyncio.start_server(self._on_connection, host=host, port=port, limit=READ_CHUNK)
            except OSError as e:
                await self.close()
                raise StartupError(
                    f"source {self.name!r}: cannot listen on {host}:{port}: {e.strerror}; "
                    "is another hookd running? pick another port in listen"
                ) from None
            self._servers.append(server)
            for sock in server.sockets:
                h, p = sock.getsockname()[:2]
                self.addresses.append(f"tcp:{h}:{p}" if ":" not in h else f"tcp:[{h}]:{p}")

    def _prepare_path(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StartupError(f"source {self.name!r}: cannot create {str(path.parent)!r}: {e.strerror}") from None
        if not path.exists() and not path.is_symlink():
            return
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise StartupError(
                f"source {self.name!r}: {str(path)!r} exists and is not a socket; remove it or choose another path"
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)  # left behind by a daemon that died: safe to replace
        else:
            raise StartupError(
                f"source {self.name!r}: another process is listening on {str(path)!r}; "
                "stop the other hookd or choose another path"
            )
        finally:
            probe.close()

    async def run(self, submit: Submit) -> None:
        self._submit = submit
        self._running.set()
        try:
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            await self.close()

    async def stop_reading(self, timeout_s: float = 10.0) -> None:
        """Stop taking input, but answer what is already being committed (shutdown, first step).

        Cancelling a connection whose batch is in the last commit would store its events without
        telling the client, which then sends them again: stored twice if they carry no id.
        """
        self._stopping = True
        for server in self._servers:
            server.close()  # no new connections
        for task in self._connections - self._answering:
            task.cancel()  # idle, waiting for input
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=timeout_s)

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file. Idempotent."""
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        path, self._bound_path = self._bound_path, None
        if path is not None and path.is_socket():
            path.unlink(missing_ok=True)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = next(self._conn_ids)
        try:
            await self._running.wait()
            await self._serve(conn, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; what it had sent and was answered is committed
        except asyncio.CancelledError:
            # Shutdown. Ending normally matters: asyncio's stream callback logs a cancelled handler as an error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        max_bytes = self.config.max_event_bytes
        buf = bytearray()
        skipping = False  # inside an oversized line: drop bytes until its newline
        line_no = 0
        while not self._stopping:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                if buf.strip() and not skipping:
                    where = {"source": self.name, "conn": conn, "line": line_no + 1, "bytes": len(buf)}
                    log.warning(LogLine("closed mid-line; the partial line was dropped, not acknowledged", where))
                return
            lines: list[bytes | None] = []  # None stands for an oversized line
            start = 0
            data = bytes(chunk)
            while True:
                nl = data.find(b"\n", start)
                if nl < 0:
                    rest = data[start:]
                    if skipping:
                        break
                    if len(buf) + len(rest) > max_bytes:
                        lines.append(None)
                        buf.clear()
                        skipping = True
                    else:
                        buf += rest
                    break
                piece = data[start:nl]
                start = nl + 1
                if skipping:
                    skipping = False
                    continue  # the oversized line ended here and was already answered
                if buf:
                    buf += piece
                    piece = bytes(buf)
                    buf.clear()
                lines.append(piece)
            if lines:
                task = asyncio.current_task()
                assert task is not None
                self._answering.add(task)
                try:
                    replies, line_no = await self._handle(conn, lines, line_no)
                finally:
                    self._answering.discard(task)
                if replies:
                    writer.write(b"".join(replies))
                    await writer.drain()

    async def _handle(self, conn: int, lines: list[bytes | None], line_no: int) -> tuple[list[bytes], int]:
        max_bytes = self.config.max_event_bytes
        replies: list[bytes | None] = []
        events: list[Event] = []
        slots: list[int] = []  # reply index of each event
        rejections: list[Rejection] = []
        for raw in lines:
            line_no += 1
            if raw is None:
                reason = f"event is over {size_limit(max_bytes)}; it was skipped"
                rejections.append(Rejection(self.name, f"conn {conn} line {line_no}", reason))
                replies.append(_error(reason))
                continue
            if not raw.strip():
                continue  # blank lines are allowed between events and need no answer
            try:
                event = parse_event_line(raw.rstrip(b"\r"), max_bytes=max_bytes)
            except EventError as e:
                rejections.append(Rejection(self.name, f"conn {conn} line {line_no}", str(e), raw[:EXCERPT_BYTES]))
                replies.append(_error(str(e), e.event_id))
                continue
            slots.append(len(replies))
            replies.append(None)
            events.append(event)
        if not events and not rejections:
            return [], line_no
        assert self._submit is not None
        try:
            accepted = await self._submit(Batch(events=events, rejections=rejections, source=self.name))
        except Exception as e:
            log.error(LogLine("could not store the events", {"source": self.name, "conn": conn, "events": len(events),
                                                             "error": str(e)}))  # fmt: skip
            reason = f"not stored ({type(e).__name__}: {e}); this event was not acknowledged, send it again"
            for index, event in zip(slots, events, strict=True):
                replies[index] = _error(reason, event.id)
            return [r for r in replies if r is not None], line_no
        for index, answer in zip(slots, accepted, strict=True):
            replies[index] = _ok(answer)
        return [r for r in replies if r is not None], line_no


def _ok(answer: Accepted) -> bytes:
    if answer.duplicate:
        return orjson.dumps({"ok": True, "id": answer.id, "duplicate": True}) + b"\n"
    return orjson.dumps({"ok": True, "id": answer.id}) + b"\n"


def _error(reason: str, event_id: str | None = None) -> bytes:
    payload: dict[str, object] = {"ok": False, "error": reason}
    if event_id:
        payload["id"] = event_id
    return orjson.dumps(payload) + b"\n"
