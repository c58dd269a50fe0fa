"""The OAuth2 token endpoint's answer, from real servers on 127.0.0.1: a JSON answer that arrives in
two chunks is read whole (up to the cap, and one over it says so), and a token endpoint that echoes
the client's `Authorization: Basic` credential in its error_description does not get it stored in
clear, even when the client secret holds characters that form encoding changes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote_plus

import orjson

from hookd.auth.oauth2 import MAX_ANSWER_BYTES
from hookd.config.model import OAuth2Auth
from hookd.redact import Redactor
from hookd.senders.base import OutboundRequest, Outcome, redact_outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, TokenEndpoint, serving
from tests.conftest import Receiver

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_token_endpoint(write_answer: Writer) -> AsyncIterator[str]:
    """A token endpoint on 127.0.0.1:0 that reads the token request and then answers with
    `write_answer` (chunked transfer encoding, written as the test says). Yields its URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        await write_answer(writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/token"
    finally:
        server.close()
        await server.wait_closed()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


async def send_with(auth: OAuth2Auth, url: str) -> Outcome:
    sender = HttpSender(endpoints={"crm": EndpointSpec("crm", auth=auth)})
    try:
        return await sender.send(OutboundRequest(method="POST", url=url, headers={}, body=b"{}", timeout_s=10.0,
                                                 endpoint="crm"))  # fmt: skip
    finally:
        await sender.close()


async def test_a_token_answer_in_two_chunks_is_read_whole(receiver: Receiver) -> None:
    """The token endpoint writes `{"access_token": ` and, only after the event loop has run a good
    many times more (so the client has long had the first part), the rest: the token is read whole,
    and the request goes out with it."""

    async def in_two_parts(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk(b'{"access_token": '))
        await writer.drain()
        for _ in range(50):  # the first part reaches the client over loopback in a few iterations
            await asyncio.sleep(0)
        writer.write(chunk(b'"tok-0123456789abcdef", "expires_in": 60}') + b"0\r\n\r\n")
        await writer.drain()

    async with raw_token_endpoint(in_two_parts) as token_url:
        auth = OAuth2Auth(token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        outcome = await send_with(auth, receiver.url("/in"))

    assert outcome.ok, outcome.error
    assert [r.headers["Authorization"] for r in receiver.requests] == ["Bearer tok-0123456789abcdef"]


async def test_a_token_answer_over_the_cap_says_so(receiver: Receiver) -> None:
    """An answer longer than MAX_ANSWER_BYTES, in many chunks: the attempt fails, retryable, saying the
    answer is too large (not that it is not JSON), and nothing is sent to the endpoint."""

    async def too_long(writer: asyncio.StreamWriter) -> None:
        writer.write(chunk(b'{"access_token": "tok-0123456789abcdef", "padding": "'))
        for _ in range(MAX_ANSWER_BYTES // 1024 + 1):
            writer.write(chunk(b"x" * 1024))
            await writer.drain()
        writer.write(chunk(b'"}') + b"0\r\n\r\n")
        await writer.drain()

    async with raw_token_endpoint(too_long) as token_url:
        auth = OAuth2Auth(token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        outcome = await send_with(auth, receiver.url("/in"))

    assert not outcome.ok and outcome.retryable
    assert outcome.error.endswith(f"HTTP 200, but the answer is larger than {MAX_ANSWER_BYTES // 1024} KiB")
    assert receiver.requests == []


async def test_an_echoed_basic_client_credential_is_hidden(receiver: Receiver) -> None:
    """client_auth: basic with a client secret holding / + = (form-encoded before base64, so the
    base64 differs from the secret's own): a token endpoint that answers 401 with the Authorization
    it got in error_description has it shown as Basic *** in the attempt's error, also after the
    daemon's redaction with the config's secrets, and never its base64."""
    tokens = TokenEndpoint(client_auth="basic")
    credential = base64.b64encode(f"{quote_plus(CLIENT_ID)}:{quote_plus(CLIENT_SECRET)}".encode()).decode()
    body = {"error": "invalid_client", "error_description": f"unknown client: Basic {credential}"}
    tokens.failures = [(401, orjson.dumps(body))]
    async with serving(tokens):
        auth = OAuth2Auth(token_url=tokens.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        outcome = await send_with(auth, receiver.url("/in"))

    stored = redact_outcome(outcome, Redactor([(CLIENT_SECRET, "${CS}")]))
    assert tokens.fetches[0].authorization == f"Basic {credential}"
    for shown in (outcome.error, stored.error):
        assert shown.endswith("HTTP 401 (invalid_client: unknown client: Basic ***)"), shown
        assert credential[:12] not in shown and credential[-12:] not in shown
