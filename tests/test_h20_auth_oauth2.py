"""`auth: {type: oauth2}`: client credentials against a real token endpoint (aiohttp on 127.0.0.1),
through the HttpSender every way of sending uses: one fetch shared by concurrent requests and by
hooks with the same token key, refreshed before it expires (on a manual clock), fetched again once
after a 401 within the same attempt, and token endpoint failures as retryable attempts with the
reason."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote_plus

import pytest

from hookd.auth.oauth2 import REFRESH_MARGIN_S
from hookd.config.model import OAuth2Auth
from hookd.senders.base import OutboundRequest
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import REFUSED_RENEWED, HttpSender
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, TokenEndpoint, oauth2_servers
from tests.manual_clock import ManualClock


def oauth2(tokens: TokenEndpoint, **changes: object) -> OAuth2Auth:
    fields: dict[str, object] = {
        "token_url": tokens.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "client_auth": tokens.client_auth,
        **changes,
    }
    return OAuth2Auth(**fields)  # type: ignore[arg-type]


def post(url: str, hook: str = "crm") -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, headers={"Content-Type": "application/json"}, body=b"{}",
                           timeout_s=10.0, endpoint=hook)  # fmt: skip


@asynccontextmanager
async def sending(specs: dict[str, EndpointSpec], clock: ManualClock | None = None) -> AsyncIterator[HttpSender]:
    sender = HttpSender(endpoints=specs, clock=clock)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@pytest.mark.parametrize("client_auth", ["basic", "post"])
async def test_the_token_is_fetched_with_the_client_credentials_and_sent_as_bearer(client_auth: str) -> None:
    """The token request is a client-credentials grant with scope and audience, the client
    authenticated as client_auth says (Basic of the form-encoded id and secret, or both in the form
    body); the endpoint then gets `Authorization: Bearer <the token>` and accepts it."""
    async with oauth2_servers(client_auth=client_auth) as (tokens, protected):
        auth = oauth2(tokens, scope="webhooks:write", audience="https://crm.example")
        async with sending({"crm": EndpointSpec("crm", auth=auth)}) as sender:
            outcome = await sender.send(post(protected.url()))

    assert (outcome.ok, outcome.status) == (True, 200), outcome.error
    [fetch] = tokens.fetches
    assert fetch.form["grant_type"] == "client_credentials"
    assert (fetch.form["scope"], fetch.form["audience"]) == ("webhooks:write", "https://crm.example")
    if client_auth == "basic":
        assert fetch.authorization is not None and "client_secret" not in fetch.form
        user, _, password = base64.b64decode(fetch.authorization.removeprefix("Basic ")).decode().partition(":")
        assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
        assert user != CLIENT_ID  # the space was form-encoded before base64
    else:
        assert fetch.authorization is None
        assert (fetch.form["client_id"], fetch.form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)
    assert protected.seen == [f"Bearer {tokens.issued[0]}"]


async def test_twenty_concurrent_requests_share_one_fetch() -> None:
    """20 requests sent at once, while the token endpoint holds its answer: it gets exactly one
    request, and all 20 go out with that one token."""
    hold = asyncio.Event()
    async with (
        oauth2_servers(hold=hold) as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender,
    ):
        sends = [asyncio.ensure_future(sender.send(post(protected.url()))) for _ in range(20)]
        await tokens.arrived.wait()
        for _ in range(5):
            await asyncio.sleep(0)  # any second fetch would have been started by now
        hold.set()
        outcomes = await asyncio.gather(*sends)

    assert [o.ok for o in outcomes] == [True] * 20
    assert len(tokens.fetches) == 1
    assert protected.seen == [f"Bearer {tokens.issued[0]}"] * 20


async def test_hooks_with_the_same_token_key_share_the_token_and_others_do_not() -> None:
    """Two hooks with the same token_url, client_id, scope and audience use one token; a third with
    another scope gets its own."""
    async with oauth2_servers() as (tokens, protected):
        specs = {
            "a": EndpointSpec("a", auth=oauth2(tokens, scope="s1")),
            "b": EndpointSpec("b", auth=oauth2(tokens, scope="s1")),
            "c": EndpointSpec("c", auth=oauth2(tokens, scope="s2")),
        }
        async with sending(specs) as sender:
            for hook in ("a", "b", "c", "a"):
                assert (await sender.send(post(protected.url(), hook))).ok

    assert [f.form["scope"] for f in tokens.fetches] == ["s1", "s2"]
    first, second = tokens.issued
    assert protected.seen == [f"Bearer {first}", f"Bearer {first}", f"Bearer {second}", f"Bearer {first}"]


async def test_the_token_survives_a_reload_of_the_endpoints() -> None:
    """configure() (a reload) rebuilds every endpoint, but the process's tokens stay: no new fetch."""
    async with oauth2_servers() as (tokens, protected):
        spec = EndpointSpec("crm", auth=oauth2(tokens))
        async with sending({"crm": spec}) as sender:
            assert (await sender.send(post(protected.url()))).ok
            sender.configure({"crm": spec, "other": EndpointSpec("other")})
            assert (await sender.send(post(protected.url()))).ok

    assert len(tokens.fetches) == 1


