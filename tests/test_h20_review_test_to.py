"""`hookd test --send --to URL` points the hooks' requests at a URL of the user's choosing (a local
inspection receiver): each hook's credentials stay behind (the auth's header, an OAuth2 token, which
is not even fetched, the TLS client certificate, and headers carrying a secret of the config), the
signature goes along, and the output says so in one line. `--with-credentials` sends them all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import hookd.cli.test_cmd  # noqa: F401  registers `hookd test`
from hookd.cli.app import app
from hookd.cli.test_cmd import CREDENTIALS_LEFT_OUT
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, TokenEndpoint, serving
from tests.conftest import write_config
from tests.h20_tls_servers import HttpsReceiver, Pki, https_receiver, make_pki

TOKEN = "static-bearer-token-0123456789"
KEY = "header-api-key-0123456789"
SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def config(directory: Path, pki: Pki, token_url: str) -> Path:
    """Four hooks on https://crm.example (never reached), each naming itself in X-Hook: a bearer auth
    that also signs, an OAuth2 auth, mutual TLS, and a credential of the config in its own headers."""
    tls = f"ca_file: {pki.ca_file}"
    return write_config(
        directory,
        f"""
        version: 1
        hooks:
          - name: bearer
            events: ["*"]
            url: https://crm.example/bearer
            headers: {{X-Hook: bearer}}
            auth: {{type: bearer, token: "${{HOOK_TOKEN}}"}}
            signing: {{type: standard, secret: "${{SIGNING_SECRET}}"}}
            tls: {{{tls}}}
          - name: oauth
            events: ["*"]
            url: https://crm.example/oauth
            headers: {{X-Hook: oauth}}
            auth: {{type: oauth2, token_url: "{token_url}", client_id: "{CLIENT_ID}", client_secret: "${{CS}}"}}
            tls: {{{tls}}}
          - name: mtls
            events: ["*"]
            url: https://crm.example/mtls
            headers: {{X-Hook: mtls}}
            tls: {{{tls}, client_cert: {pki.client_cert}, client_key: {pki.client_key}}}
          - name: keyed
            events: ["*"]
            url: https://crm.example/keyed
            headers: {{X-Hook: keyed, X-Api-Key: "${{HOOK_KEY}}"}}
            tls: {{{tls}}}
        """,
    )


@pytest.fixture(autouse=True)
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_KEY", KEY)
    monkeypatch.setenv("CS", CLIENT_SECRET)
    monkeypatch.setenv("SIGNING_SECRET", SIGNING)


async def run_test_send(tmp_path: Path, *extra: str) -> tuple[Result, HttpsReceiver, TokenEndpoint]:
    pki = make_pki(tmp_path / "pki")
    tokens = TokenEndpoint(client_auth="basic")
    async with serving(tokens), https_receiver(pki, optional_client_cert=True) as rec:
        cfg = config(tmp_path, pki, tokens.url)
        args = ["test", "-c", str(cfg), "--type", "order.created", "--send", "--to", rec.url("/inspect"), *extra]
        result = await asyncio.to_thread(CliRunner().invoke, app, args)
    return result, rec, tokens


async def test_to_leaves_every_hooks_credentials_out_and_says_so(tmp_path: Path) -> None:
    """Without --with-credentials the receiver at --to gets the four requests with no Authorization,
    no X-Api-Key and no client certificate; the token endpoint is not asked for a token; the bearer
    hook's signature goes along. The output's first line says the credentials were left out, and the
    requests it shows carry no credential header either."""
    result, rec, tokens = await run_test_send(tmp_path)

    assert result.exit_code == 0, result.output
    got = {r.headers["X-Hook"]: r.headers for r in rec.requests}
    assert sorted(got) == ["bearer", "keyed", "mtls", "oauth"]
    for headers in got.values():
        assert "Authorization" not in headers and "X-Api-Key" not in headers
    assert rec.client_subjects == [None] * 4
    assert tokens.fetches == []
    assert got["bearer"]["webhook-signature"].startswith("v1,")
    assert result.stdout.splitlines()[0] == CREDENTIALS_LEFT_OUT
    assert "Authorization:" not in result.stdout and "X-Api-Key:" not in result.stdout
    assert TOKEN not in result.output and KEY not in result.output


async def test_with_credentials_sends_them_to_the_to_url(tmp_path: Path) -> None:
    """--with-credentials: the receiver at --to gets the bearer token, a token fetched from the token
    endpoint, the client certificate and the configured key, and the output has no left-out line."""
    result, rec, tokens = await run_test_send(tmp_path, "--with-credentials")

    assert result.exit_code == 0, result.output
    got = {r.headers["X-Hook"]: r.headers for r in rec.requests}
    assert got["bearer"]["Authorization"] == f"Bearer {TOKEN}"
    assert got["oauth"]["Authorization"] == f"Bearer {tokens.issued[0]}"
    assert got["keyed"]["X-Api-Key"] == KEY
    subjects = dict(zip((r.headers["X-Hook"] for r in rec.requests), rec.client_subjects, strict=True))
    assert subjects["mtls"] is not None and subjects["bearer"] is None
    assert CREDENTIALS_LEFT_OUT not in result.output


def test_with_credentials_needs_to(tmp_path: Path) -> None:
    """--with-credentials alone (each hook's own URL gets its credentials anyway) is a usage error."""
    result = CliRunner().invoke(app, ["test", "--type", "order.created", "--send", "--with-credentials"])
    assert result.exit_code == 2
    assert "--with-credentials only applies with --to" in result.output
