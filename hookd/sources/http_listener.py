"""One HTTP listener (a `listen` address) shared by the http sources that name it.

The listener owns the socket, TLS, the slow-client timer and the routing of paths to sources; each
http source (hookd.sources.http) owns what happens to its requests. Sources attach and detach on their
own schedule (the supervisor restarts one without touching the others): the socket is bound by the
first source that starts and closed when the last one closes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from hookd.config.model import HttpSourceConfig, ListenTlsConfig
from hookd.errors import StartupError
from hookd.inbound.admission import NO_SOURCE_ANSWER
from hookd.inbound.back import Back
from hookd.inbound.reply import json_reply
from hookd.sources.base import Rejection
from hookd.sources.socket import LISTEN_BACKLOG

log = logging.getLogger("hookd.sources.http")

HEALTH_PATH = "/healthz"
# Idle keep-alive connections are closed after this: senders open a new one when they need it.
KEEPALIVE_S = 75.0
# What a client that did not finish its request headers in time is told, as the connection closes.
_SLOW_HEADERS = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Handler = Callable[[web.BaseRequest, dict[str, str]], Awaitable[web.StreamResponse]]


def path_pattern(path: str) -> re.Pattern[str]:
    """A source's `path` as a pattern: each {name} matches one non-empty segment."""
    out, last = [], 0
    for m in _PARAM.finditer(path):
        out.append(re.escape(path[last : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        last = m.end()
    out.append(re.escape(path[last:]))
    return re.compile("".join(out))


@dataclass(slots=True)
class Route:
    source: str
    pattern: re.Pattern[str]
    handler: Handler


class BodyBudget:
    """Bytes of request bodies being read, all requests of all http sources together: at most
    `limit`, so many large uploads at once cannot take the worker's memory. Bodies still arriving
    may hold three quarters of it, and one caller (address) a quarter: a caller that opens slow
    uploads cannot starve the others, and a body that came whole with its headers (a webhook's
    usual size) always finds the last quarter free of slow ones."""

    __slots__ = ("_by_caller", "held", "limit", "streaming")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.streaming = 0  # of `held`, bytes of bodies still arriving
        self._by_caller: dict[str, int] = {}

    def take(self, n: int, caller: str, *, whole: bool = False) -> bool:
        if self.held + n > self.limit:
            return False
        if not whole:
            held_by_caller = self._by_caller.get(caller, 0)
            if self.streaming + n > self.limit * 3 // 4 or held_by_caller + n > self.limit // 4:
                return False
            self._by_caller[caller] = held_by_caller + n
            self.streaming += n
        self.held += n
        return True

    def give_back(self, n: int, caller: str, *, whole: bool = False) -> None:
        self.held -= n
        if not whole and n:
            self.streaming -= n
            left = self._by_caller.get(caller, 0) - n
            if left > 0:
                self._by_caller[caller] = left
            else:
                self._by_caller.pop(caller, None)


class _SlowClientHandler(RequestHandler):
    """aiohttp's connection protocol, with a deadline for each request's headers: a client that
    opens a connection (or keeps one alive) and sends its headers byte by byte is answered 408 and
    closed, instead of holding a connection (and a file) for as long as it likes. The listener's
    sweep (SlowClients) checks the deadlines: one timer for all connections, not one per request."""

    __slots__ = ("_clients", "idle_since", "serving")

    def __init__(self, manager: web.Server, *, clients: SlowClients, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._clients = clients
        self.serving = 0
        self.idle_since = 0.0  # when it last had no request being served

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.idle_since = asyncio.get_running_loop().time()
        self._clients.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._clients.discard(self)
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        error = kw.get("exc_info")
        if isinstance(error, HttpProcessingError):
            # A client's malformed request (aiohttp answers it 400): a rejection, counted and limited per
            # caller like the others, never a traceback quoting its request line (a key in a query).
            self._clients.malformed(self, type(error).__name__)
            return
        super().log_exception(*args, **kw)

    def too_slow(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        # A write transport however the loop made it (uvloop's is not an asyncio.WriteTransport).
        cast(asyncio.WriteTransport, transport).write(_SLOW_HEADERS)
        transport.close()


class SlowClients:
    """The open connections of a listener, swept every so often for one that has waited for its
    request's headers longer than the timeout (at most a sweep's interval late)."""

    def __init__(self, timeout_s: float, on_malformed: Callable[[str, str], None]) -> None:
        self.timeout_s = timeout_s
        self.on_malformed = on_malformed  # (the caller's address, what aiohttp found wrong)
        self._connections: set[_SlowClientHandler] = set()
        self._timer: asyncio.TimerHandle | None = None

    def malformed(self, handler: _SlowClientHandler, what: str) -> None:
        transport = handler.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        self.on_malformed(str(peer[0]) if isinstance(peer, tuple) and peer else "", what)

    def add(self, handler: _SlowClientHandler) -> None:
        self._connections.add(handler)
        if self._timer is None:
            self._schedule()

    def discard(self, handler: _SlowClientHandler) -> None:
        self._connections.discard(handler)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(min(1.0, self.timeout_s / 4), self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        if not self._connections:
            return  # the next connection starts the sweeps again
        deadline = asyncio.get_running_loop().time() - self.timeout_s
        for handler in [h for h in self._connections if not h.serving and h.idle_since < deadline]:
            handler.too_slow()
        self._schedule()


class _Server(web.Server):
    def __init__(self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], clients: SlowClients):
        # The body is read as sent: a signature covers those bytes, and a compressed body could grow
        # far past max_event_size in memory before hookd counted it.
        super().__init__(handler, keepalive_timeout=KEEPALIVE_S, access_log=None, auto_decompress=False)
        self._clients = clients

    def __call__(self) -> RequestHandler:
        return _SlowClientHandler(self, loop=self._loop, clients=self._clients, **self._kwargs)


@dataclass(slots=True)
class Listener:
    """One `listen` address, serving the routes of the sources attached to it."""

    host: str
    port: int
    tls: ListenTlsConfig | None
    header_timeout_s: float
    routes: list[Route] = field(default_factory=list)
    address: str = ""
    _server: asyncio.Server | None = None
    _web: _Server | None = None
    clients: SlowClients | None = None
    _attached: int = 0
    # Where rejections go, for requests no source takes (404): set by the sources as they start.
    back: Back | None = None

    async def attach(self, source: str) -> None:
        """A source starts on this listener: the first one binds it. Raises StartupError."""
        self._attached += 1
        if self._server is not None:
            return
        try:
            await self._bind()
        except BaseException:
            self._attached -= 1
            raise

    async def detach(self, source: str) -> None:
        """A source closes: its routes go, and the last one closes the socket."""
        self.routes = [r for r in self.routes if r.source != source]
        self._attached = max(0, self._attached - 1)
        if self._attached == 0:
            await self._close()

    def route(self, source: str, pattern: re.Pattern[str], handler: Handler) -> None:
        self.unroute(source)
        self.routes.append(Route(source, pattern, handler))

    def unroute(self, source: str) -> None:
        self.routes = [r for r in self.routes if r.source != source]

    async def _bind(self) -> None:
        context = _tls_context(self.tls) if self.tls is not None else None
        self.clients = SlowClients(self.header_timeout_s, self._malformed)
        self._web = _Server(self._handle, self.clients)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._web, self.host, self.port, ssl=context, backlog=LISTEN_BACKLOG
            )
        except OSError as e:
            self._web = None
            raise StartupError(
                f"cannot listen on {self.host}:{self.port} for http sources: {e.strerror}; is another hookd or "
                "web server using it? pick another port in listen"
            ) from None
        scheme = "https" if context is not None else "http"
        names = []
        for sock in self._server.sockets:
            h, p = sock.getsockname()[:2]
            names.append(f"{scheme}://{h}:{p}" if ":" not in h else f"{scheme}://[{h}]:{p}")
        self.address = " ".join(names)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        server, web_server = self._server, self._web
        self._server = self._web = None
        if self.clients is not None:
            self.clients.close()
        if server is not None:
            server.close()
        if web_server is not None:
            await web_server.shutdown(timeout=1.0)
        if server is not None:
            await server.wait_closed()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        timed = protocol if type(protocol) is _SlowClientHandler else None
        if timed is not None:
            timed.serving += 1
        try:
            path = request.path
            for route in self.routes:
                m = route.pattern.fullmatch(path)
                if m is not None:
                    return await route.handler(request, m.groupdict())
            if path == HEALTH_PATH and request.method in ("GET", "HEAD"):
                return web.json_response({"status": "ok"})
            self._unrouted(request)
            reply = json_reply(404, {"error": NO_SOURCE_ANSWER})
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        finally:
            if timed is not None:
                timed.serving -= 1
                # The connection stays open for the next request: its headers get the same time.
                timed.idle_since = asyncio.get_running_loop().time()

    def _malformed(self, remote: str, what: str) -> None:
        if self.back is not None:
            self.back.reject(
                Rejection(
                    source=f"http {self.host}:{self.port}",
                    position=remote,
                    reason=f"400: the request is not valid HTTP/1.1 ({what})",
                    stream=remote,
                    kind="bad_request",
                )
            )

    def _unrouted(self, request: web.BaseRequest) -> None:
        """A request for a path no source has: a rejection of the listener's (a sender with a wrong URL
        shows in `hookd history rejections` as any refused request does)."""
        if self.back is None:
            return
        remote = request.remote or ""
        self.back.reject(
            Rejection(
                source=f"http {self.host}:{self.port}",
                position=f"{remote} {request.method} {request.path}",
                reason=f"404: {NO_SOURCE_ANSWER}",
                stream=remote,
                kind="not_found",
            )
        )


def _tls_context(tls: ListenTlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as e:
        raise StartupError(
            f"cannot load the TLS certificate {str(tls.cert_file)!r} and key {str(tls.key_file)!r}: "
            f"{getattr(e, 'strerror', None) or e}; check that they are PEM files that belong together"
        ) from None
    return context


class Listeners:
    """Every listener of a daemon, by address: sources with the same `listen` get the same one."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self._by_address: dict[tuple[str, int], Listener] = {}

    def for_source(self, config: HttpSourceConfig) -> Listener:
        listener = self._by_address.get(config.listen)
        if listener is None:
            host, port = config.listen
            listener = Listener(host=host, port=port, tls=config.tls, header_timeout_s=config.read_timeout_s)
            self._by_address[config.listen] = listener
        elif config.read_timeout_s < listener.header_timeout_s:
            # One connection may carry requests for any of the listener's sources: the shortest read_timeout.
            listener.header_timeout_s = config.read_timeout_s
            if listener.clients is not None:
                listener.clients.timeout_s = config.read_timeout_s
        return listener
