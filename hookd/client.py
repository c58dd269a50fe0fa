"""Talking to a running hookd from another process: events into its socket, status from its admin
listener (over TCP, or over its unix socket when the config's admin has a path). Used by `hookd
send` and `hookd status`; errors are HookdErrors whose exit code says what went wrong (2 bad input,
3 no daemon answers, 1 the daemon said no).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
import orjson

from hookd import jsonvalue
from hookd.config.model import Settings, SocketSourceConfig
from hookd.data_option import parse_data_option, syntax_text
from hookd.errors import DaemonUnavailable, HookdError
from hookd.files import file_kind

SEND_TIMEOUT_S = 30.0
RELOAD_TIMEOUT_S = 120.0  # a reload waits for sources to stop and start
STATUS_TIMEOUT_S = 5.0
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class InputError(HookdError):
    """What the user gave cannot be sent or used (bad JSON, no socket in the config): exit 2."""

    exit_code = 2


class AdminRefused(HookdError):
    """The admin listener answered but refused or did not look like hookd: exit 1."""


# -- events in ---------------------------------------------------------------------------------------


def event_line(text: str | bytes, where: str) -> bytes:
    """One JSON value as one compact line for the socket. `where` names it in the error
    ("argument 2", "stdin line 7"). hookd itself checks that it is a valid event; what JSON
    cannot carry exactly through the re-serialising (a key given twice, nesting past the limit,
    an overflowing number) is refused here, as hookd would refuse it."""
    try:
        value = jsonvalue.loads(text, unique_keys=True)
    except jsonvalue.JsonSyntaxError as e:
        example = '\'{"type": "order.created"}\''
        raise InputError(f"{where}: {syntax_text(e)}; give one JSON object, like {example}") from None
    except jsonvalue.JsonValueError as e:
        raise InputError(f"{where}: {e}") from None
    return jsonvalue.dumps(value) + b"\n"


def stdin_lines(raw: bytes) -> list[bytes]:
    """Events read from stdin: one JSON document (an object, or an array of them) or JSON Lines."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"stdin: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    if not text.strip():
        return []
    try:
        whole = jsonvalue.loads(text, unique_keys=True)
    except jsonvalue.JsonSyntaxError:
        pass  # not one document: JSON Lines
    except jsonvalue.JsonValueError as e:
        raise InputError(f"stdin: {e}") from None
    else:
        values = whole if isinstance(whole, list) else [whole]
        return [jsonvalue.dumps(v) + b"\n" for v in values]
    return [event_line(line, f"stdin line {n}") for n, line in enumerate(text.splitlines(), 1) if line.strip()]


# Bytes one read of stdin may return, and chunks read ahead of what the socket has taken.
_STDIN_CHUNK = 64 * 1024
_STDIN_AHEAD = 16


async def stdin_events(stream: BinaryIO) -> AsyncIterator[bytes | LineError]:
    """Events from `stream` as they arrive: each JSON Lines line as soon as its newline is read, so
    `tail -F app.log | hookd send -` sends as the file grows. A line that is not JSON is a LineError
    and the stream goes on. Input whose first line is an unfinished JSON document (a `[` array, a
    pretty-printed object) is read to its end and sent as one document, as `stdin_lines` reads it;
    its errors raise InputError, before anything of it is sent."""
    chunks = _chunks_in_background(stream)
    buffer = b""
    seen = b""  # the blank lines before the first event, kept so a document's line numbers stay right
    number = 0
    streaming = False
    async for chunk in chunks:
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line, buffer = buffer[:end], buffer[end + 1 :]
            number += 1
            if not line.strip():
                if not streaming:
                    seen += line + b"\n"
                continue
            if not streaming and _starts_document(line):
                rest = b"".join([seen, line, b"\n", buffer] + [c async for c in chunks])
                for event in stdin_lines(rest):
                    yield event
                return
            streaming = True
            yield _stream_line(line, number)
    if buffer.strip():
        number += 1
        if not streaming:
            for event in stdin_lines(seen + buffer):
                yield event
            return
        yield _stream_line(buffer, number)


