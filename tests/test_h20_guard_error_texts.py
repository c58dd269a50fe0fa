"""Error texts from the HTTP client quote the URL it requested, which holds what hookd added when
sending (an api_key query parameter): an outcome never carries it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hookd.config.model import ApiKeyAuth, HookConfig
from hookd.rendering import render_request
from hookd.router import Router
from hookd.senders.http import HttpSender
from tests.conftest import Receiver, Reply

EVENT = b'{"id":"evt-1","type":"order.created","time":"2024-01-01T00:00:00Z","source":"t","data":{"id":7}}'


@asynccontextmanager
async def malformed_answers() -> AsyncIterator[int]:
    """A server on 127.0.0.1 that answers every request with a header line HTTP does not allow."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nBad Header\x01: x\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("name", ["api_key", "code"])
async def test_an_api_key_query_parameter_is_not_in_an_error_text(name: str) -> None:
    """1. A hook with auth api_key in the query (a short value: too short to be hidden by value,
       under a parameter name that does and does not look secret); 2. the receiver answers with a
       malformed response, so the client raises an error that quotes the URL it requested.
    Result: the attempt fails with the client's reason, and the value appears nowhere in it."""
    async with malformed_answers() as port:
        hook = HookConfig(name="h", events=("*",), url=f"http://127.0.0.1:{port}/hook",
                          auth=ApiKeyAuth(value="short7x", query=name))  # fmt: skip
        router = Router([hook])
        sender = HttpSender(endpoints=router.endpoints)
        try:
            outcome = await sender.send(render_request(router.by_name["h"], "d-1", "evt-1", 1, EVENT, 0.0))
        finally:
            await sender.close()
    assert not outcome.ok and outcome.error
    assert f"127.0.0.1:{port}/hook" in outcome.error, outcome.error
    assert "short7x" not in outcome.error


async def test_a_redirect_to_an_invalid_international_name_fails_for_good(receiver: Receiver) -> None:
    """A receiver redirects to a host whose punycode label is not valid IDNA: the attempt fails for
    good saying the Location is not a valid URL (the sender does not raise, which would be recorded
    as an internal error and retried)."""
    receiver.on("/a", Reply(status=302, headers={"Location": "http://xn--good-.example/"}))
    router = Router([HookConfig(name="h", events=("*",), url=receiver.url("/a"), follow_redirects=True)])
    sender = HttpSender(endpoints=router.endpoints)
    try:
        outcome = await sender.send(render_request(router.by_name["h"], "d-1", "evt-1", 1, EVENT, 0.0))
    finally:
        await sender.close()
    assert (outcome.ok, outcome.retryable) == (False, False)
    assert "is not a valid URL" in outcome.error


async def test_redirect_hops_are_recorded_without_the_api_key_parameter(receiver: Receiver) -> None:
    """A hook with auth api_key in the query follows a same-host redirect: each hop's URL, as the
    outcome records it, has no api_key value (the request itself carried it to both)."""
    receiver.on("/a", Reply(status=307, headers={"Location": receiver.url("/b")}))
    hook = HookConfig(name="h", events=("*",), url=receiver.url("/a"), follow_redirects=True,
                      auth=ApiKeyAuth(value="k7Qz9x", query="code"))  # fmt: skip
    router = Router([hook])
    sender = HttpSender(endpoints=router.endpoints)
    try:
        outcome = await sender.send(render_request(router.by_name["h"], "d-1", "evt-1", 1, EVENT, 0.0))
    finally:
        await sender.close()
    assert outcome.ok, outcome.error
    assert [r.path for r in receiver.requests] == ["/a", "/b"]
    assert len(outcome.hops) == 2 and not any("k7Qz9x" in h.url for h in outcome.hops), outcome.hops
