"""Config mistakes a new user made in a walkthrough: each is one clear sentence from `hookd validate`
(and so from `serve` and `test`), at the field at fault, never a traceback and never a request that
is bound to fail at every delivery."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from typer.testing import CliRunner, Result

# The commands register themselves when their modules are imported.
import hookd.cli.serve
import hookd.cli.test_cmd
import hookd.cli.validate
from hookd.auth.keys import weak_key
from hookd.cli.app import app
from hookd.config.load import check_config
from hookd.keys import generate_key_pair
from tests.cli_helpers import plain

TOKEN = "bearer-token-0123456789abcdef"
PASSWORD = "url-password-0123456789"


def hookd(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def rsa_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def write_hook(directory: Path, lines: str, delivery: str = "") -> Path:
    """A config of one hook `h` whose extra keys are `lines` (indented as hook keys)."""
    path = directory / "hookd.yaml"
    path.write_text(
        f"version: 1\n{delivery}hooks:\n  - name: h\n    events: [x]\n{lines}",
        encoding="utf-8",
    )
    return path


def messages(path: Path, env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    result = check_config(path, env=env or {})
    return [(p.severity, p.path, p.message) for p in result.problems]


# -- 1. an unknown jwt algorithm ----------------------------------------------------------------

UNKNOWN_ALGORITHMS = [
    ("rs256", "private_key: '${file:rsa.pem}'", "did you mean 'RS256'?"),
    ("PS256", "private_key: '${file:rsa.pem}'", "did you mean 'RS256'?"),
    ("hs256", "secret: '${T}'", "did you mean 'HS256'?"),
]


@pytest.mark.parametrize(("algorithm", "key", "hint"), UNKNOWN_ALGORITHMS)
def test_an_unknown_jwt_algorithm_is_only_the_schemas_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str, key: str, hint: str
) -> None:
    """`algorithm: rs256` (or PS256, or hs256) with a key: `validate` prints one error, the schema's
    "not one of ...; did you mean" at auth.algorithm, and no traceback; no key check runs while the
    algorithm is unknown (hs256 with a secret is not told it "signs with a private key").
    `--format json` prints that as JSON; `serve` exits 3 and `test` 1, both with the same error."""
    (tmp_path / "rsa.pem").write_text(rsa_pem(), encoding="ascii")
    monkeypatch.setenv("T", TOKEN)
    path = write_hook(
        tmp_path, f"    url: https://crm.example/h\n    auth: {{type: jwt, algorithm: {algorithm}, {key}}}\n"
    )
    expected = f"hooks[0] (name='h').auth.algorithm: {algorithm!r} is not one of: HS256, HS384, HS512, RS256, " \
               f"ES256, EdDSA; {hint}"  # fmt: skip

    text = hookd("validate", str(path))
    out = plain(text.output)
    assert text.exit_code == 1, out
    assert text.exception is None or isinstance(text.exception, SystemExit), out
    assert f"{path}:6:" in out and expected in out
    assert "1 error(s)" in out and "Traceback" not in out and "signs with" not in out

    as_json = hookd("validate", "--format", "json", str(path))
    assert as_json.exit_code == 1
    [problem] = json.loads(as_json.stdout)["files"][0]["problems"]
    assert f"{problem['path']}: {problem['message']}" == expected

    for command, code in ((["serve", "-c", str(path)], 3), (["test", "-c", str(path), "--type", "x"], 1)):
        result = hookd(*command)
        assert result.exit_code == code, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert expected in plain(result.output)


# -- 2. credentials in the url beside an Authorization -------------------------------------------


@pytest.mark.parametrize(
    ("url", "extra", "sender"),
    [
        ("https://user:${P}@crm.example/q", "    auth: {type: bearer, token: '${T}'}\n",
         "auth (type bearer) sends the Authorization header"),
        ("http://user:${P}@crm.example/q", "    auth: {type: basic, username: u, password: '${T}'}\n",
         "auth (type basic) sends the Authorization header"),
        ("https://user@crm.example/{{ data.id }}", "    headers: {Authorization: '${T}'}\n",
         "headers set Authorization"),
    ],
)  # fmt: skip
def test_url_credentials_beside_an_authorization_are_a_validate_error(
    tmp_path: Path, url: str, extra: str, sender: str
) -> None:
    """A url with user:password@ (sent as Basic by the HTTP client, which then refuses any request
    that has an Authorization of its own) beside an auth or an Authorization header: an error at the
    url saying both send Authorization and how to fix it, never quoting the password."""
    path = write_hook(tmp_path, f"    url: '{url}'\n{extra}")
    problems = messages(path, {"T": TOKEN, "P": PASSWORD})
    assert [(s, p) for s, p, _ in problems] == [("error", "hooks[0] (name='h').url")]
    message = problems[0][2]
    assert message == (
        f"the url holds credentials (user:password@ before the host), which are sent as Authorization: Basic, and "
        f"{sender} too, so no request could be sent; remove user:password@ from the url (for HTTP Basic "
        "credentials, use auth: {type: basic, username: ..., password: ...})"
    )
    assert PASSWORD not in message


def test_url_credentials_without_another_authorization_are_fine(tmp_path: Path) -> None:
    """user:password@ with an api_key in its own header, or with no auth at all: nothing to collide
    with, so no error."""
    path = write_hook(tmp_path, "    url: 'https://user:${P}@crm.example/q'\n"
                                "    auth: {type: api_key, header: X-Key, value: '${T}'}\n")  # fmt: skip
    assert messages(path, {"T": TOKEN, "P": PASSWORD}) == []


# -- 3. require_https and an oauth2 token_url ----------------------------------------------------

OAUTH2 = "    auth: {{type: oauth2, token_url: '{}', client_id: c, client_secret: '${{T}}'}}\n"


@pytest.mark.parametrize(
    ("delivery", "own", "token_url"),
    [
        ("delivery: {require_https: true}\n", "", "http://idp.example/token"),
        ("", "    require_https: true\n", "http://idp.example/token"),
        ("delivery: {require_https: true}\n", "", "http://127.0.0.1:8080/token"),
    ],
)
def test_an_http_token_url_is_an_error_under_require_https(
    tmp_path: Path, delivery: str, own: str, token_url: str
) -> None:
    """With delivery.require_https or the hook's own, an http:// token_url (the client secret travels
    over it) is an error at auth.token_url, naming the setting, loopback included (as for the url)."""
    path = write_hook(tmp_path, f"    url: https://crm.example/h\n{own}{OAUTH2.format(token_url)}", delivery)
    problems = messages(path, {"T": TOKEN})
    assert [(s, p) for s, p, _ in problems] == [("error", "hooks[0] (name='h').auth.token_url")]
    where = "its own require_https" if own else "delivery.require_https"
    assert problems[0][2].startswith(f"this hook's token_url is http://, but {where} is true: the client secret")
    assert "set require_https: false on this hook" in problems[0][2]


def test_an_http_token_url_without_require_https_stays_a_warning(tmp_path: Path) -> None:
    """Without require_https (or with the hook's require_https: false), an http:// token_url is the
    warning it was, and none for loopback."""
    path = write_hook(tmp_path, f"    url: http://crm.example/h\n    require_https: false\n"
                                f"{OAUTH2.format('http://idp.example/token')}",
                      "delivery: {require_https: true}\n")  # fmt: skip
    assert [(s, p) for s, p, _ in messages(path, {"T": TOKEN})] == [("warning", "hooks[0] (name='h').auth.token_url")]
    path = write_hook(tmp_path, f"    url: https://crm.example/h\n{OAUTH2.format('http://localhost:8080/t')}")
    assert messages(path, {"T": TOKEN}) == []


# -- 4c. short JWT keys, in hookd's words ---------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_the_short_hmac_secret_threshold_is_pyjwts(algorithm: str) -> None:
    """hookd's own sentence for a short secret appears exactly when PyJWT would warn, one byte short
    of its threshold and not at it."""
    signer = jwt.get_algorithm_by_name(algorithm)
    for size in range(1, 70):
        secret = "s" * size
        pyjwt_warns = signer.check_key_length(signer.prepare_key(secret.encode())) is not None
        ours = weak_key(algorithm, secret)
        assert (ours is not None) == pyjwt_warns, size
        if ours is not None:
            assert ours.startswith(f"secret is {size} bytes long, but an {algorithm} secret should have at least")


# -- 4d. a whpk_ public key as signing.private_key ----------------------------------------------


def test_a_whpk_public_key_as_signing_private_key_is_told_as_the_public_key(tmp_path: Path) -> None:
    """The whpk_... line `hookd secret generate --type ed25519` prints, given as signing.private_key:
    the error says it is the public key (for receivers) and to give the PEM file written with --out."""
    _, public = generate_key_pair()
    (tmp_path / "public.txt").write_text(public + "\n", encoding="ascii")
    path = write_hook(tmp_path, "    url: https://crm.example/h\n"
                                "    signing: {type: standard, private_key: '${file:public.txt}'}\n")  # fmt: skip
    assert messages(path) == [(
        "error",
        "hooks[0] (name='h').signing.private_key",
        "the value is a public key (whpk_...), the half receivers verify with; private_key takes the private "
        "key (PEM) made with it: the file `hookd secret generate --type ed25519 --out FILE` wrote, as "
        "private_key: ${file:FILE}",
    )]  # fmt: skip


def test_a_pem_ed25519_key_still_loads_after_the_whpk_check(tmp_path: Path) -> None:
    """The private key itself is accepted (the whpk_ check looks only at the text's start)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    (tmp_path / "ed.pem").write_text(pem, encoding="ascii")
    path = write_hook(tmp_path, "    url: https://crm.example/h\n"
                                "    signing: {type: standard, private_key: '${file:ed.pem}'}\n")  # fmt: skip
    assert messages(path) == []


# -- 4e. proxy: true -----------------------------------------------------------------------------


def test_proxy_true_is_told_in_yaml_spelling_with_what_is_valid(tmp_path: Path) -> None:
    """`proxy: true` on a hook: the error quotes the value as YAML writes it (true, not Python's
    True) and says what proxy takes."""
    path = write_hook(tmp_path, "    url: https://crm.example/h\n    proxy: true\n")
    assert messages(path) == [(
        "error",
        "hooks[0] (name='h').proxy",
        "true is not valid: write an http:// proxy URL, like http://proxy.corp:3128, or false to connect directly",
    )]  # fmt: skip
