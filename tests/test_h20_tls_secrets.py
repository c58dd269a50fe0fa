"""Secret hygiene: `hookd validate` warns on secrets written literally (credential headers, signing
and auth secrets) and on ${...} values too short to be hidden where they are used as secrets
(signing, auth, a proxy password); a literal credential joins the redaction set, so a receiver that
echoes it back does not get it shown."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

import hookd.cli.test_cmd  # noqa: F401 - registers the command
from hookd.cli.app import app
from hookd.config.load import CheckResult, check_config
from tests.conftest import Receiver, Reply, write_config


def check(directory: Path, text: str, env: dict[str, str] | None = None) -> CheckResult:
    return check_config(write_config(directory, text), env=env or {})


def warnings(result: CheckResult, fragment: str) -> list[str]:
    return [p.path for p in result.problems if p.severity == "warning" and fragment in p.message]


def test_credential_headers_written_literally_warn(tmp_path: Path) -> None:
    # Authorization and *-Key / *-Token headers with a literal value each warn at their line; the same
    # headers from ${...}, a template (the event's value), or another header do not.
    text = """
    version: 1
    hooks:
      - name: h
        events: ['*']
        url: https://receiver.example/in
        headers:
          Authorization: Bearer literal-token-abc123
          X-API-Key: literal-key-123456
          X-Auth-Token: literal-token-987654
          X-Tenant-Key: ${TENANT_KEY}
          X-Event-Token: "{{ data.token }}"
          X-Trace: plain-value-123456
    """
    result = check(tmp_path, text, {"TENANT_KEY": "tenant-key-from-env"})
    found = warnings(result, "a secret written in the config file")
    assert found == [
        "hooks[0] (name='h').headers.Authorization",
        "hooks[0] (name='h').headers.X-API-Key",
        "hooks[0] (name='h').headers.X-Auth-Token",
    ]
    assert result.settings is not None
    secrets = {value for value, _ in result.settings.secrets}
    assert {"Bearer literal-token-abc123", "literal-key-123456", "literal-token-987654"} <= secrets
    assert "plain-value-123456" not in secrets


def test_signing_and_auth_secrets_written_literally_warn(tmp_path: Path) -> None:
    # The keys config.secret_fields names in signing: and auth: blocks (whatever else is said about
    # the blocks themselves).
    text = """
    version: 1
    hooks:
      - name: h
        events: ['*']
        url: https://receiver.example/in
        signing: {type: github, secret: literal-signing-secret}
        auth: {type: basic, username: shop, password: literal-password-1}
    """
    found = warnings(check(tmp_path, text), "a secret written in the config file")
    assert found == ["hooks[0] (name='h').signing.secret", "hooks[0] (name='h').auth.password"]


def test_short_secrets_from_the_environment_warn_where_they_are_used_as_secrets(tmp_path: Path) -> None:
    # A value under 8 characters is not hidden by value; validate says so for a signing secret, an
    # auth password and a proxy password, not for a setting like the proxy's user name.
    text = """
    version: 1
    delivery:
      proxy: http://${PROXY_USER}:${PROXY_PASSWORD}@proxy.corp:3128
    hooks:
      - name: h
        events: ['*']
        url: https://receiver.example/in
        signing: {type: github, secret: "${S}"}
        auth: {type: basic, username: "${USER_NAME}", password: "${P}"}
    """
    env = {"PROXY_USER": "hk", "PROXY_PASSWORD": "pw1", "S": "sec", "USER_NAME": "shop", "P": "pass"}
    found = warnings(check(tmp_path, text, env), "character(s) long")
    assert found == ["delivery.proxy", "hooks[0] (name='h').signing.secret", "hooks[0] (name='h').auth.password"]


async def test_a_literal_credential_echoed_by_the_receiver_is_not_shown(tmp_path: Path, receiver: Receiver) -> None:
    # `hookd test --send`: the receiver answers with the X-API-Key value it got; the answer is shown
    # with the value hidden, because a literal credential header is a secret like one from ${...}.
    receiver.on("/in", Reply(body=b'{"echo": "literal-key-123456"}'))
    config = write_config(
        tmp_path,
        f"""
        version: 1
        hooks:
          - name: h
            events: ['*']
            url: {receiver.url("/in")}
            headers: {{X-API-Key: literal-key-123456}}
        """,
    )
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["test", "-c", str(config), "--type", "order.created", "--send", "--json"]
    )
    assert receiver.requests[0].headers["X-API-Key"] == "literal-key-123456"
    assert "literal-key-123456" not in result.output
    assert "***" in json.dumps(json.loads(result.output))