def _starts_document(line: bytes) -> bool:
    """Whether the first line opens a JSON document that goes on over more lines."""
    text = line.decode("utf-8", "replace").strip()
    if text.startswith("["):
        return True
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as e:
        return e.pos >= len(text)  # cut off at the end, rather than wrong in the middle
    return False


def _stream_line(line: bytes, number: int) -> bytes | LineError:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return LineError(f"stdin line {number}: not UTF-8 text (byte 0x{line[e.start]:02x} at column {e.start + 1})")
    try:
        return event_line(text, f"stdin line {number}")
    except InputError as e:
        return LineError(str(e))


async def _chunks_in_background(stream: BinaryIO) -> AsyncIterator[bytes]:
    """What `stream` gives, as it gives it. A daemon thread does the blocking reads, so a stdin
    that never ends (a pipe from `tail -F`) cannot keep the process alive once the sending stops."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(_STDIN_AHEAD)
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        fd = -1
    # The file descriptor itself where there is one: a thread blocked in the buffered reader would
    # hold its lock, and the interpreter could not finish at exit while stdin stays open.
    read = (lambda n: os.read(fd, n)) if fd >= 0 else getattr(stream, "read1", None) or stream.readline

    def pump() -> None:
        try:
            while True:
                room.acquire()
                chunk = read(_STDIN_CHUNK)
                loop.call_soon_threadsafe(queue.put_nowait, chunk or None)
                if not chunk:
                    return
        except BaseException as e:  # handed to the reading side, which raises it
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(queue.put_nowait, e)

    threading.Thread(target=pump, name="hookd-stdin", daemon=True).start()
    while True:
        item = await queue.get()
        room.release()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise InputError(f"cannot read stdin: {item}")
        yield item


def typed_event_line(event_type: str, data: str | None) -> bytes:
    """The event `--type T --data JSON` describes."""
    event: dict[str, object] = {"type": event_type}
    if data is not None:
        try:
            event["data"] = parse_data_option(data)
        except ValueError as e:
            raise InputError(f"--data: {e}") from None
    return jsonvalue.dumps(event) + b"\n"


def socket_path(settings: Settings) -> Path:
    """The unix socket of the config's first socket source that has a path."""
    for source in settings.sources:
        if isinstance(source, SocketSourceConfig) and source.path is not None:
            return source.path
    raise InputError(
        f"{settings.config_path} has no socket source with a path, so there is nowhere to send events; "
        "add one (type: socket, path: ...) or pass --socket PATH"
    )


@dataclass(frozen=True, slots=True)
class Ack:
    """hookd's answer to one event, in the order sent."""

    index: int  # 1-based position among the events sent
    ok: bool
    id: str | None
    duplicate: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "ok": self.ok, "id": self.id}
        if self.ok:
            out["duplicate"] = self.duplicate
        else:
            out["error"] = self.error
        return out


class SendInterrupted(DaemonUnavailable):
    """hookd stopped answering part-way: `acks` holds the answers received before that (exit 3)."""

    def __init__(self, message: str, acks: list[Ack], sent: int) -> None:
        super().__init__(message)
        self.acks = acks
        self.sent = sent  # lines written, answered or not


