"""What a new user reads besides validate's errors: the ${file:} line `hookd secret generate --out`
suggests (usable from any config directory), the daemon's debug description of each hook's
endpoint profile (no secrets in it), and the README's promises about reloads."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hookd.cli.secret  # noqa: F401 - registers the command
from hookd.cli.app import app
from hookd.logs import LogLine
from tests.conftest import running_daemon, socket_config
from tests.h20_tls_servers import make_pki

ROOT = Path(__file__).resolve().parent.parent
PROXY_PASSWORD = "pr0xy-pa55word-debug"
TOKEN = "bearer-token-for-the-debug-log"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# -- 5. secret generate --out prints an absolute ${file:} ---------------------------------------


@pytest.mark.parametrize("kind", ["standard", "ed25519"])
def test_secret_generate_out_suggests_the_files_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """`--out whsec_new` run in some directory: the file is made there, and stderr suggests
    ${file:<absolute path>}, since a relative ${file:} is read from the config's directory, which
    need not be where the command ran."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["secret", "generate", "--type", kind, "--out", "whsec_new"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "whsec_new").is_file()
    suggested = re.findall(r"\$\{file:([^}]*)\}", result.stderr)
    assert suggested == [str(tmp_path / "whsec_new")], result.stderr
    assert os.path.isabs(suggested[0])


# -- 6. the debug `hook configured` line ----------------------------------------------------------


async def test_the_debug_hook_line_names_signing_auth_tls_and_proxy_without_secrets(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At debug level, `hook configured` says which signing type and auth type a hook uses, its TLS
    settings (ca_file, client certificate, verify) and its proxy with the password redacted; a
    plain hook says it has none. No secret (signing secret, token, proxy password) is in the line."""
    monkeypatch.setenv("PROXY_PASSWORD", PROXY_PASSWORD)
    monkeypatch.setenv("TOKEN", TOKEN)
    monkeypatch.setenv("WHSEC", WHSEC)
    make_pki(short_dir / "pki")
    config = socket_config(
        short_dir,
        """
        hooks:
          - name: full
            events: ["order.*"]
            url: https://crm.example/in
            signing: {type: standard, secret: "${WHSEC}"}
            auth: {type: bearer, token: "${TOKEN}"}
            tls: {ca_file: pki/ca.pem, client_cert: pki/client.pem}
            proxy: "http://hookd:${PROXY_PASSWORD}@proxy.corp:3128"
          - name: plain
            events: ["order.*"]
            url: https://erp.example/in
        """,
    )
    with caplog.at_level(logging.DEBUG, logger="hookd"):
        async with running_daemon(config):
            pass
    lines = {
        str(r.msg.fields["hook"]): r.msg
        for r in caplog.records
        if isinstance(r.msg, LogLine) and r.msg.message == "hook configured"
    }
    full, plain = lines["full"].fields, lines["plain"].fields
    shown = ("signing", "signing_v1a", "auth", "tls_verify", "tls_ca_file", "tls_client_cert", "proxy", "trust_env")
    assert {k: full[k] for k in shown} == {
        "signing": "standard",
        "signing_v1a": False,
        "auth": "bearer",
        "tls_verify": True,
        "tls_ca_file": str(short_dir / "pki" / "ca.pem"),
        "tls_client_cert": str(short_dir / "pki" / "client.pem"),
        "proxy": "http://***@proxy.corp:3128",
        "trust_env": False,
    }
    assert (plain["signing"], plain["auth"], plain["tls_ca_file"], plain["proxy"]) == (None, None, None, None)
    for secret in (PROXY_PASSWORD, TOKEN, WHSEC):
        assert secret not in str(lines["full"]) and secret not in caplog.text


# -- 7. docs: no reload is promised ---------------------------------------------------------------


def test_the_readme_says_a_rotation_takes_effect_at_a_reload() -> None:
    """Secrets are read again at each reload (SIGHUP, hookd reload, serve --watch): the README's and
    the config man page's rotation text say a step takes effect at the next reload, not a restart;
    and the README promises nothing about OAuth2 tokens across reloads."""
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    assert "across reloads" not in readme
    rotation = readme[readme.index("**Rotating** a `standard` secret") :].split("\n\n", 1)[0]
    assert "takes effect at the next reload, without a restart" in rotation
    man = ROOT.joinpath("man", "hookd.yaml.5").read_text(encoding="utf-8")
    assert "each step of a rotation takes effect at the next reload" in man
