"""Run-time secrets (each request's JWT, fetched OAuth2 tokens) hidden in what the sender returns,
against a real receiver that echoes them back: a JWT an earlier request carried, and a token with
every character escaped (%XX, JSON \\uXXXX, HTML &#x..;), whole or cut off at the end of the
excerpt. The sender's outcome is what the daemon stores (after the hook's own redactor, which
does not know these values)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hookd.auth.hiding import KEPT_VALUES, RunTimeSecrets
from hookd.config.model import AuthConfig, JwtAuth, OAuth2Auth
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import RESPONSE_EXCERPT_BYTES, HttpSender
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, TokenEndpoint, serving

JWT_SECRET = "jwt-shared-secret-0123456789abcdef-long-enough"


def percent(token: str) -> str:
    return "".join(f"%{b:02X}" for b in token.encode())


def json_u(token: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in token)


def html_hex(token: str) -> str:
    return "".join(f"&#x{ord(c):x};" for c in token)


ESCAPES: dict[str, Callable[[str], str]] = {"percent": percent, "json": json_u, "html": html_hex}


@dataclass
class Echoing:
    """Answers 500 with `answer(tokens)`, where tokens are the bearer tokens of every request so far,
    this one last."""

    answer: Callable[[list[str]], str]
    tokens: list[str] = field(default_factory=list)
    server: TestServer | None = None

    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.tokens.append(request.headers["Authorization"].removeprefix("Bearer "))
        return web.Response(status=500, text=self.answer(self.tokens), content_type="text/plain")


@asynccontextmanager
async def sender_for(auth: AuthConfig) -> AsyncIterator[HttpSender]:
    sender = HttpSender(endpoints={"crm": EndpointSpec("crm", auth=auth)})
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


async def send(sender: HttpSender, url: str) -> Outcome:
    return await sender.send(OutboundRequest(method="POST", url=url, headers={}, body=b"{}", timeout_s=10.0,
                                             endpoint="crm"))  # fmt: skip


def leaks(outcome: Outcome, token: str) -> bool:
    """Whether the outcome holds the token, or any 16 characters of it, in clear or in one of the
    escaped spellings."""
    shown = repr(outcome)
    pieces = [token[i : i + 16] for i in range(0, len(token) - 16, 8)]
    return any(escape(piece) in shown or piece in shown for piece in pieces for escape in ESCAPES.values())


async def test_a_jwt_of_an_earlier_request_is_hidden() -> None:
    """The receiver answers each request with the JWT the request before it carried: the second
    outcome shows *** there, and no part of that earlier JWT."""
    echo = Echoing(lambda tokens: f"last time you sent {tokens[-2]}" if len(tokens) > 1 else "first")
    async with serving(echo), sender_for(JwtAuth(algorithm="HS256", secret=JWT_SECRET)) as sender:
        await send(sender, echo.url())
        outcome = await send(sender, echo.url())

    first, second = echo.tokens
    assert first != second
    assert outcome.response_excerpt == "last time you sent ***"
    assert not leaks(outcome, first)


@pytest.mark.parametrize("escape", list(ESCAPES))
@pytest.mark.parametrize("kind", ["jwt", "oauth2"])
async def test_a_token_echoed_with_every_character_escaped_is_hidden(kind: str, escape: str) -> None:
    """The receiver echoes the bearer token with every character escaped (percent-encoded, JSON
    \\uXXXX, HTML &#x..;), in its body: the outcome shows *** there, and none of the token in any
    spelling; the text around it is kept."""
    echo = Echoing(lambda tokens: f"you sent [{ESCAPES[escape](tokens[-1])}] ok")
    async with serving(echo), serving(tokens := TokenEndpoint()):
        auth: AuthConfig = (
            JwtAuth(algorithm="HS256", secret=JWT_SECRET)
            if kind == "jwt"
            else OAuth2Auth(token_url=tokens.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        )
        async with sender_for(auth) as sender:
            outcome = await send(sender, echo.url())

    [token] = echo.tokens
    assert outcome.response_excerpt == "you sent [***] ok"
    assert not leaks(outcome, token)


@pytest.mark.parametrize("room", [60, 58])
@pytest.mark.parametrize("escape", list(ESCAPES))
async def test_an_escaped_token_cut_off_by_the_excerpt_is_hidden(escape: str, room: int) -> None:
    """The echoed, escaped JWT starts `room` characters before the excerpt ends, so the excerpt holds
    only its first characters (the last one cut inside its escape, for 58): they are hidden too, the
    rest of the excerpt kept."""
    padding = "x" * (RESPONSE_EXCERPT_BYTES - room)
    echo = Echoing(lambda tokens: padding + ESCAPES[escape](tokens[-1]) + " and more")
    async with serving(echo), sender_for(JwtAuth(algorithm="HS256", secret=JWT_SECRET)) as sender:
        outcome = await send(sender, echo.url())

    [token] = echo.tokens
    assert outcome.response_truncated
    assert outcome.response_excerpt == padding + "***"
    assert ESCAPES[escape](token[:4]) not in outcome.response_excerpt


def test_per_request_values_are_kept_apart_from_fetched_tokens_and_bounded() -> None:
    """The last KEPT_VALUES values made per request are hidden, an older one no longer (the set is
    bounded); a fetched token stays hidden however many are made after it."""
    hidden = RunTimeSecrets()
    hidden.add("fetched-token-0123456789")
    made = [f"per-request-{i:04d}-abcdefgh" for i in range(KEPT_VALUES + 1)]
    for value in made:
        hidden.add_per_request(value)

    assert hidden.text(" ".join(made[1:])) == " ".join(["***"] * KEPT_VALUES)
    assert hidden.text(made[0]) == made[0]
    assert hidden.text(html.escape("fetched-token-0123456789")) == "***"
    assert hidden.text(percent("fetched-token-0123456789")) == "***"