def _connect_error(path: Path, e: OSError) -> HookdError:
    if isinstance(e, FileNotFoundError | NotADirectoryError):
        return DaemonUnavailable(
            f"hookd is not running: no socket at {str(path)!r}; start it with `hookd serve` "
            "(or pass the socket of the running one with --socket)"
        )
    if isinstance(e, ConnectionRefusedError):
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = stat.S_IFSOCK
        if not stat.S_ISSOCK(mode):
            return InputError(
                f"{str(path)!r} is {file_kind(mode)}, not a socket; --socket takes the `path` of a socket source "
                "in the config (to name the config instead, use -c)"
            )
        return DaemonUnavailable(
            f"hookd is not running: {str(path)!r} is a socket, but nothing listens on it (hookd stopped, or it is "
            "another program's); start hookd with `hookd serve`, or pass the running one's socket with --socket"
        )
    if isinstance(e, PermissionError):
        return HookdError(
            f"cannot connect to {str(path)!r}: permission denied; the socket has the mode set in the source's "
            "`mode` (0660 by default): run as its owner or a member of its group"
        )
    return HookdError(f"cannot connect to {str(path)!r}: {e.strerror or e}")


@dataclass(frozen=True, slots=True)
class LineError:
    """A line of a stream that is not an event (bad JSON, not UTF-8): reported, not sent."""

    message: str


async def send_events(
    path: Path,
    lines: AsyncIterable[bytes | LineError] | Sequence[bytes],
    *,
    on_ack: Callable[[Ack], None] = lambda ack: None,
    on_line_error: Callable[[LineError], None] = lambda error: None,
    timeout_s: float = SEND_TIMEOUT_S,
) -> list[Ack]:
    """Write each line to hookd's socket as it comes and report each answer as it arrives.

    `lines` may be a stream that waits for its next line (stdin behind `tail -F`): a line goes out
    as soon as it is read, and `timeout_s` applies only while an answer is owed, never while the
    stream is idle. Writing and reading run side by side, so a long input cannot fill both
    directions' buffers. Raises DaemonUnavailable when nothing listens at `path`, SendInterrupted
    when hookd stops answering, InputError when `path` is no socket, HookdError when the socket
    cannot be opened (permissions).
    """
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except OSError as e:
        raise _connect_error(path, e) from None

    sent = 0
    progress = asyncio.Event()  # set when a line went out, or the input ended

    async def write_all() -> None:
        nonlocal sent
        try:
            if isinstance(lines, Sequence):
                for line in lines:
                    writer.write(line)
                    sent += 1
                    progress.set()
                    await writer.drain()  # flow control: hookd reads the next lines once it answered these
            else:
                async for item in lines:
                    if isinstance(item, LineError):
                        on_line_error(item)
                        continue
                    writer.write(item)
                    sent += 1
                    progress.set()
                    await writer.drain()
        finally:
            progress.set()

    acks: list[Ack] = []
    writing = asyncio.create_task(write_all())
    # One read is always pending, also while nothing is owed, so a daemon that stops while stdin is
    # idle ends this at once (exit 3) instead of at the next line, which may be hours away.
    reading: asyncio.Future[bytes] | None = None

    def interrupted(what: str) -> SendInterrupted:
        return SendInterrupted(_unanswered(what, acks, sent), acks, sent)

    try:
        while True:
            if reading is None:
                reading = asyncio.ensure_future(reader.readline())
            if len(acks) == sent:
                if writing.done():
                    await writing  # raises if the input failed (InputError) or the connection did
                    break
                progress.clear()
                waiter = asyncio.ensure_future(progress.wait())
                watched: set[asyncio.Future[object]] = {writing, waiter, reading}  # type: ignore[arg-type]
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if writing.done() and writing.exception() is not None:
                    await writing
                if not reading.done():
                    continue
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(reading), timeout_s)
                except TimeoutError:
                    raise interrupted(f"no answer within {timeout_s:g}s") from None
            try:
                raw = reading.result()
            except (ConnectionError, ValueError) as e:
                raise interrupted(f"connection failed ({e})") from None
            reading = None
            if not raw.endswith(b"\n"):
                raise interrupted("hookd closed the connection")
            if len(acks) == sent:
                raise HookdError(f"the socket answered {raw[:200]!r} before anything was sent; is it hookd's socket?")
            ack = _ack(len(acks) + 1, raw)
            acks.append(ack)
            on_ack(ack)
    except ConnectionError as e:
        raise interrupted(f"connection failed ({e})") from None
    finally:
        writing.cancel()
        if reading is not None:
            reading.cancel()
        await asyncio.gather(writing, *([reading] if reading is not None else []), return_exceptions=True)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return acks


