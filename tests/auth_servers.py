"""Real servers for the endpoint-authentication tests: an OAuth2 token endpoint that counts fetches
and checks client authentication, and a protected endpoint that accepts only the tokens it issued
(and can echo what it was sent, as a debugging receiver does)."""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

CLIENT_ID = "hookd client"  # a space: form encoding before base64 (RFC 6749 2.3.1) matters
CLIENT_SECRET = "cs-0123456789-s3cret/+="


@dataclass
class Fetch:
    """One request the token endpoint got."""

    form: dict[str, str]
    authorization: str | None


@dataclass
class TokenEndpoint:
    """POST /token, client credentials. Answers `failures` first (status, body), then tokens."""

    client_auth: str = "basic"  # what it requires: basic or post
    expires_in: object = 3600
    failures: list[tuple[int, bytes]] = field(default_factory=list)
    hold: asyncio.Event | None = None  # answer only once this is set
    fetches: list[Fetch] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)  # tokens issued and not revoked
    issued: list[str] = field(default_factory=list)
    server: TestServer | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/token"))

    def revoke(self) -> None:
        self.valid.clear()

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self.fetches.append(Fetch(form, request.headers.get("Authorization")))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            status, body = self.failures.pop(0)
            return web.Response(status=status, body=body, content_type="application/json")
        if form.get("grant_type") != "client_credentials" or not self._client_ok(request, form):
            body = {"error": "invalid_client", "error_description": "client authentication failed"}
            return web.json_response(body, status=401)
        token = f"at-{len(self.issued)}-{secrets.token_urlsafe(24)}"
        self.issued.append(token)
        self.valid.add(token)
        answer: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return web.json_response(answer)

    def _client_ok(self, request: web.Request, form: dict[str, str]) -> bool:
        if self.client_auth == "post":
            return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic ") or "client_secret" in form:
            return False
        user, _, password = base64.b64decode(header[len("Basic ") :]).decode().partition(":")
        return (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)


@dataclass
class Protected:
    """An endpoint that wants `Authorization: Bearer <a token the TokenEndpoint issued and did not
    revoke>`; with `echo`, it answers with what it was sent (body and Server header)."""

    tokens: TokenEndpoint
    echo: bool = False
    status: int = 200
    seen: list[str | None] = field(default_factory=list)  # the Authorization of each request
    server: TestServer | None = None

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        sent = request.headers.get("Authorization")
        self.seen.append(sent)
        token = sent.removeprefix("Bearer ") if sent else None
        if token not in self.tokens.valid:
            return web.json_response({"error": "invalid_token"}, status=401)
        if self.echo:
            return web.Response(
                status=self.status,
                body=orjson.dumps({"you_sent": sent, "headers": {str(k): v for k, v in request.headers.items()}}),
                headers={"Server": f"echo ({sent})", "Content-Type": "application/json"},
            )
        return web.Response(status=self.status, text="ok")


@dataclass
class Echo:
    """Answers `status` with what it was sent: its Authorization in the body and the Server header,
    and every header and the query in the body (as a debugging receiver does); or a redirect."""

    status: int = 200
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)  # path, headers, query
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 307 answer
    server: TestServer | None = None

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        headers = {str(k): v for k, v in request.headers.items()}
        query = dict(request.query)
        self.requests.append((request.path, headers, query))
        if request.path in self.redirects:
            return web.Response(status=307, headers={"Location": self.redirects[request.path]})
        sent = request.headers.get("Authorization", "")
        return web.Response(
            status=self.status,
            body=orjson.dumps({"you_sent": sent, "headers": headers, "query": query}),
            headers={"Server": f"echo ({sent})", "Content-Type": "application/json"},
        )


@asynccontextmanager
async def serving(handler: TokenEndpoint | Protected | Echo, tls: ssl.SSLContext | None = None) -> AsyncIterator[None]:
    """`handler` on 127.0.0.1:0, over TLS with `tls` (a server context) when given."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    server = TestServer(app, host="127.0.0.1", port=0, scheme="https" if tls else "http")
    await server.start_server(ssl=tls)
    handler.server = server
    try:
        yield
    finally:
        if isinstance(handler, TokenEndpoint) and handler.hold is not None:
            handler.hold.set()
        await server.close()


@asynccontextmanager
async def oauth2_servers(**options: object) -> AsyncIterator[tuple[TokenEndpoint, Protected]]:
    """A started TokenEndpoint (with `options`) and a Protected endpoint that trusts it."""
    tokens = TokenEndpoint(**options)  # type: ignore[arg-type]
    protected = Protected(tokens)
    async with serving(tokens), serving(protected):
        yield tokens, protected
