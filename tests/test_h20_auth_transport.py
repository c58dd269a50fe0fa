"""How the OAuth2 token endpoint is reached: as the hook's own requests are, with its proxy and its
trust (tls.ca_file, verify), and never with its client certificate unless it is the same host."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from hookd.config.model import OAuth2Auth, TlsConfig
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, Protected, TokenEndpoint, serving
from tests.h20_tls_servers import ProxiedRequest, forward_proxy, make_pki

PROXY_CREDENTIALS = ("hookd", "proxy-password-0123")
PROXY_BASIC = "Basic " + base64.b64encode(b"hookd:proxy-password-0123").decode()


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context for 127.0.0.1 with a CA made here, and that CA's file."""
    pki = make_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki.server.configure_cert(context)
    return context, pki.ca_file


async def send(spec: EndpointSpec, url: str) -> Outcome:
    sender = HttpSender(endpoints={"crm": spec})
    try:
        return await sender.send(
            OutboundRequest(method="POST", url=url, headers={}, body=b"{}", timeout_s=10.0, endpoint="crm")
        )
    finally:
        await sender.close()


def oauth2(token_url: str) -> OAuth2Auth:
    return OAuth2Auth(token_url=token_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


async def test_the_token_endpoint_is_trusted_as_the_hooks_tls_says(tmp_path: Path) -> None:
    """An https token endpoint with a certificate from a private CA: with the hook's tls.ca_file the
    token is fetched and used; without it the attempt fails, retryable, with a TLS reason that names
    the token endpoint, and the hook's endpoint gets nothing."""
    context, ca_file = server_context(tmp_path)
    tokens = TokenEndpoint()
    protected = Protected(tokens)
    async with serving(tokens, context), serving(protected):
        trusted = await send(
            EndpointSpec("crm", tls=TlsConfig(ca_file=ca_file), auth=oauth2(tokens.url)), protected.url()
        )
        untrusted = await send(EndpointSpec("crm", auth=oauth2(tokens.url)), protected.url())
        token_url = tokens.url

    assert token_url.startswith("https://")
    assert trusted.ok, trusted.error
    assert (untrusted.ok, untrusted.status, untrusted.retryable) == (False, None, True)
    assert untrusted.error.startswith(f"cannot get an OAuth2 token from {token_url}: TLS error: ")
    assert protected.seen == [f"Bearer {tokens.issued[0]}"]


async def test_the_token_endpoint_is_reached_through_the_hooks_proxy() -> None:
    """A hook with a proxy: the token request goes through it (with the proxy's credentials), as
    the delivery does; the token endpoint and the endpoint each got their request."""
    tokens = TokenEndpoint()
    protected = Protected(tokens)
    async with serving(tokens), serving(protected), forward_proxy(PROXY_CREDENTIALS) as proxy:
        spec = EndpointSpec("crm", proxy=proxy.url_with(*PROXY_CREDENTIALS), auth=oauth2(tokens.url))
        outcome = await send(spec, protected.url())
        token_url, hook_url = tokens.url, protected.url()

    assert outcome.ok, outcome.error
    assert proxy.requests == [
        ProxiedRequest("POST", token_url, PROXY_BASIC),
        ProxiedRequest("POST", hook_url, PROXY_BASIC),
    ]
    assert len(tokens.fetches) == 1


async def test_a_token_endpoint_behind_an_unreachable_proxy_says_so() -> None:
    """The hook's proxy does not answer: the attempt fails, retryable, naming the token endpoint and
    the proxy, never the proxy's password."""
    tokens = TokenEndpoint()
    async with serving(tokens):
        spec = EndpointSpec("crm", proxy=f"http://hookd:{PROXY_CREDENTIALS[1]}@127.0.0.1:9", auth=oauth2(tokens.url))
        outcome = await send(spec, "http://127.0.0.1:9/hook")
        token_url = tokens.url

    assert (outcome.ok, outcome.retryable) == (False, True)
    assert outcome.error.startswith(f"cannot get an OAuth2 token from {token_url}: ")
    assert "proxy" in outcome.error and PROXY_CREDENTIALS[1] not in outcome.error
    assert tokens.fetches == []