def _ack(index: int, raw: bytes) -> Ack:
    try:
        reply = orjson.loads(raw)
    except orjson.JSONDecodeError:
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise HookdError(f"the socket answered {raw[:200]!r}, which is not a hookd reply; is it hookd's socket?")
    event_id = reply.get("id")
    return Ack(
        index=index,
        ok=reply["ok"],
        id=event_id if isinstance(event_id, str) else None,
        duplicate=reply.get("duplicate") is True,
        error=None if reply["ok"] else str(reply.get("error", "rejected")),
    )


def _unanswered(what: str, acks: list[Ack], sent: int) -> str:
    if len(acks) == sent:
        return (
            f"hookd stopped answering: {what} after answering all {sent} event(s) sent; nothing more was sent. "
            "Start hookd again and send the rest"
        )
    return (
        f"hookd stopped answering: {what} after {len(acks)} of {sent} event(s); the {sent - len(acks)} "
        "without an answer may or may not be stored (give events an id so that sending them again is safe)"
    )


# -- status out --------------------------------------------------------------------------------------


# The base URL of requests over the admin unix socket: the connector ignores the host, and aiohttp
# needs one to build a request.
SOCKET_BASE_URL = "http://localhost"


def admin_url(settings: Settings) -> str:
    """Where the admin listener of `settings` answers, for a client on this machine: its http://
    address, or SOCKET_BASE_URL when it is a unix socket (see `admin_socket`)."""
    if not settings.admin.enabled:
        raise InputError(
            f"{settings.config_path} has no admin section, so `hookd serve` does not start the admin listener; "
            "add `admin: {listen: 127.0.0.1:8780}` and restart hookd, or pass --url"
        )
    if settings.admin.path is not None:
        return SOCKET_BASE_URL
    port = settings.admin.listen[1]
    if port == 0:
        raise InputError(
            f"admin.listen in {settings.config_path} uses port 0, so only the daemon knows its port; "
            "pass the URL from its log line `admin listening on http://…` with --url"
        )
    host = admin_host(settings)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def admin_socket(settings: Settings) -> Path | None:
    """The unix socket to reach the admin listener of `settings` through (admin.path), or None
    when it listens on TCP."""
    return settings.admin.path if settings.admin.enabled else None


def _session(timeout_s: float, socket: Path | None) -> aiohttp.ClientSession:
    """A client session to the admin listener: over its unix socket when `socket` is given."""
    connector = aiohttp.UnixConnector(path=str(socket)) if socket is not None else None
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))


def _shown(url: str, socket: Path | None) -> str:
    """The admin listener as messages name it: its URL, or unix:/path for a socket."""
    return url if socket is None else f"unix:{socket}"


def _endpoint(url: str, socket: Path | None, route: str) -> str:
    return f"{url}{route}" if socket is None else f"{route} on unix:{socket}"


def _socket_refused(socket: Path) -> AdminRefused:
    return AdminRefused(
        f"cannot connect to the admin socket {str(socket)!r}: permission denied; its permissions are admin.mode "
        "(0600 by default): run as the daemon's user, or set a mode like '0660' and join the socket's group"
    )