async def test_a_token_is_refreshed_shortly_before_it_expires() -> None:
    """expires_in 300: on a manual clock the token is used until REFRESH_MARGIN_S before that, then
    exactly one new fetch, and the new token is sent."""
    clock = ManualClock()
    async with (
        oauth2_servers(expires_in=300) as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}, clock) as sender,
    ):
        assert (await sender.send(post(protected.url()))).ok
        clock.advance(300 - REFRESH_MARGIN_S - 1)
        assert (await sender.send(post(protected.url()))).ok
        assert len(tokens.fetches) == 1
        clock.advance(1)
        assert (await sender.send(post(protected.url()))).ok
        assert (await sender.send(post(protected.url()))).ok

    assert len(tokens.fetches) == 2
    first, second = tokens.issued
    assert protected.seen == [f"Bearer {first}", f"Bearer {first}", f"Bearer {second}", f"Bearer {second}"]


@pytest.mark.parametrize(("expires_in", "used_for"), [(20, 10.0), ("120", 90.0), (None, 3600.0 - REFRESH_MARGIN_S)])
async def test_short_lived_text_and_missing_lifetimes(expires_in: object, used_for: float) -> None:
    """A token living less than twice the margin is refreshed at half its life; expires_in given as
    text is read as a number; without expires_in a token is used for an hour (less the margin)."""
    clock = ManualClock()
    async with (
        oauth2_servers(expires_in=expires_in) as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}, clock) as sender,
    ):
        assert (await sender.send(post(protected.url()))).ok
        clock.advance(used_for - 0.5)
        assert (await sender.send(post(protected.url()))).ok
        assert len(tokens.fetches) == 1
        clock.advance(0.5)
        assert (await sender.send(post(protected.url()))).ok
    assert len(tokens.fetches) == 2


async def test_a_401_fetches_a_new_token_and_resends_within_the_same_attempt() -> None:
    """The token endpoint revokes the token the sender holds; the endpoint answers 401 to it. The
    sender fetches one new token and sends again in the same attempt: one outcome, 200, and the
    endpoint saw the old token, then the new one."""
    async with (
        oauth2_servers() as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender,
    ):
        assert (await sender.send(post(protected.url()))).ok
        tokens.revoke()
        outcome = await sender.send(post(protected.url()))

    assert (outcome.ok, outcome.status, outcome.error, outcome.hops) == (True, 200, "", ())
    assert len(tokens.fetches) == 2
    old, new = tokens.issued
    assert protected.seen == [f"Bearer {old}", f"Bearer {old}", f"Bearer {new}"]


async def test_a_second_401_is_final_with_the_reason_and_no_third_fetch() -> None:
    """An endpoint that refuses every token: one refetch, then the 401 is the attempt's outcome (a
    4xx, not retried), and its reason says a fresh token was refused too."""
    async with (
        oauth2_servers() as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender,
    ):
        protected.tokens = TokenEndpoint()  # trusts nothing this token endpoint issues
        outcome = await sender.send(post(protected.url()))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 401, False)
    assert outcome.error.endswith(REFUSED_RENEWED)
    assert len(tokens.fetches) == 2
    assert len(protected.seen) == 2


