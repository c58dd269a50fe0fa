"""The socket source: newline-delimited JSON over a unix socket (and optionally loopback TCP).

Every line gets one answer line, in order: `{"ok": true, "id": ...}` once the event is committed,
or `{"ok": false, "error": ...}`. Lines already received are parsed and submitted as one batch,
and the next bytes are read only after the batch is answered, so a client that writes faster
than hookd stores is slowed down by TCP/unix flow control, not buffered in memory.

One client cannot hurt the others: a connection's batch holds at most MAX_LINES_PER_BATCH lines, the
unfinished lines of all connections together hold at most `partial_budget` bytes, rejections beyond
the first few per connection are counted but not stored one by one (hookd.rejections), and an HTTP
request is answered with an HTTP 400 instead of a rejection per header line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import resource
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from hookd.config.model import SocketSourceConfig
from hookd.errors import EventError, StartupError
from hookd.events import Event, parse_event_line, size_limit
from hookd.logs import LogLine
from hookd.sources.base import Accepted, Batch, Rejection, Submit
from hookd.units import format_size

log = logging.getLogger("hookd.sources.socket")

READ_CHUNK = 256 * 1024
EXCERPT_BYTES = 200
MAX_LINES_PER_BATCH = 1000  # per connection and commit (fairness between connections)
# Connections waiting to be accepted. asyncio's default of 100 refused (EAGAIN) 899 of a burst of
# 1,000 connects; the kernel lowers this to net.core.somaxconn (4096 by default since Linux 5.4).
LISTEN_BACKLOG = 4096
# Connections served at once per source; one more is told so and closed. Idle clients could otherwise
# use up the process's open files, and then no client (nor the admin listener) could connect at all.
MAX_CONNECTIONS = 1000
FULL_LOG_INTERVAL_S = 60.0


def default_max_connections() -> int:
    """MAX_CONNECTIONS, or a quarter of the open-files limit when that is lower, so idle clients of
    one source leave room for the others, the files tailed, the database and the admin listener."""
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return min(MAX_CONNECTIONS, max(16, open_files // 4))


# Bytes of unfinished lines all connections together may hold: 4 x max_event_size, at least this.
# 60 clients each holding a 9.9 MB line once took 580 MB.
PARTIAL_BUDGET_FLOOR = 64_000_000
HTTP_DISCARD_BYTES = 1_000_000  # read (and drop) at most this much of an HTTP request before closing
# Printable ASCII only in the target: the request line is quoted in the rejection and the log line.
_HTTP_REQUEST_LINE = re.compile(rb"[A-Z]{3,10} [!-~]+ HTTP/\d(\.\d)?\r?\Z")


class SocketSource:
    """Implements hookd.sources.base.Source."""

    def __init__(
        self, config: SocketSourceConfig, *, partial_budget: int | None = None, max_connections: int | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self._servers: list[asyncio.Server] = []
        self._submit: Submit | None = None
        # The socket accepts from `start` on (readiness probes connect), but lines are read only once
        # `run` has an ingest to submit them to; until then a client's bytes wait in its socket.
        self._running = asyncio.Event()
        self._conn_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()  # every accepted connection's task, refused ones too
        self._connections: set[asyncio.Task[None]] = set()  # those being served (max_connections)
        self._answering: set[asyncio.Task[None]] = set()  # connections whose batch is being committed
        self._stopping = False
        self.addresses: list[str] = []
        self._bound_path: Path | None = None  # the socket file this source created, and only it may remove
        self.partial_budget = partial_budget or max(PARTIAL_BUDGET_FLOOR, 4 * config.max_event_bytes)
        self._partial_bytes = 0  # held now in unfinished lines, all connections together
        self.max_connections = max_connections or default_max_connections()
        self.refused_total = 0  # connections refused for being over max_connections
        self._refused_logged_at = -FULL_LOG_INTERVAL_S

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    @property
    def unfinished_bytes(self) -> int:
        """Bytes held now in unfinished lines, all connections together (at most `partial_budget`)."""
        return self._partial_bytes

    def describe(self) -> str:
        return " ".join(self.addresses)

    async def start(self) -> None:
        """Bind the socket(s). Raises StartupError for an address in use or a bad path.
        After `close` it binds again (the supervisor restarts a source that failed)."""
        self._servers, self.addresses, self._stopping = [], [], False
        path = self.config.path
        if path is not None:
            prepare_socket_path(path, f"source {self.name!r}", "path")
            try:
                with owner_only_files():
                    server = await asyncio.start_unix_server(
                        self._accepted, path=str(path), limit=READ_CHUNK, backlog=LISTEN_BACKLOG
                    )
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
                server = await asyncio.start_server(
                    self._accepted, host=host, port=port, limit=READ_CHUNK, backlog=LISTEN_BACKLOG
                )
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
        await self._close_listeners()  # no new connections
        for task in self._tasks - self._answering:
            task.cancel()  # idle, waiting for input
        if self._answering:
            await asyncio.wait(set(self._answering), timeout=timeout_s)

    async def close(self) -> None:
        """Stop accepting, end open connections, remove the socket file. Idempotent."""
        await self._close_listeners()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        path, self._bound_path = self._bound_path, None
        if path is not None and path.is_socket():
            path.unlink(missing_ok=True)

    async def _close_listeners(self) -> None:
        """Stop accepting without leaving behind a connection accepted a moment ago.

        asyncio accepts a connection in one turn of the loop and builds its transport in a later one;
        a server closed in between fails that build (Server._attach asserts, CPython gh-109564, not
        fixed in 3.11) and the accepted socket stays open, unanswered, until the garbage collector
        finds it. So the listening sockets stop being read first; one turn later the connections
        already accepted have their transports (tasks run in the order they were scheduled), and one
        more turn later their `_accepted` calls have made them tasks here, which the caller ends.
        """
        if not any(server.sockets for server in self._servers):
            return
        loop = asyncio.get_running_loop()
        for server in self._servers:
            for sock in server.sockets:
                loop.remove_reader(sock.fileno())
        await asyncio.sleep(0)
        for server in self._servers:
            server.close()
        await asyncio.sleep(0)

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio's callback for a new connection, from the turn its transport is made.

        The task is made and tracked here, not by asyncio once the callback is a coroutine: `close`
        then sees every connection, also one whose task has not run yet; and the transport is closed
        when the task ends however it ends, even cancelled before its first step.
        """
        task = asyncio.get_running_loop().create_task(self._on_connection(reader, writer))
        self._tasks.add(task)

        def ended(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self._connections.discard(task)
            writer.close()  # a no-op when _on_connection closed it

        task.add_done_callback(ended)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.max_connections:
            await self._refuse(writer)
            return
        self._connections.add(task)
        conn = _Connection(next(self._conn_ids))
        try:
            await self._running.wait()
            # The client going away is no error: what it had sent and was answered is committed.
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await self._serve(conn, reader, writer)
            if conn.rejected and not self._stopping:
                await self._end_stream(conn)
        except asyncio.CancelledError:
            # Shutdown (stop_reading, close): the connection ends here like any other.
            pass
        finally:
            self._partial_bytes -= conn.held
            conn.held = 0
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        """One connection over max_connections: told why in one line, closed, and logged once a minute."""
        self.refused_total += 1
        now = asyncio.get_running_loop().time()
        if now - self._refused_logged_at >= FULL_LOG_INTERVAL_S:
            self._refused_logged_at = now
            log.warning(LogLine(
                f"refusing connections: {self.max_connections} are open, the most one source serves; "
                "clients that hold connections idle should close them",
                {"source": self.name, "refused_total": self.refused_total},
            ))  # fmt: skip
        reason = f"too many connections ({self.max_connections} open); try again later"
        with contextlib.suppress(Exception):
            writer.write(_error(reason))
            await asyncio.wait_for(writer.drain(), 1.0)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    async def _end_stream(self, conn: _Connection) -> None:
        """Let ingest write the summary of this connection's rejections that were only counted."""
        assert self._submit is not None
        with contextlib.suppress(Exception):  # a failing store is logged by ingest; the summary is lost
            await self._submit(Batch(source=self.name, ended_stream=conn.stream))

    async def _serve(self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        max_bytes = self.config.max_event_bytes
        buf = bytearray()
        skipping = False  # inside an oversized line: drop bytes until its newline
        while not self._stopping:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                if buf.strip() and not skipping:
                    where = {"source": self.name, "conn": conn.id, "line": conn.line_no + 1, "bytes": len(buf)}
                    log.warning(LogLine("closed mid-line; the partial line was dropped, not acknowledged", where))
                return
            lines: list[bytes | None] = []  # None stands for an oversized line
            over_budget = False
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
                    elif self._partial_bytes - conn.held + len(buf) + len(rest) > self.partial_budget:
                        over_budget = True
                        buf.clear()
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
            self._partial_bytes += len(buf) - conn.held
            conn.held = len(buf)
            if conn.line_no == 0 and lines and lines[0] is not None and _HTTP_REQUEST_LINE.match(lines[0]):
                await self._refuse_http(conn, lines[0], reader, writer)
                return
            # One connection puts at most MAX_LINES_PER_BATCH lines into a commit and waits for it, so a
            # client pipelining 200,000 lines shares each commit with the other connections' batches.
            for i in range(0, len(lines), MAX_LINES_PER_BATCH):
                await self._answer(conn, lines[i : i + MAX_LINES_PER_BATCH], writer)
            if over_budget:
                await self._refuse_partial_line(conn, writer)
                return

    async def _answer(self, conn: _Connection, lines: list[bytes | None], writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._answering.add(task)
        try:
            replies = await self._handle(conn, lines)
        finally:
            self._answering.discard(task)
        if replies:
            writer.write(b"".join(replies))
            await writer.drain()

    async def _refuse_partial_line(self, conn: _Connection, writer: asyncio.StreamWriter) -> None:
        """The partial lines of all connections would hold more than the budget: this one, whose bytes
        came last, is told why and closed; the lines already begun on other connections can complete."""
        reason = (
            f"line {conn.line_no + 1} is not complete and the unfinished lines of all connections to source "
            f"{self.name!r} would hold over {format_size(self.partial_budget)}; the connection is closed: "
            "send the line again when it is ready to go in one piece"
        )
        await self._reject_alone(conn, reason, b"", kind="too_large")
        writer.write(_error(reason))
        await writer.drain()

    async def _refuse_http(
        self, conn: _Connection, request_line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """An HTTP client (curl -X POST) on this socket: one rejection, one HTTP 400 it can show, close."""
        shown = request_line.rstrip(b"\r").decode("ascii", "replace")[:EXCERPT_BYTES]
        reason = (
            f"an HTTP request ({shown}) on a socket that takes newline-delimited JSON, not HTTP; "
            "send one JSON event per line (hookd send, or nc), see 'Sources' in the README or man hookd.yaml"
        )
        await self._reject_alone(conn, reason, request_line[:EXCERPT_BYTES])
        body = (
            f"This is a hookd socket source ({self.name}): it takes newline-delimited JSON events, one per line, "
            "and answers each line with one JSON line; it does not speak HTTP.\n"
            "Send events with `hookd send` or `nc`; see 'Sources' in the README or `man hookd.yaml`.\n"
        ).encode()
        head = (
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await writer.drain()
        # Read what the client still sends (headers, body) before closing: closing with unread bytes
        # makes the kernel reset the connection, and the client may lose the answer.
        discarded = 0
        while discarded < HTTP_DISCARD_BYTES and (chunk := await reader.read(READ_CHUNK)):
            discarded += len(chunk)

    async def _reject_alone(
        self, conn: _Connection, reason: str, excerpt: bytes, *, kind: str = "invalid_event"
    ) -> None:
        """Store one rejection for the connection's next line, outside any batch of events."""
        conn.line_no += 1
        conn.rejected += 1
        assert self._submit is not None
        rejection = Rejection(self.name, f"{conn.stream} line {conn.line_no}", reason, excerpt, conn.stream, kind)
        with contextlib.suppress(Exception):  # the store failing is logged by ingest
            await self._submit(Batch(rejections=[rejection], source=self.name))

    async def _handle(self, conn: _Connection, lines: list[bytes | None]) -> list[bytes]:
        max_bytes = self.config.max_event_bytes
        replies: list[bytes | None] = []
        events: list[Event] = []
        slots: list[int] = []  # reply index of each event
        rejections: list[Rejection] = []
        line_no = conn.line_no
        for raw in lines:
            line_no += 1
            if raw is None:
                reason = f"event is over {size_limit(max_bytes)}; it was skipped"
                rejections.append(
                    Rejection(self.name, f"{conn.stream} line {line_no}", reason, b"", conn.stream, "too_large")
                )
                replies.append(_error(reason))
                continue
            if not raw.strip():
                continue  # blank lines are allowed between events and need no answer
            try:
                event = parse_event_line(raw.rstrip(b"\r"), max_bytes=max_bytes)
            except EventError as e:
                excerpt = raw[:EXCERPT_BYTES]
                rejections.append(Rejection(self.name, f"{conn.stream} line {line_no}", str(e), excerpt, conn.stream))
                replies.append(_error(str(e), e.event_id))
                continue
            slots.append(len(replies))
            replies.append(None)
            events.append(event)
        conn.line_no = line_no
        conn.rejected += len(rejections)
        if not events and not rejections:
            return []
        assert self._submit is not None
        try:
            accepted = await self._submit(Batch(events=events, rejections=rejections, source=self.name))
        except Exception as e:
            where = {"source": self.name, "conn": conn.id, "events": len(events), "error": str(e)}
            log.error(LogLine("could not store the events", where))
            reason = f"not stored ({type(e).__name__}: {e}); this event was not acknowledged, send it again"
            for index, event in zip(slots, events, strict=True):
                replies[index] = _error(reason, event.id)
            return [r for r in replies if r is not None]
        for index, answer in zip(slots, accepted, strict=True):
            replies[index] = _ok(answer)
        return [r for r in replies if r is not None]


@dataclass(slots=True)
class _Connection:
    id: int
    line_no: int = 0  # lines read so far, blank ones included (positions in rejections)
    rejected: int = 0  # rejections so far, to know whether ingest has a summary to write at the end
    held: int = 0  # bytes of an unfinished line held for this connection (the source's budget)

    @property
    def stream(self) -> str:
        return f"conn {self.id}"


def _ok(answer: Accepted) -> bytes:
    if answer.duplicate:
        return orjson.dumps({"ok": True, "id": answer.id, "duplicate": True}) + b"\n"
    return orjson.dumps({"ok": True, "id": answer.id}) + b"\n"


def _error(reason: str, event_id: str | None = None) -> bytes:
    payload: dict[str, object] = {"ok": False, "error": reason}
    if event_id:
        payload["id"] = event_id
    return orjson.dumps(payload) + b"\n"


@contextlib.contextmanager
def owner_only_files() -> Iterator[None]:
    """Files made inside (a socket as it is bound) are the owner's alone until their mode is set: with
    the umask as it came, a socket would take its mode from it, and someone could connect in the
    moment between the bind and the chmod."""
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def prepare_socket_path(path: Path, owner: str, key: str) -> None:
    """Make a unix socket's directory, and remove a socket file there that nothing listens on (left
    by a daemon that died); refuse a live socket, or a file that is no socket. `owner` starts each
    message ("source 'app'", "admin listener"), `key` names the setting to change. Raises StartupError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StartupError(f"{owner}: cannot create {str(path.parent)!r}: {e.strerror}") from None
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise StartupError(f"{owner}: {str(path)!r} exists and is not a socket; remove it or choose another {key}")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # nothing answers on it: safe to replace
    else:
        raise StartupError(
            f"{owner}: another process is listening on {str(path)!r}; is another hookd running? stop it or "
            f"choose another {key}"
        )
    finally:
        probe.close()