def _forbidden(shown: str, body: bytes) -> AdminRefused:
    """The admin listener's 403 (a request it takes for a web page's, or for a Host it does not
    answer without a token), with its own sentence when it sent one."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    error = value.get("error") if isinstance(value, dict) else None
    why = f": {error}" if isinstance(error, str) else ""
    return AdminRefused(f"the admin listener at {shown} refused the request (403){why}")


def admin_host(settings: Settings) -> str:
    """The host a client on this machine reaches the admin listener of `settings` at."""
    host = settings.admin.listen[0]
    return _WILDCARDS.get(host, host)


def normalize_url(url: str) -> str:
    """`127.0.0.1:8780` or `http://127.0.0.1:8780/` → `http://127.0.0.1:8780`."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise InputError(
            f"--url {url!r}: use an http:// URL like http://127.0.0.1:8780, or unix:PATH for an admin socket"
        )
    return url


async def _admin_call(
    method: str, url: str, path: str, *, token: str | None, timeout_s: float, socket: Path | None
) -> tuple[int, bytes]:
    """One request to the admin listener: its status and body. Raises InputError (a bad --url),
    DaemonUnavailable (no answer), AdminRefused (the socket's permissions)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hint = "is `hookd serve` running with this config?"
    shown = _shown(url, socket)
    try:
        async with (
            _session(timeout_s, socket) as session,
            session.request(method, f"{url}{path}", headers=headers, allow_redirects=False) as response,
        ):
            return response.status, await response.read()
    except aiohttp.InvalidURL:
        raise InputError(f"--url {url!r} is not a valid URL; use one like http://127.0.0.1:8780") from None
    except TimeoutError:
        raise DaemonUnavailable(f"no hookd answers at {shown}: no answer within {timeout_s:g}s; {hint}") from None
    except aiohttp.ClientConnectorError as e:
        if socket is not None and isinstance(e.os_error, PermissionError):
            raise _socket_refused(socket) from None
        reason = e.os_error.strerror or str(e.os_error)
        raise DaemonUnavailable(f"no hookd answers at {shown} ({reason}); {hint}") from None
    except (aiohttp.ClientError, OSError) as e:
        raise DaemonUnavailable(f"no hookd answers at {shown} ({e or type(e).__name__}); {hint}") from None


def _error_sentence(body: bytes) -> str | None:
    """The "error" of an admin listener's JSON answer, if it is one."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = value.get("error") if isinstance(value, dict) else None
    return error if isinstance(error, str) else None


async def fetch_status(
    url: str, *, token: str | None, timeout_s: float = STATUS_TIMEOUT_S, socket: Path | None = None
) -> dict[str, object]:
    """GET {url}/status, through the unix `socket` when given. Raises DaemonUnavailable (no answer),
    AdminRefused (401, not hookd, the socket's permissions)."""
    shown = _shown(url, socket)
    status, body = await _admin_call("GET", url, "/status", token=token, timeout_s=timeout_s, socket=socket)
    if status == 403:
        raise _forbidden(shown, body)
    if status == 401:
        if token:
            raise AdminRefused(
                f"the admin listener at {shown} refused the token (401); pass the daemon's admin.token "
                "with --token or HOOKD_ADMIN_TOKEN, or -c the config it runs with"
            )
        raise AdminRefused(
            f"the admin listener at {shown} requires a token (401); pass it with --token or HOOKD_ADMIN_TOKEN, "
            "or -c the config that sets admin.token"
        )
    try:
        value = orjson.loads(body) if status == 200 else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or "health" not in value:
        raise AdminRefused(
            f"{_endpoint(url, socket, '/status')} answered HTTP {status}, not hookd's status; "
            f"is {'admin.path' if socket is not None else '--url'} hookd's admin listener?"
        )
    return value


