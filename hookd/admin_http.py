"""The admin listener's connections: at most `max_connections` at once (one more is answered 503),
each closed when it sends no complete request for ADMIN_IDLE_S, and no request a web browser makes.

No web browser has business with the admin listener, and a page it shows must not drive it: any
request that carries `Origin`, or a `Sec-Fetch-Site` other than `none`, is refused (403). Idle
clients could otherwise hold every slot, and then not even /livez would be answered.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp.web_protocol import RequestHandler

_HOST_PORT = re.compile(r":[0-9]{1,5}")


class Capped(Protocol):
    """What a capped site asks of its owner at each connection: how many it may serve at once."""

    max_connections: int


# Connections served at once; one more is answered 503 and closed. Idle clients could otherwise hold
# every open file, and then no status probe, no event and no CLI command could connect.
MAX_ADMIN_CONNECTIONS = 64
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# A connection with no request being served (none yet, between keep-alive requests, or one whose
# headers are still coming) is closed after this. Without it, 64 clients that send part of a request
# and wait held every slot, and even /livez went unanswered (found by an attacker review).
ADMIN_IDLE_S = 5.0
# What a client that sent part of a request but not its headers' end in time is told, as it is closed.
_SLOW_HEADERS = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A write transport however the loop made it: uvloop's is no asyncio.WriteTransport, and an
        # isinstance check there reset the connection instead of answering it.
        writer = cast(asyncio.WriteTransport, transport)
        writer.write(_BUSY)
        writer.close()


class TimedConnection(RequestHandler):
    """aiohttp's connection protocol with a deadline: while no request is being served, the client
    has ADMIN_IDLE_S to send one, or it is closed (told 408 if it had sent part of one). A request
    being served, such as a /tail stream, has no deadline. `gone` is set once the connection ends,
    so a handler that waits for something else (a /tail line) learns that its peer left."""

    __slots__ = ("_deadline", "_partial", "gone", "serving")

    def __init__(self, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.gone = asyncio.Event()
        self.serving = 0  # requests being handled now (more than one when pipelined)
        self._partial = False  # bytes came since the last request was handled
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_deadline()
        self.gone.set()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._partial = True
        super().data_received(data)

    def request_started(self) -> None:
        self.serving += 1
        self._stop_deadline()

    def request_ended(self) -> None:
        self.serving -= 1
        if not self.serving:
            self._partial = False
            self._start_deadline()

    def _start_deadline(self) -> None:
        # Read at each start, so that a test can shorten it.
        self._deadline = asyncio.get_running_loop().call_later(ADMIN_IDLE_S, self._expired)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._partial:
            cast(asyncio.WriteTransport, transport).write(_SLOW_HEADERS)
        self.force_close()


@web.middleware
async def timed_while_served(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hold the connection's deadline while a request is handled (its headers came whole)."""
    connection = request.protocol
    if not isinstance(connection, TimedConnection):
        return await handler(request)
    connection.request_started()
    try:
        return await handler(request)
    finally:
        connection.request_ended()


@web.middleware
async def browsers_refused(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests a web browser makes: a page could otherwise have the browser POST /reload (a
    form needs no CORS permission), or read /status through a DNS name rebound to this address.
    Browsers send Origin or Sec-Fetch-Site with such requests; hookd's clients, curl and Prometheus
    send neither."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if "Origin" in request.headers:
        sent = "an Origin header"
    elif fetch_site is not None and fetch_site.strip().lower() != "none":
        sent = "Sec-Fetch-Site: " + fetch_site.strip()[:40]
    else:
        return await handler(request)
    return json_response(
        {
            "error": f"the admin listener refuses requests from web pages (this one carries {sent}, as browsers "
            "send); use hookd's commands, curl or a monitor, which send neither Origin nor Sec-Fetch-Site"
        },
        status=403,
    )


def _capped(runner: web.AppRunner, owner: Capped) -> Callable[[], asyncio.Protocol]:
    """The protocol factory of `runner`'s server, answering 503 past `owner.max_connections`; each
    connection served is a TimedConnection."""
    server = runner.server
    assert server is not None

    def protocol() -> asyncio.Protocol:
        if len(server.connections) >= owner.max_connections:
            return _Busy()
        # As aiohttp's Server.__call__ builds its RequestHandler, with the runner's options.
        return TimedConnection(server, loop=asyncio.get_running_loop(), **server._kwargs)

    return protocol


class CappedSite(web.TCPSite):
    """aiohttp's TCPSite, serving at most `owner.max_connections` connections at once."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, owner: Capped) -> None:
        super().__init__(runner, host, port)
        self._owner = owner

    async def start(self) -> None:
        await web.BaseSite.start(self)
        assert isinstance(self._runner, web.AppRunner)
        loop = asyncio.get_running_loop()
        protocol = _capped(self._runner, self._owner)
        self._server = await loop.create_server(protocol, self._host, self._port, backlog=self._backlog)


class CappedUnixSite(web.UnixSite):
    """aiohttp's UnixSite, serving at most `owner.max_connections` connections at once."""

    def __init__(self, runner: web.AppRunner, path: Path, *, owner: Capped) -> None:
        super().__init__(runner, str(path))
        self._owner = owner

    async def start(self) -> None:
        await web.BaseSite.start(self)
        assert isinstance(self._runner, web.AppRunner)
        loop = asyncio.get_running_loop()
        protocol = _capped(self._runner, self._owner)
        self._server = await loop.create_unix_server(protocol, str(self._path), backlog=self._backlog)


async def peer_gone(request: web.Request) -> None:
    """Until the connection `request` came on ends (forever on a connection that is not timed)."""
    connection = request.protocol
    if isinstance(connection, TimedConnection):
        await connection.gone.wait()
    else:
        await asyncio.Event().wait()


def host_allowed(host: str, listen_host: str) -> bool:
    """Whether a Host header names the listener as no web page can: an IP address, localhost, or the
    admin.listen host, with or without a port. Strict: `[::1]evil.com` or a zone id is no address."""
    name = host.strip().lower()
    if name.startswith("["):
        address, _, rest = name[1:].partition("]")
        if rest and not _HOST_PORT.fullmatch(rest):
            return False
        name = address
    elif name.count(":") == 1:
        name, _, port = name.partition(":")
        if not port.isdigit():
            return False
    if "%" in name:  # an IPv6 zone id: nothing a listener is reached by from another host
        return False
    if name == "localhost" or (listen_host and name == listen_host.lower()):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def json_response(value: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    try:
        body = orjson.dumps(value)
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits (a burst from a rate validate now bounds, say); JSON
        # has no such limit, and /status must answer whatever it holds rather than 500.
        body = json.dumps(value, default=str, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")
