"""`hookd validate` on TLS, require_https and proxies: every TLS file exists, is a regular file and
loads (a CA bundle; a certificate and key that match), reported at the field's file:line without key
material; verify: false warns; require_https at both levels; proxy URLs checked and their passwords
never shown."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.load import CheckResult, check_config
from hookd.errors import Problem
from tests.conftest import write_config
from tests.h20_tls_servers import make_pki

runner = CliRunner()


def check(directory: Path, text: str, **kwargs: object) -> CheckResult:
    return check_config(write_config(directory, text), env={"PROXY_PASSWORD": "pr0xy-s3cret-pw"}, **kwargs)  # type: ignore[arg-type]


def hook(tls: str = "", url: str = "https://receiver.example/in", more: str = "") -> str:
    """A config with one hook `h`; `tls` holds the lines of its tls block."""
    block = "    tls:\n" + "".join(f"      {line}\n" for line in tls.strip().splitlines()) if tls else ""
    return f"version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: {url}\n{block}{more}"


def only(result: CheckResult, severity: str = "error") -> Problem:
    found = [p for p in result.problems if p.severity == severity]
    assert len(found) == 1, [str(p) for p in result.problems]
    return found[0]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- TLS files ----------------------------------------------------------------------------------


def test_a_missing_ca_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    # Named by file:line and field, with the resolved path (relative paths start at the config's
    # directory) and what to give instead.
    text = hook("ca_file: certs/ca.pem")
    problem = only(check(tmp_path, text))
    assert problem.line == line_of(text, "ca_file:")
    assert problem.path == "hooks[0] (name='h').tls.ca_file"
    assert f"{str(tmp_path / 'certs/ca.pem')!r} does not exist" in problem.message
    assert "CA bundle (PEM)" in problem.message


def test_a_ca_file_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    problem = only(check(tmp_path, hook("ca_file: certs")))
    assert problem.path.endswith("tls.ca_file")
    assert "is a directory, not a regular file" in problem.message


def test_a_ca_file_without_a_certificate_is_an_error(tmp_path: Path) -> None:
    # A key given as the CA bundle: it does not load as one, and the key is not quoted.
    pki = make_pki(tmp_path / "pki")
    result = check(tmp_path, hook(f"ca_file: {pki.client_key}"))
    problem = only(result)
    assert problem.path.endswith("tls.ca_file")
    assert "holds no PEM certificate" in problem.message
    assert_no_key_material(str(problem), pki.client_key)


def test_a_valid_ca_file_and_client_pair_pass(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    tls = f"ca_file: {pki.ca_file}\nclient_cert: {pki.client_cert}\nclient_key: {pki.client_key}"
    result = check(tmp_path, hook(tls))
    assert result.problems == () and result.settings is not None
    loaded = result.settings.hooks[0].tls
    assert (loaded.ca_file, loaded.client_cert, loaded.client_key, loaded.verify) == (
        pki.ca_file, pki.client_cert, pki.client_key, True
    )  # fmt: skip


def test_a_certificate_file_without_its_key_is_an_error(tmp_path: Path) -> None:
    # client_cert alone must hold the key too.
    pki = make_pki(tmp_path / "pki")
    text = hook(f"client_cert: {pki.client_cert}")
    problem = only(check(tmp_path, text))
    assert problem.path.endswith("tls.client_cert") and problem.line == line_of(text, "client_cert:")
    assert "holds no private key" in problem.message and "client_key" in problem.message


def test_a_key_of_another_certificate_is_an_error_without_key_material(tmp_path: Path) -> None:
    # The mismatch is found (public keys compared), reported at client_key, and neither key's
    # contents appear in the message or in the CLI's output.
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    text = hook(f"client_cert: {pki.client_cert}\nclient_key: {other.client_key}")
    problem = only(check(tmp_path, text))
    assert problem.path.endswith("tls.client_key") and problem.line == line_of(text, "client_key:")
    assert "does not belong to the certificate" in problem.message
    out = runner.invoke(app, ["validate", str(tmp_path / "hookd.yaml")])
    assert out.exit_code == 1
    assert "does not belong" in out.output.replace("\n", " ")
    assert_no_key_material(out.output, other.client_key)
    assert_no_key_material(out.output, pki.client_key)


def test_an_encrypted_key_is_an_error_and_nothing_asks_for_a_passphrase(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.BestAvailableEncryption(b"passphrase"))
    )  # fmt: skip
    problem = only(check(tmp_path, hook(f"client_cert: {pki.client_cert}\nclient_key: {encrypted}")))
    assert problem.path.endswith("tls.client_key")
    assert "is encrypted" in problem.message and "cannot ask for a passphrase" in problem.message


def test_a_key_file_that_holds_no_key_is_an_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    problem = only(check(tmp_path, hook(f"client_cert: {pki.client_cert}\nclient_key: {pki.ca_file}")))
    assert problem.path.endswith("tls.client_key") and "holds no PEM private key" in problem.message


def test_client_key_without_client_cert_is_an_error(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    problem = only(check(tmp_path, hook(f"client_key: {pki.client_key}")))
    assert problem.path.endswith("tls.client_key") and "needs client_cert" in problem.message


def test_an_expired_client_certificate_is_a_warning(tmp_path: Path) -> None:
    # It loads, so the config is valid; the handshake would fail, so validate says so.
    pki = make_pki(tmp_path / "pki")
    past = datetime.datetime(2020, 1, 2, tzinfo=datetime.UTC)
    expired = pki.ca.issue_cert("old.example", not_before=past - datetime.timedelta(days=1), not_after=past)
    path = tmp_path / "old.pem"
    expired.private_key_and_cert_chain_pem.write_to_path(str(path))
    result = check(tmp_path, hook(f"client_cert: {path}"))
    warning = only(result, "warning")
    assert result.errors == ()
    assert warning.path.endswith("tls.client_cert") and "expired on 2020-01-02" in warning.message


def test_missing_tls_files_are_not_checked_without_the_environment(tmp_path: Path) -> None:
    # validate --no-environment (CI without the deployment's files): TLS files are the deployment's,
    # like secret files, so a missing one is not an error there; one that is present is still checked.
    pki = make_pki(tmp_path / "pki")
    assert check(tmp_path, hook("ca_file: /etc/hookd/no-such-ca.pem"), check_environment=False).problems == ()
    bad = check(tmp_path, hook(f"ca_file: {pki.client_key}"), check_environment=False)
    assert "holds no PEM certificate" in only(bad).message


# --- verify: false --------------------------------------------------------------------------------


def test_verify_false_is_allowed_with_a_warning(tmp_path: Path) -> None:
    # Valid (exit 0), but validate warns at tls.verify, and --strict makes that a failure.
    text = hook("verify: false")
    result = check(tmp_path, text)
    warning = only(result, "warning")
    assert result.settings is not None and result.settings.hooks[0].tls.verify is False
    assert warning.path == "hooks[0] (name='h').tls.verify" and warning.line == line_of(text, "verify:")
    assert "certificate verification is off" in warning.message
    out = runner.invoke(app, ["validate", str(tmp_path / "hookd.yaml")])
    assert out.exit_code == 0 and "certificate verification is off" in out.output.replace("\n", " ")
    assert runner.invoke(app, ["validate", "--strict", str(tmp_path / "hookd.yaml")]).exit_code == 1


# --- require_https ------------------------------------------------------------------------------


def test_delivery_require_https_makes_an_http_url_an_error_naming_hook_and_key(tmp_path: Path) -> None:
    text = hook(url="http://receiver.example/in") + "delivery:\n  require_https: true\n"
    problem = only(check(tmp_path, text))
    assert problem.path == "hooks[0] (name='h').url" and problem.line == line_of(text, "url:")
    assert "hook 'h' sends over plain http://" in problem.message
    assert "delivery.require_https is true" in problem.message


def test_a_hooks_require_https_wins_over_deliverys(tmp_path: Path) -> None:
    # The hook's own setting decides, either way; https:// URLs pass.
    allowed = hook(url="http://receiver.example/in", more="    require_https: false\n")
    assert check(tmp_path, allowed + "delivery:\n  require_https: true\n").problems == ()
    required = check(tmp_path, hook(url="http://receiver.example/in", more="    require_https: true\n"))
    assert "its own require_https is true" in only(required).message
    assert check(tmp_path, hook(more="    require_https: true\n") + "delivery:\n  require_https: true\n").problems == ()
    assert check(tmp_path, hook(url="http://receiver.example/in")).problems == ()


# --- proxies ------------------------------------------------------------------------------------


def test_proxy_urls_are_checked(tmp_path: Path) -> None:
    for proxy, expected in [
        ("https://proxy.corp:3128", "is not http://"),
        ("socks5://proxy.corp:1080", "is not http://"),
        ("http://proxy.corp:3128/path", "has a path"),
        ("http://:3128", "has no host"),
        ("http://proxy.corp:port", "is not valid"),
    ]:
        result = check(tmp_path, hook() + f"delivery:\n  proxy: '{proxy}'\n")
        problem = only(result)
        assert problem.path == "delivery.proxy" and expected in problem.message, (proxy, problem)
    per_hook = check(tmp_path, hook(more="    proxy: https://proxy.corp:3128\n"))
    assert only(per_hook).path == "hooks[0] (name='h').proxy"
    opt_out = check(tmp_path, hook(more="    proxy: false\n") + "delivery:\n  proxy: http://proxy.corp:3128\n")
    assert opt_out.problems == () and opt_out.settings is not None
    assert opt_out.settings.hooks[0].proxy is None and not opt_out.settings.hooks[0].trust_env


def test_a_literal_proxy_password_warns_and_is_never_shown(tmp_path: Path) -> None:
    # Written in the file: a warning at the proxy, and the password appears in no output.
    text = hook() + "delivery:\n  proxy: http://hookd:literal-pr0xy-pw@proxy.corp:3128/x\n"
    write_config(tmp_path, text)
    result = check(tmp_path, text)
    assert [p.severity for p in result.problems] == ["error", "warning"]
    assert "the proxy password is written in the config file" in result.problems[1].message
    for form in ("text", "json", "github"):
        out = runner.invoke(app, ["validate", "--format", form, str(tmp_path / "hookd.yaml")])
        assert "has a path" in out.output.replace("\n", " ")
        assert "literal-pr0xy-pw" not in out.output.replace("\n", "")


def test_a_proxy_password_from_the_environment_does_not_warn(tmp_path: Path) -> None:
    result = check(tmp_path, hook() + "delivery:\n  proxy: http://hookd:${PROXY_PASSWORD}@proxy.corp:3128\n")
    assert result.problems == () and result.settings is not None
    assert result.settings.hooks[0].proxy == "http://hookd:pr0xy-s3cret-pw@proxy.corp:3128"
    assert ("pr0xy-s3cret-pw", "${PROXY_PASSWORD}") in result.settings.secrets


def test_a_substituted_password_that_breaks_the_url_is_an_error_without_the_password(tmp_path: Path) -> None:
    # A password with @ or / must be percent-encoded in its variable; the message names the variable's
    # place, not its value.
    path = write_config(tmp_path, hook() + "delivery:\n  proxy: http://hookd:${PROXY_PASSWORD}@proxy.corp:3128\n")
    result = check_config(path, env={"PROXY_PASSWORD": "pa/ss@word-9"})
    problem = only(result)
    assert problem.path == "delivery.proxy" and "percent-encode it in the variable" in problem.message
    assert "pa/ss@word-9" not in str(problem) and "ss@word" not in str(problem)
    encoded = check_config(path, env={"PROXY_PASSWORD": "pa%2Fss%40word-9"})
    assert encoded.problems == () and encoded.settings is not None
    # Both spellings are secrets: the one in the URL and the one sent.
    assert {"pa%2Fss%40word-9", "pa/ss@word-9"} <= {value for value, _ in encoded.settings.secrets}


def test_trust_env_beside_delivery_proxy_warns(tmp_path: Path) -> None:
    result = check(tmp_path, hook() + "delivery:\n  proxy: http://proxy.corp:3128\n  trust_env: true\n")
    warning = only(result, "warning")
    assert warning.path == "delivery.trust_env" and "no effect" in warning.message


def test_proxy_and_trust_env_resolve_per_hook(tmp_path: Path) -> None:
    # The hook's proxy wins over delivery's; trust_env applies to hooks with no proxy of their own.
    text = (
        "version: 1\nhooks:\n"
        "  - {name: a, events: ['*'], url: 'https://a.example/'}\n"
        "  - {name: b, events: ['*'], url: 'https://b.example/', proxy: 'http://b-proxy:3128'}\n"
        "  - {name: c, events: ['*'], url: 'https://c.example/', proxy: false}\n"
        "delivery:\n  trust_env: true\n"
    )
    result = check(tmp_path, text)
    assert result.settings is not None, result.problems
    assert [(h.proxy, h.trust_env) for h in result.settings.hooks] == [
        (None, True), ("http://b-proxy:3128", False), (None, False)
    ]  # fmt: skip
    text = text.replace("trust_env: true", "proxy: http://shared:3128")
    result = check(tmp_path, text)
    assert result.settings is not None
    assert [h.proxy for h in result.settings.hooks] == ["http://shared:3128", "http://b-proxy:3128", None]


def assert_no_key_material(output: str, key_file: Path) -> None:
    """No line of a PEM key's base64 body appears in `output` (newlines removed, in case of wrapping)."""
    flat = output.replace("\n", "")
    for line in key_file.read_text().splitlines():
        if line and not line.startswith("-----"):
            assert line not in flat


def test_validate_json_reports_tls_problems_with_lines(tmp_path: Path) -> None:
    # The JSON form a CI job reads carries the same file, line and field.
    text = hook("ca_file: missing.pem")
    write_config(tmp_path, text)
    out = runner.invoke(app, ["validate", "--format", "json", str(tmp_path / "hookd.yaml")])
    problems = json.loads(out.output)["files"][0]["problems"]
    assert [(p["line"], p["path"], p["severity"]) for p in problems] == [
        (line_of(text, "ca_file:"), "hooks[0] (name='h').tls.ca_file", "error")
    ]