async def test_concurrent_401s_share_one_refetch() -> None:
    """Ten requests holding a revoked token all get 401 at about the same time: one refetch, and
    each resends with the new token."""
    async with (
        oauth2_servers() as (tokens, protected),
        sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender,
    ):
        assert (await sender.send(post(protected.url()))).ok
        tokens.revoke()
        outcomes = await asyncio.gather(*(sender.send(post(protected.url())) for _ in range(10)))

    assert all(o.ok for o in outcomes)
    assert len(tokens.fetches) == 2
    assert protected.seen[-10:] == [f"Bearer {tokens.issued[1]}"] * 10


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        ((500, b"{}"), "HTTP 500"),
        ((503, b"<html>busy</html>"), "HTTP 503"),
        (
            (400, b'{"error": "invalid_scope", "error_description": "scope webhooks:write\\nis unknown"}'),
            "HTTP 400 (invalid_scope: scope webhooks:write is unknown)",
        ),
        ((200, b"this is not json"), "HTTP 200, but the answer is not a JSON object"),
        ((200, b'{"token_type": "Bearer", "expires_in": 60}'), "HTTP 200, but the answer has no access_token"),
        ((302, b""), "HTTP 302; the token endpoint redirects: set token_url to the final URL"),
    ],
)
async def test_a_token_endpoint_failure_is_a_retryable_attempt_with_the_reason(
    failure: tuple[int, bytes], reason: str
) -> None:
    """The token endpoint answers with an error, a body that is not JSON or one without access_token:
    the attempt fails, retryable, with no status (the endpoint was not reached) and the reason; the
    endpoint got nothing, and the next attempt fetches again and succeeds."""
    async with oauth2_servers(failures=[failure]) as (tokens, protected):
        token_url = tokens.url
        async with sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender:
            failed = await sender.send(post(protected.url()))
            retried = await sender.send(post(protected.url()))

    assert (failed.ok, failed.status, failed.retryable) == (False, None, True)
    assert failed.error == f"cannot get an OAuth2 token from {token_url}: {reason}"
    assert "busy" not in failed.error and failed.response_excerpt == ""
    assert retried.ok
    assert len(protected.seen) == 1


async def test_wrong_client_credentials_say_so() -> None:
    """The token endpoint refuses the client: the reason carries its error and error_description."""
    async with oauth2_servers() as (tokens, protected):
        auth = oauth2(tokens, client_secret="not-the-secret")
        async with sending({"crm": EndpointSpec("crm", auth=auth)}) as sender:
            outcome = await sender.send(post(protected.url()))

    assert (outcome.ok, outcome.retryable) == (False, True)
    assert outcome.error.endswith(": HTTP 401 (invalid_client: client authentication failed)")


async def test_a_token_endpoint_that_does_not_answer_is_a_retryable_attempt() -> None:
    """Nothing listens at token_url: a retryable failure naming the address."""
    async with oauth2_servers() as (tokens, protected):
        auth = oauth2(tokens, token_url="http://127.0.0.1:9/token")
        async with sending({"crm": EndpointSpec("crm", auth=auth)}) as sender:
            outcome = await sender.send(post(protected.url()))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, None, True)
    assert outcome.error.startswith("cannot get an OAuth2 token from http://127.0.0.1:9/token: cannot connect to")


async def test_a_fetch_that_fails_fails_every_request_waiting_for_it_once() -> None:
    """Five requests wait for one fetch that fails: each fails with the reason, and the token
    endpoint got one request, not five."""
    hold = asyncio.Event()
    async with oauth2_servers(hold=hold, failures=[(500, b"{}")]) as (tokens, protected):
        token_url = tokens.url
        async with sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender:
            sends = [asyncio.ensure_future(sender.send(post(protected.url()))) for _ in range(5)]
            await tokens.arrived.wait()
            hold.set()
            outcomes = await asyncio.gather(*sends)

    assert {o.error for o in outcomes} == {f"cannot get an OAuth2 token from {token_url}: HTTP 500"}
    assert len(tokens.fetches) == 1


async def test_a_token_the_endpoint_echoes_is_hidden_in_what_the_sender_returns() -> None:
    """The endpoint echoes the Authorization it got in its body and its Server header, and answers
    500: the outcome (error, excerpt, headers) holds the token nowhere, and *** where it was."""
    async with oauth2_servers() as (tokens, protected):
        protected.echo, protected.status = True, 500
        async with sending({"crm": EndpointSpec("crm", auth=oauth2(tokens))}) as sender:
            outcome = await sender.send(post(protected.url()))

    [token] = tokens.issued
    assert outcome.status == 500
    shown = repr(outcome)
    assert token not in shown and token[:20] not in shown
    assert '"you_sent":"Bearer ***"' in outcome.response_excerpt
    assert outcome.response_headers["server"] == "echo (Bearer ***)"
