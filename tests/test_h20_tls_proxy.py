"""Outbound proxies through a real HTTP forward proxy written for the test (absolute-form requests
forwarded, CONNECT tunnels, Basic Proxy-Authorization checked): delivery.proxy, a hook's own proxy
and `proxy: false`, delivery.trust_env with HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment,
and proxy failures as clear attempt failures that never show the proxy's password."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

from tests.conftest import Receiver, write_config
from tests.h20_tls_servers import ProxiedRequest, forward_proxy, https_receiver, make_pki
from tests.test_h20_tls_https import send_as_hook

PASSWORD = "pr0xy-pa55word-xyz"
CREDENTIALS = ("hookd", PASSWORD)
BASIC = "Basic " + base64.b64encode(f"hookd:{PASSWORD}".encode()).decode()


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy variable of the machine's leaks in; PROXY_PASSWORD is the password the configs use."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)


def config(directory: Path, url: str, *, hook: str = "", delivery: str = "", tls: str = "") -> Path:
    """One hook `h` to `url`; `hook` and `delivery` are more keys of each, as `key: value` lines."""
    hook_lines = "".join(f"    {line}\n" for line in hook.strip().splitlines())
    if tls:
        hook_lines += f"    tls: {{{tls}}}\n"
    delivery_block = (
        "delivery:\n" + "".join(f"  {line}\n" for line in delivery.strip().splitlines()) if delivery else ""
    )
    text = f"version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: {url}\n{hook_lines}{delivery_block}"
    return write_config(directory, text)


def proxied_with_password(port: int) -> str:
    return f"proxy: http://hookd:${{PROXY_PASSWORD}}@127.0.0.1:{port}"


async def test_an_http_request_goes_through_delivery_proxy_with_its_credentials(
    tmp_path: Path, receiver: Receiver
) -> None:
    # A plain http:// receiver: the request goes to the proxy in absolute form, with
    # Proxy-Authorization made from the URL's userinfo (the password from ${PROXY_PASSWORD}).
    async with forward_proxy(CREDENTIALS) as proxy:
        outcome = await send_as_hook(config(tmp_path, receiver.url("/in"), delivery=proxied_with_password(proxy.port)))
        assert outcome.ok, outcome.error
        assert proxy.requests == [ProxiedRequest("POST", receiver.url("/in"), BASIC)]
        assert [r.path for r in receiver.requests] == ["/in"]


async def test_an_https_request_is_tunnelled_with_connect_and_keeps_mutual_tls(tmp_path: Path) -> None:
    # An https:// receiver that requires a client certificate: the proxy sees only a CONNECT (with
    # the credentials), and TLS, client certificate included, runs end to end through the tunnel.
    pki = make_pki(tmp_path / "pki")
    async with forward_proxy(CREDENTIALS) as proxy, https_receiver(pki, require_client_cert=True) as rec:
        tls = f"ca_file: {pki.ca_file}, client_cert: {pki.client_combined}"
        outcome = await send_as_hook(
            config(tmp_path, rec.url("/in"), delivery=proxied_with_password(proxy.port), tls=tls)
        )
        assert outcome.ok, outcome.error
        assert proxy.requests == [ProxiedRequest("CONNECT", f"127.0.0.1:{rec.server.port}", BASIC)]  # type: ignore[union-attr]
        assert len(rec.requests) == 1 and rec.client_subjects[0] is not None


async def test_a_refused_proxy_password_is_a_clear_retryable_failure_without_the_password(
    tmp_path: Path, receiver: Receiver
) -> None:
    # 407 from the proxy: to a CONNECT (https://) and to a plain request (http://). Each is an
    # attempt failure saying the proxy refused the credentials, retried on the hook's schedule; the
    # password given is in neither message.
    pki = make_pki(tmp_path / "pki")
    async with forward_proxy(("hookd", "another-password")) as proxy, https_receiver(pki) as rec:
        delivery = proxied_with_password(proxy.port)
        tunnelled = await send_as_hook(
            config(tmp_path, rec.url("/in"), delivery=delivery, tls=f"ca_file: {pki.ca_file}")
        )
        plain = await send_as_hook(config(tmp_path, receiver.url("/in"), delivery=delivery))
    assert not tunnelled.ok and tunnelled.retryable and tunnelled.status is None
    assert tunnelled.error is not None and tunnelled.error.startswith("CONNECT through the proxy failed: ")
    assert not plain.ok and plain.retryable and plain.status == 407
    assert plain.error is not None and plain.error.startswith("HTTP 407: ")
    for error in (tunnelled.error, plain.error):
        assert "407 Proxy Authentication Required" in error and "password in the proxy URL" in error
        assert PASSWORD not in error
    assert rec.requests == [] and receiver.requests == []


async def test_a_proxy_that_cannot_be_reached_is_a_clear_retryable_failure(tmp_path: Path, receiver: Receiver) -> None:
    # Nothing listens at the proxy's address: the failure names the proxy, not the receiver.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    outcome = await send_as_hook(config(tmp_path, receiver.url("/in"), delivery=proxied_with_password(port)))
    assert not outcome.ok and outcome.retryable
    assert outcome.error is not None and outcome.error.startswith(f"cannot connect to the proxy 127.0.0.1:{port}: ")
    assert PASSWORD not in outcome.error


async def test_a_hooks_proxy_wins_and_proxy_false_connects_directly(tmp_path: Path, receiver: Receiver) -> None:
    # delivery.proxy names one proxy; a hook's own proxy replaces it; proxy: false bypasses both.
    async with forward_proxy() as shared, forward_proxy() as own:
        delivery = f"proxy: {shared.url}"
        assert (await send_as_hook(config(tmp_path, receiver.url("/a"), delivery=delivery))).ok
        assert (
            await send_as_hook(config(tmp_path, receiver.url("/b"), hook=f"proxy: {own.url}", delivery=delivery))
        ).ok
        assert (await send_as_hook(config(tmp_path, receiver.url("/c"), hook="proxy: false", delivery=delivery))).ok
        assert [r.target for r in shared.requests] == [receiver.url("/a")]
        assert [r.target for r in own.requests] == [receiver.url("/b")]
    assert [r.path for r in receiver.requests] == ["/a", "/b", "/c"]


async def test_trust_env_takes_https_proxy_and_no_proxy_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTPS_PROXY carries https:// requests (CONNECT, with its userinfo's credentials); NO_PROXY
    # naming the host sends them directly; without trust_env the environment is ignored.
    pki = make_pki(tmp_path / "pki")
    async with forward_proxy(CREDENTIALS) as proxy, https_receiver(pki) as rec:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url_with("hookd", PASSWORD))
        tls = f"ca_file: {pki.ca_file}"
        trusted = config(tmp_path, rec.url("/in"), delivery="trust_env: true", tls=tls)
        assert (await send_as_hook(trusted)).ok
        assert proxy.requests == [ProxiedRequest("CONNECT", f"127.0.0.1:{rec.server.port}", BASIC)]  # type: ignore[union-attr]
        monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1")
        assert (await send_as_hook(trusted)).ok
        monkeypatch.delenv("NO_PROXY")
        assert (await send_as_hook(config(tmp_path, rec.url("/in"), tls=tls))).ok
        assert len(proxy.requests) == 1
        assert len(rec.requests) == 3


async def test_trust_env_takes_http_proxy_for_http_urls_even_without_a_scheme(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP_PROXY=host:port (no scheme, as often written) is an http:// proxy; HTTPS_PROXY is not used
    # for an http:// URL.
    async with forward_proxy() as proxy, forward_proxy() as unused:
        monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")
        monkeypatch.setenv("HTTPS_PROXY", unused.url)
        assert (await send_as_hook(config(tmp_path, receiver.url("/in"), delivery="trust_env: true"))).ok
        assert [r.target for r in proxy.requests] == [receiver.url("/in")]
        assert unused.requests == []


async def test_trust_env_does_not_read_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # aiohttp's own trust_env would take the proxy's credentials from ~/.netrc; hookd's does not: a
    # proxy URL without userinfo sends no Proxy-Authorization, whatever .netrc holds.
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine 127.0.0.1 login hookd password {PASSWORD}\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    pki = make_pki(tmp_path / "pki")
    async with forward_proxy(CREDENTIALS) as proxy, https_receiver(pki) as rec:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        outcome = await send_as_hook(
            config(tmp_path, rec.url("/in"), delivery="trust_env: true", tls=f"ca_file: {pki.ca_file}")
        )
        assert not outcome.ok and "407" in (outcome.error or "")
        assert [r.proxy_authorization for r in proxy.requests] == [None]


async def test_an_environment_proxy_hookd_cannot_use_fails_the_attempt_without_its_password(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP_PROXY naming a socks proxy: each attempt fails, retryable, saying which variable to fix;
    # the password in it is not shown.
    monkeypatch.setenv("HTTP_PROXY", f"socks5://hookd:{PASSWORD}@127.0.0.1:1080")
    outcome = await send_as_hook(config(tmp_path, receiver.url("/in"), delivery="trust_env: true"))
    assert not outcome.ok and outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("HTTP_PROXY in hookd's environment ")
    assert "it is a socks5:// URL" in outcome.error
    assert PASSWORD not in outcome.error
    assert receiver.requests == []
