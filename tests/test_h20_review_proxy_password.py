"""A proxy password holding '/', '?' or '#' unescaped (as pasted into HTTPS_PROXY, or written in
delivery.proxy): hookd reads the userinfo up to the last '@', so the whole password is a secret of
the config, and no message quotes it. An environment proxy hookd cannot use fails each attempt
naming the variable and what is wrong, never its value."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

import hookd.cli.validate  # noqa: F401  registers `hookd validate`
from hookd.cli.app import app
from hookd.config.load import load_config
from hookd.router import Router
from hookd.senders.base import redact_outcome
from tests.conftest import Receiver
from tests.h20_tls_servers import forward_proxy
from tests.test_h20_tls_https import send_as_hook
from tests.test_h20_tls_proxy import config

# Each is a password as a password manager makes them: the part after the character is most of it.
PASSWORDS = ["S3cr3t/Pa55word-xyz", "S3cr3t?Pa55word-xyz", "S3cr3t#Pa55word-xyz"]


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize("password", PASSWORDS)
async def test_an_unescaped_environment_proxy_password_is_never_shown(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """HTTP_PROXY=http://hookd:<password>@<a real proxy> with delivery.trust_env: the attempt fails,
    retryable, naming HTTP_PROXY and the percent-encoding that fixes it; neither the error nor the
    outcome as the daemon stores it (redacted with the hook's redactor) holds any of the password,
    and nothing reaches the proxy or the receiver."""
    async with forward_proxy(("hookd", password)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://hookd:{password}@127.0.0.1:{proxy.port}")
        path = config(tmp_path, receiver.url("/in"), delivery="trust_env: true")
        outcome = await send_as_hook(path)
        settings = load_config(path)
        stored = redact_outcome(outcome, Router(settings.hooks, secrets=settings.secrets).by_name["h"].redactor)

    assert not outcome.ok and outcome.retryable
    assert outcome.error.startswith(
        "HTTP_PROXY in hookd's environment (not shown: it may hold a password) is not an http:// proxy URL hookd "
        "can use: its user or password holds a '/', '?' or '#'"
    )
    assert "percent-encode" in outcome.error and "(/ as %2F, ? as %3F, # as %23)" in outcome.error
    for shown in (outcome.error, stored.error):
        assert "Pa55word" not in shown and "S3cr3t" not in shown
    assert proxy.requests == [] and receiver.requests == []


@pytest.mark.parametrize("password", PASSWORDS)
def test_an_unescaped_environment_proxy_password_is_a_secret_of_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    """With delivery.trust_env, the whole password of HTTPS_PROXY joins the redaction set (as the
    URL holds it): every hook's redactor hides it, in clear and percent-encoded, wherever it turns
    up."""
    monkeypatch.setenv("HTTPS_PROXY", f"http://hookd:{password}@proxy.corp:3128")
    settings = load_config(config(tmp_path, "https://crm.example/in", delivery="trust_env: true"))
    redactor = Router(settings.hooks, secrets=settings.secrets).by_name["h"].redactor

    assert password in {value for value, _ in settings.secrets}
    text = redactor.text(f"proxy said: {password} / {quote(password, safe='')}")
    assert "Pa55word" not in text and "S3cr3t" not in text


async def test_a_percent_encoded_environment_proxy_password_is_used(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix the message gives works: the same password percent-encoded in HTTP_PROXY reaches the
    proxy decoded, as its Basic credentials, and the request goes through."""
    password = PASSWORDS[0]
    async with forward_proxy(("hookd", password)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://hookd:{quote(password, safe='')}@127.0.0.1:{proxy.port}")
        outcome = await send_as_hook(config(tmp_path, receiver.url("/in"), delivery="trust_env: true"))

    assert outcome.ok, outcome.error
    assert [r.target for r in proxy.requests] == [receiver.url("/in")]


@pytest.mark.parametrize("password", [*PASSWORDS, "1234/Pa55word-xyz"])
def test_validate_names_an_unescaped_proxy_password_without_showing_it(tmp_path: Path, password: str) -> None:
    """delivery.proxy written with such a password: `hookd validate` says the user or password holds
    a character to percent-encode, showing the URL as http://***@host:port, and no part of the
    password (a password starting with digits would otherwise read as a port and a path)."""
    path = config(tmp_path, "https://crm.example/in", delivery=f"proxy: 'http://hookd:{password}@127.0.0.1:3128'")

    result = CliRunner().invoke(app, ["validate", str(path)])

    assert result.exit_code == 1, result.output
    assert "the user or password of the proxy URL http://***@127.0.0.1:3128 holds a '/', '?' or '#'" in result.output
    assert "Pa55word" not in result.output and "S3cr3t" not in result.output
