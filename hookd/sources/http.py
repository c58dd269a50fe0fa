"""The http source: inbound webhooks (`type: http`).

A request is checked in this order, each step answering at once when it refuses: the caller's
address (403), the method (405), the declared size (413), the body read under the size limit, the
daemon-wide body budget and the read timeout (413, 503, 408), the unsigned handshakes (Meta, Microsoft
Graph), the sender's signature (401), the body and the event's type and id (400, 415), the signed
handshake (Slack). The event then goes to the daemon (a Back: hookd.inbound.back), which stores it,
deduplicated by id, with its deliveries, in ingest's commit, and only then says what to answer: 202
(or `response.status`) with its id, 200 for a duplicate, or in sync mode the first attempts' answer
(hookd.inbound.sync). A store that cannot write is answered 503 with Retry-After: the sender keeps
the event and tries again.

This runs in the http worker process (hookd.sources.http_worker), beside the listeners.

Refusals are rejections (counted per source, the first few per caller and window stored and logged,
hookd.rejections): time, source, caller, method and path, and the reason. Never the body, the query
(it may hold a key) or a credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiohttp import web

from hookd.clock import Clock
from hookd.config.model import HttpSourceConfig
from hookd.errors import EventError, StartupError
from hookd.events import size_limit
from hookd.inbound.addresses import client_address, networks
from hookd.inbound.admission import refused_before_body
from hookd.inbound.back import Back
from hookd.inbound.mapping import HandshakeAnswer, InboundMapper, RequestRefused
from hookd.inbound.reply import NO_STORE, json_reply
from hookd.inbound.request import InboundRequest
from hookd.inbound.verify import VerifyFailed, build_verifier
from hookd.logs import LogLine
from hookd.sources.base import Rejection, http_rejection_kind
from hookd.sources.http_listener import BodyBudget, Listener, Listeners, path_pattern

log = logging.getLogger("hookd.sources.http")

READ_CHUNK = 64 * 1024
STOPPING_RETRY_AFTER_S = 5  # what a sender is told to wait when hookd is stopping
BUDGET_RETRY_AFTER_S = 1  # ... and when bodies being read already fill the budget


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, *, answer: str | None = None, headers: Mapping[str, str] = {}) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason  # for the rejection record and the log
        self.answer = answer if answer is not None else reason  # for the sender
        self.headers = headers


def _budget_full() -> _Refusal:
    return _Refusal(
        503, "the bodies being read fill hookd's budget for them", headers={"Retry-After": str(BUDGET_RETRY_AFTER_S)}
    )


class HttpSource:
    """Implements hookd.sources.base.Source for one `type: http` source on a shared listener."""

    def __init__(self, config: HttpSourceConfig, listeners: Listeners, back: Back, *, clock: Clock) -> None:
        self.config = config
        self.name = config.name
        self._listeners = listeners
        self._listener: Listener | None = None
        self._budget: BodyBudget = listeners.budget
        self._pattern = path_pattern(config.path)
        self._verifier = build_verifier(config.verify) if config.verify is not None else None
        self._mapper = InboundMapper(config, self._verifier)
        self._allow = networks(config.allow_ips)
        self._trusted = networks(config.trusted_proxies)
        self._back = back
        self._clock = clock
        self._stopping = False
        self._in_flight: set[asyncio.Task[object]] = set()  # requests being handled: stop waits for them

    @property
    def port(self) -> int:
        """The port it listens on (the system's choice for port 0). Only once started."""
        assert self._listener is not None
        return self._listener.bound_port

    def describe(self) -> str:
        address = self._listener.address if self._listener is not None else ""
        return f"{address}{self.config.path}"

    async def start(self) -> None:
        """Bind its listener (shared with the sources of the same `listen`) and take its path.
        Raises StartupError."""
        listener = self._listeners.for_source(self.config)
        try:
            await listener.attach(self.name)
        except StartupError as e:
            where = f" ({self.config.origin})" if self.config.origin is not None else ""
            raise StartupError(f"source {self.name!r}{where}: {e}") from None
        self._listener = listener
        listener.back = self._back
        self._stopping = False
        listener.route(self.name, self._pattern, self._handle)

    async def stop_reading(self) -> None:
        """Requests that arrive from now on are answered 503; those being handled get their answer."""
        self._stopping = True
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.detach(self.name)

    # -- one request -----------------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest, params: dict[str, str]) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        remote = request.remote or ""
        try:
            if self._trusted:
                remote = client_address(remote, request.headers.getall("X-Forwarded-For", []), self._trusted)
            return await self._answer(request, params, remote)
        except _Refusal as r:
            self._back.reject(
                Rejection(
                    source=self.name,
                    position=f"{remote} {request.method} {request.path}",
                    reason=f"{r.status}: {r.reason}",
                    stream=remote,
                    kind=http_rejection_kind(r.status),
                )
            )
            return json_answer(r.status, {"error": r.answer}, r.headers)
        except Exception:  # a bug: one line with the traceback, a 500 for the sender, the source goes on
            log.exception(LogLine("internal error while handling a request", {"source": self.name}))
            return json_answer(500, {"error": "internal error"})
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _answer(self, request: web.BaseRequest, params: dict[str, str], remote: str) -> web.StreamResponse:
        if self._stopping:
            raise _Refusal(503, "hookd is stopping", headers={"Retry-After": str(STOPPING_RETRY_AFTER_S)})
        handshake_get = request.method == "GET" and "hub.mode" in request.query
        refusal = refused_before_body(
            self.config, self._allow, remote, request.method, handshake_get, request.headers.get("Content-Encoding")
        )
        if refusal is not None:
            raise _Refusal(refusal.status, refusal.reason, answer=refusal.answer, headers=refusal.headers)
        body = await self._read_body(request, remote)
        inbound = InboundRequest(
            method=request.method,
            path=request.path,
            headers=tuple((k.lower(), v) for k, v in request.headers.items()),
            body=body,
            remote_ip=remote,
            query=tuple(request.query.items()),
            params=params,
            raw_query=request.query_string,
        )
        answer = self._mapper.handshake(inbound)
        if answer is not None:
            if answer.status >= 400:  # a wrong Meta verify_token: listed, so guessing leaves a trace
                reason = f"{answer.status}: handshake refused: {answer.body.decode('utf-8', 'replace')}"
                self._back.reject(
                    Rejection(
                        self.name,
                        f"{remote} {request.method} {request.path}",
                        reason,
                        stream=remote,
                        kind=http_rejection_kind(answer.status),
                    )
                )
            return _handshake_response(answer)
        verdict = None
        now = self._clock.now()
        if self._verifier is not None:
            try:
                verdict = self._verifier.verify(inbound, now)
            except VerifyFailed as e:
                raise _Refusal(401, str(e)) from None
        try:
            received = self._mapper.receive(inbound, None if verdict is None else verdict.as_json(), now)
        except RequestRefused as e:
            raise _Refusal(e.status, str(e)) from None
        except EventError as e:
            raise _Refusal(400, str(e)) from None
        if isinstance(received, HandshakeAnswer):
            return _handshake_response(received)
        reply = await self._back.take(self.config, received)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def _read_body(self, request: web.BaseRequest, caller: str) -> bytes:
        limit = self.config.max_event_bytes
        declared = request.content_length
        if declared is not None and declared > limit:
            raise _Refusal(413, f"the body is {declared} bytes, over {size_limit(limit)}")
        content = request.content
        if declared is not None and content.is_eof():
            # All of it arrived with the headers (a webhook's usual size): no waiting, so no timer.
            if not self._budget.take(declared, caller, whole=True):
                raise _budget_full()
            try:
                return await content.read()
            finally:
                self._budget.give_back(declared, caller, whole=True)
        taken = 0
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.config.read_timeout_s):
                while True:
                    chunk = await content.read(READ_CHUNK)
                    if not chunk:
                        break
                    if taken + len(chunk) > limit:
                        raise _Refusal(413, f"the body is over {size_limit(limit)}")
                    if not self._budget.take(len(chunk), caller):
                        raise _budget_full()
                    taken += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise _Refusal(
                408, f"the body did not arrive within read_timeout ({self.config.read_timeout_s:g} s)"
            ) from None
        finally:
            self._budget.give_back(taken, caller)
        return b"".join(chunks)


def json_answer(status: int, value: object, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON answer, never cached (aiohttp's json_response writes through the slower json module)."""
    reply = json_reply(status, value, headers)
    return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


def _handshake_response(answer: HandshakeAnswer) -> web.Response:
    headers = {"Content-Type": answer.content_type, "X-Content-Type-Options": "nosniff", **NO_STORE}
    return web.Response(status=answer.status, body=answer.body, headers=headers)