async def refresh_hooks(
    url: str, *, token: str | None, timeout_s: float = STATUS_TIMEOUT_S, socket: Path | None = None
) -> bool:
    """POST {url}/hooks/refresh (through the unix `socket` when given): the daemon reads the hook
    states (pauses) now rather than at its next poll. True when it did; False when nothing answered
    or it refused (it polls anyway)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            _session(timeout_s, socket) as session,
            session.post(f"{url}/hooks/refresh", headers=headers, allow_redirects=False) as response,
        ):
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False


async def request_reload(
    url: str, *, token: str | None, timeout_s: float = RELOAD_TIMEOUT_S, socket: Path | None = None
) -> dict[str, object]:
    """POST {url}/reload, through the unix `socket` when given: the daemon reads its config again.
    Returns its answer ({ok, message, changes, problems}). Raises DaemonUnavailable (no answer),
    AdminRefused (401, not hookd, the socket's permissions)."""
    shown = _shown(url, socket)
    status, body = await _admin_call("POST", url, "/reload", token=token, timeout_s=timeout_s, socket=socket)
    if status == 403:
        raise _forbidden(shown, body)
    if status == 401:
        raise AdminRefused(
            f"the admin listener at {shown} refused the request (401); pass the daemon's admin.token with --token "
            "or HOOKD_ADMIN_TOKEN, or -c the config it runs with"
        )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = None
    if status not in (200, 409) or not isinstance(value, dict) or "ok" not in value:
        raise AdminRefused(
            f"{_endpoint(url, socket, '/reload')} answered HTTP {status}, not hookd's answer; "
            f"is {'admin.path' if socket is not None else '--url'} hookd's admin listener?"
        )
    return value


async def stream_tail(
    url: str,
    *,
    token: str | None,
    hooks: Sequence[str],
    types: Sequence[str],
    sources: Sequence[str],
    socket: Path | None = None,
) -> AsyncIterator[dict[str, object]]:
    """GET {url}/tail, through the unix `socket` when given: each line the daemon streams, as it comes,
    until it ends the stream. Raises DaemonUnavailable (no answer, or the stream ended as hookd stopped),
    AdminRefused (401, not hookd, the socket's permissions)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = [("hook", h) for h in hooks] + [("type", t) for t in types] + [("source", s) for s in sources]
    hint = "is `hookd serve` running with this config?"
    shown = _shown(url, socket)
    timeout = aiohttp.ClientTimeout(total=None, connect=STATUS_TIMEOUT_S, sock_connect=STATUS_TIMEOUT_S)
    connector = aiohttp.UnixConnector(path=str(socket)) if socket is not None else None
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
            session.get(f"{url}/tail", params=params, headers=headers, allow_redirects=False) as response,
        ):
            if response.status == 403:
                raise _forbidden(shown, await response.read())
            if response.status == 401:
                raise AdminRefused(
                    f"the admin listener at {shown} refused the request (401); pass the daemon's admin.token with "
                    "--token or HOOKD_ADMIN_TOKEN, or -c the config it runs with"
                )
            if response.status in (400, 503):  # the hub's own sentence: too many readers or filters
                said = _error_sentence(await response.read())
                if said is not None:
                    raise AdminRefused(f"{shown} refused to start the stream: {said}")
            if response.status != 200 or "ndjson" not in response.headers.get("Content-Type", ""):
                raise AdminRefused(
                    f"{_endpoint(url, socket, '/tail')} answered HTTP {response.status}; "
                    f"is {'admin.path' if socket is not None else '--url'} hookd's admin listener?"
                )
            async for raw in response.content:
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(line, dict) and line.get("kind") != "start":
                    yield line
    except aiohttp.InvalidURL:
        raise InputError(f"--url {url!r} is not a valid URL; use one like http://127.0.0.1:8780") from None
    except aiohttp.ClientConnectorError as e:
        if socket is not None and isinstance(e.os_error, PermissionError):
            raise _socket_refused(socket) from None
        reason = e.os_error.strerror or str(e.os_error)
        raise DaemonUnavailable(f"no hookd answers at {shown} ({reason}); {hint}") from None
    except TimeoutError:
        raise DaemonUnavailable(f"no hookd answers at {shown}: it took no connection in time; {hint}") from None
    except aiohttp.ClientPayloadError:
        pass  # the daemon stopped mid-line
    raise DaemonUnavailable(f"hookd at {shown} ended the stream (it is stopping)")
