"""Talking to a running hookd from another process: events into its socket, status from its admin
listener. Used by `hookd send` and `hookd status`; errors are HookdErrors whose exit code says
what went wrong (2 bad input, 3 no daemon answers, 1 the daemon said no).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from hookd import jsonvalue
from hookd.config.model import Settings, SocketSourceConfig
from hookd.errors import DaemonUnavailable, HookdError

SEND_TIMEOUT_S = 30.0
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
        raise InputError(f'{where}: {_syntax(e)}; give one JSON object, like \'{{"type": "order.created"}}\'') from None
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


def typed_event_line(event_type: str, data: str | None) -> bytes:
    """The event `--type T --data JSON` describes."""
    event: dict[str, object] = {"type": event_type}
    if data is not None:
        try:
            event["data"] = jsonvalue.loads(data)
        except jsonvalue.JsonSyntaxError as e:
            raise InputError(f"--data: {_syntax(e)}; quote strings, like --data '\"text\"'") from None
        except jsonvalue.JsonValueError as e:
            raise InputError(f"--data: {e}") from None
    if jsonvalue.nested_deeper_than(event, jsonvalue.MAX_DEPTH):
        raise InputError(f"--data: {jsonvalue.too_deep_text()}")
    return jsonvalue.dumps(event) + b"\n"


def _syntax(e: jsonvalue.JsonSyntaxError) -> str:
    """`invalid JSON (what the parser said)`, or the invalid UTF-8 sentence as it is."""
    text = str(e)
    return f"invalid JSON ({text.removeprefix('invalid JSON: ')})" if text.startswith("invalid JSON: ") else text


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

    def __init__(self, message: str, acks: list[Ack]) -> None:
        super().__init__(message)
        self.acks = acks


async def send_events(path: Path, lines: Sequence[bytes], *, timeout_s: float = SEND_TIMEOUT_S) -> list[Ack]:
    """Write each line to hookd's socket and wait for its answer (each within `timeout_s`).

    Writing and reading run side by side, so a long input cannot fill both directions' buffers.
    Raises DaemonUnavailable when nothing listens at `path`, SendInterrupted when hookd stops
    answering, HookdError when the socket cannot be opened (permissions).
    """
    try:
        reader, writer = await asyncio.open_unix_connection(str(path))
    except (FileNotFoundError, NotADirectoryError):
        raise DaemonUnavailable(
            f"hookd is not running: no socket at {str(path)!r}; start it with `hookd serve` "
            "(or pass the socket of the running one with --socket)"
        ) from None
    except ConnectionRefusedError:
        raise DaemonUnavailable(
            f"hookd is not running: nothing listens on {str(path)!r} (a socket file left by a stopped hookd); "
            "start it with `hookd serve`"
        ) from None
    except PermissionError:
        raise HookdError(
            f"cannot connect to {str(path)!r}: permission denied; the socket has the mode set in the source's "
            "`mode` (0660 by default): run as its owner or a member of its group"
        ) from None
    except OSError as e:
        raise HookdError(f"cannot connect to {str(path)!r}: {e.strerror or e}") from None

    async def write_all() -> None:
        for line in lines:
            writer.write(line)
            await writer.drain()  # flow control: hookd reads the next lines once it answered these

    acks: list[Ack] = []
    writing = asyncio.create_task(write_all())
    try:
        for index in range(1, len(lines) + 1):
            try:
                raw = await asyncio.wait_for(reader.readline(), timeout_s)
            except TimeoutError:
                raise SendInterrupted(_unanswered(f"no answer within {timeout_s:g}s", acks, len(lines)), acks) from None
            except (ConnectionError, ValueError) as e:
                raise SendInterrupted(_unanswered(f"connection failed ({e})", acks, len(lines)), acks) from None
            if not raw.endswith(b"\n"):
                raise SendInterrupted(_unanswered("hookd closed the connection", acks, len(lines)), acks)
            acks.append(_ack(index, raw))
        await writing
    except ConnectionError as e:
        raise SendInterrupted(_unanswered(f"connection failed ({e})", acks, len(lines)), acks) from None
    finally:
        writing.cancel()
        await asyncio.gather(writing, return_exceptions=True)
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
    return (
        f"hookd stopped answering: {what} after {len(acks)} of {sent} event(s); the {sent - len(acks)} "
        "without an answer may or may not be stored (give events an id so that sending them again is safe)"
    )


# -- status out --------------------------------------------------------------------------------------


def admin_url(settings: Settings) -> str:
    """Where the admin listener of `settings` answers, for a client on this machine."""
    if not settings.admin.enabled:
        raise InputError(
            f"{settings.config_path} has no admin section, so `hookd serve` does not start the admin listener; "
            "add `admin: {listen: 127.0.0.1:8780}` and restart hookd, or pass --url"
        )
    host, port = settings.admin.listen
    if port == 0:
        raise InputError(
            f"admin.listen in {settings.config_path} uses port 0, so only the daemon knows its port; "
            "pass the URL from its log line `admin listening on http://…` with --url"
        )
    host = _WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def normalize_url(url: str) -> str:
    """`127.0.0.1:8780` or `http://127.0.0.1:8780/` → `http://127.0.0.1:8780`."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise InputError(f"--url {url!r}: use an http:// URL like http://127.0.0.1:8780")
    return url


async def fetch_status(url: str, *, token: str | None, timeout_s: float = STATUS_TIMEOUT_S) -> dict[str, object]:
    """GET {url}/status. Raises DaemonUnavailable (no answer), AdminRefused (401, not hookd)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hint = "is `hookd serve` running with this config?"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.get(f"{url}/status", headers=headers, allow_redirects=False) as response,
        ):
            body = await response.read()
            status = response.status
    except aiohttp.InvalidURL:
        raise InputError(f"--url {url!r} is not a valid URL; use one like http://127.0.0.1:8780") from None
    except TimeoutError:
        raise DaemonUnavailable(f"no hookd answers at {url}: no answer within {timeout_s:g}s; {hint}") from None
    except aiohttp.ClientConnectorError as e:
        reason = e.os_error.strerror or str(e.os_error)
        raise DaemonUnavailable(f"no hookd answers at {url} ({reason}); {hint}") from None
    except aiohttp.ClientError as e:
        raise DaemonUnavailable(f"no hookd answers at {url} ({type(e).__name__}: {e}); {hint}") from None
    if status == 401:
        if token:
            raise AdminRefused(
                f"the admin listener at {url} refused the token (401); pass the daemon's admin.token "
                "with --token or HOOKD_ADMIN_TOKEN, or -c the config it runs with"
            )
        raise AdminRefused(
            f"the admin listener at {url} requires a token (401); pass it with --token or HOOKD_ADMIN_TOKEN, "
            "or -c the config that sets admin.token"
        )
    try:
        value = orjson.loads(body) if status == 200 else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or "health" not in value:
        raise AdminRefused(f"{url}/status answered HTTP {status}, not hookd's status; is --url hookd's admin listener?")
    return value
