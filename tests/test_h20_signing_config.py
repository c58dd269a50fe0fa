"""A hook's `signing:` in the config: what loads into the model, and every mistake `hookd validate`
reports at its file:line, naming the field and never quoting a secret or key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from typer.testing import CliRunner

import hookd.cli.validate  # noqa: F401  (registers the command)
from hookd.cli.app import app
from hookd.config.load import check_config
from hookd.config.model import SigningConfig
from hookd.keys import generate_key_pair, generate_secret
from tests.cli_helpers import plain

HOOK = "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: http://127.0.0.1:9/x\n"
WHSEC = generate_secret()
SHORT = "whsec_c2hvcnQ="  # 5 bytes
# Literal values in the file are secrets too: none may appear in a message.
VALUES = [WHSEC, SHORT, "whsec_abc!defg", "not-a-whsec-secret", "old-github-secret", "hmac-secret-value"]


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(severity, path, message) of each problem in a config of one hook plus `text`, literal-secret
    warnings left out (issue 19's, checked there)."""
    path = tmp_path / "hookd.yaml"
    path.write_text(HOOK + text, encoding="utf-8")
    result = check_config(path, env=env or {})
    found = [(p.severity, p.path, p.message) for p in result.problems if "written in the config" not in p.message]
    for _, _, message in found:
        for value in VALUES:
            assert value not in message
    return found


def pem(key: object, encryption: serialization.KeySerializationEncryption | None = None) -> str:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    ).decode()


# -- what loads --------------------------------------------------------------------------------------


def test_signing_loads_into_the_model(tmp_path: Path) -> None:
    """`secret:` is the one-item form of `secrets:`; hmac's defaults are sha256, hex, no prefix, {body};
    the private key stays the PEM text (the signer loads it in the process that sends)."""
    private_pem, _ = generate_key_pair()
    (tmp_path / "k.pem").write_text(private_pem, encoding="ascii")
    text = (
        "    signing: {type: standard, secrets: ['${A}', '${B}'], private_key: '${file:k.pem}'}\n"
        "  - {name: g, events: ['*'], url: 'http://127.0.0.1:9/g', signing: {type: github, secret: '${A}'}}\n"
        "  - {name: m, events: ['*'], url: 'http://127.0.0.1:9/m', signing: {type: hmac, secret: '${A}', "
        "header: X-Sig}}\n"
        "  - {name: n, events: ['*'], url: 'http://127.0.0.1:9/n', signing: {type: hmac, secret: '${A}', "
        "header: X-Sig, algorithm: sha1, encoding: base64, prefix: 'p=', content: '{id}.{body}', "
        "timestamp_header: X-Ts}}\n"
    )
    (tmp_path / "hookd.yaml").write_text(HOOK + text, encoding="utf-8")
    second = generate_secret()
    result = check_config(tmp_path / "hookd.yaml", env={"A": WHSEC, "B": second})
    assert result.settings is not None, result.problems
    h, g, m, n = (hook.signing for hook in result.settings.hooks)
    assert h == SigningConfig(type="standard", secrets=(WHSEC, second), private_key=private_pem.rstrip("\n"))
    assert g == SigningConfig(type="github", secrets=(WHSEC,))
    assert m == SigningConfig(
        type="hmac", secrets=(WHSEC,), header="X-Sig", algorithm="sha256", encoding="hex", prefix="", content="{body}"
    )
    assert n == SigningConfig(
        type="hmac", secrets=(WHSEC,), header="X-Sig", algorithm="sha1", encoding="base64", prefix="p=",
        content="{id}.{body}", timestamp_header="X-Ts",
    )  # fmt: skip
    assert WHSEC not in repr(result.settings) and "PRIVATE" not in repr(result.settings)


# -- every validate error and warning -----------------------------------------------------------


SIGNING = "hooks[0] (name='h').signing"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # both forms
            f"    signing: {{type: github, secret: {VALUES[4]}, secrets: [{VALUES[4]}]}}\n",
            [("error", f"{SIGNING}.secret", "give secrets (a list, newest first) or secret (one), not both")],
        ),
        (  # neither, for each type
            "    signing: {type: github}\n",
            [("error", SIGNING, "github signing needs a secret: like secret: ${WEBHOOK_SECRET}")],
        ),
        (
            "    signing: {type: hmac, header: X-Sig}\n",
            [("error", SIGNING, "hmac signing needs a secret")],
        ),
        (
            "    signing: {type: standard}\n",
            [("error", SIGNING, "standard signing needs secrets (or secret), private_key, or both")],
        ),
        (  # standard secrets must be whsec_ + base64
            f"    signing: {{type: standard, secrets: [{WHSEC}, {VALUES[3]}]}}\n",
            [("error", f"{SIGNING}.secrets[1]", "the secret does not start with whsec_")],
        ),
        (
            f"    signing: {{type: standard, secret: '{VALUES[2]}'}}\n",
            [("error", f"{SIGNING}.secret", "the secret is not whsec_ followed by base64")],
        ),
        (
            "    signing: {type: standard, secret: whsec_}\n",
            [("error", f"{SIGNING}.secret", "the secret has nothing after whsec_")],
        ),
        (
            f"    signing: {{type: standard, secret: '{SHORT}'}}\n",
            [
                (
                    "warning",
                    f"{SIGNING}.secret",
                    "the secret decodes to 5 bytes; Standard Webhooks secrets are at least 24",
                )
            ],
        ),
        (  # one signature per request: the older secrets are not used
            f"    signing: {{type: github, secrets: [{WHSEC}, {VALUES[4]}]}}\n",
            [
                (
                    "warning",
                    f"{SIGNING}.secrets[1]",
                    "X-Hub-Signature-256 holds one signature, so only the first (newest)",
                )
            ],
        ),
        (
            f"    signing: {{type: hmac, header: X-Sig, secrets: [{VALUES[5]}, {VALUES[4]}, {WHSEC}]}}\n",
            [
                (
                    "warning",
                    f"{SIGNING}.secrets[1]",
                    "X-Sig holds one signature, so only the first (newest) secret signs",
                )
            ],
        ),
        (  # hmac options
            f"    signing: {{type: hmac, secret: {VALUES[5]}}}\n",
            [("error", SIGNING, "missing required key 'header'")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, content: '{{timstamp}}.{{body}}'}}\n",
            [
                (
                    "error",
                    f"{SIGNING}.content",
                    "content has an unknown field {timstamp}; did you mean 'timestamp'? "
                    "(content may use {id}, {timestamp} and {body}; {{ and }} write a literal brace)",
                )
            ],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, content: '{{0}}{{body}}'}}\n",
            [("error", f"{SIGNING}.content", "content has an unknown field {0} (content may use")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, content: '{{id}}.{{timestamp}}'}}\n",
            [("error", f"{SIGNING}.content", "content does not include {body}: a signature that does not cover")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, content: '{{body}}}}x'}}\n",
            [("error", f"{SIGNING}.content", "content is not a valid format string (Single '}' encountered")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, content: '{{body!r}}'}}\n",
            [("error", f"{SIGNING}.content", "content writes {body} with a conversion or format spec")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, algorithm: md5, encoding: b64}}\n",
            [
                ("error", f"{SIGNING}.algorithm", "'md5' is not one of: sha1, sha256, sha512"),
                ("error", f"{SIGNING}.encoding", "'b64' is not one of: hex, base64"),
            ],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: 'X Sig'}}\n",
            [("error", f"{SIGNING}.header", "'X Sig' is not a valid HTTP header name")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: webhook-id}}\n",
            [("error", f"{SIGNING}.header", "webhook-id is a header hookd sets itself; name another header")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, timestamp_header: Content-Length}}\n",
            [("error", f"{SIGNING}.timestamp_header", "Content-Length is set by the HTTP client")],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, timestamp_header: x-sig}}\n",
            [("error", f"{SIGNING}.timestamp_header", "x-sig is already the signature header")],
        ),
        (  # a configured header the signing sets
            f"    signing: {{type: standard, secret: {WHSEC}}}\n    headers: {{Webhook-Signature: 'v1,x'}}\n",
            [
                (
                    "error",
                    "hooks[0] (name='h').headers.Webhook-Signature",
                    "Webhook-Signature is set by this hook's "
                    "signing (signing.type standard) on every request, so this value would never be sent",
                )
            ],
        ),
        (
            f"    signing: {{type: hmac, secret: {VALUES[5]}, header: X-Sig, timestamp_header: X-Ts}}\n"
            "    headers: {X-TS: '1'}\n",
            [
                (
                    "error",
                    "hooks[0] (name='h').headers.X-TS",
                    "X-TS is set by this hook's signing (signing.timestamp_header)",
                )
            ],
        ),
        (  # keys of another type
            f"    signing: {{type: github, secret: {VALUES[4]}, private_key: x, header: X}}\n",
            [
                ("error", f"{SIGNING}.private_key", "unknown key 'private_key' (allowed here: secret, secrets, type)"),
                ("error", f"{SIGNING}.header", "unknown key 'header' (allowed here: secret, secrets, type)"),
            ],
        ),
        (
            f"    signing: {{type: standrd, secret: {WHSEC}}}\n",
            [("error", f"{SIGNING}.type", "'standrd' is not one of: standard, github, hmac; did you mean 'standard'?")],
        ),
    ],
)
def test_validate_reports_each_signing_mistake(tmp_path: Path, text: str, expected: list[tuple[str, str, str]]) -> None:
    """Each mistake gives exactly the expected problems, at the field they are about, with no value quoted."""
    found = problems(tmp_path, text)
    assert len(found) == len(expected), found
    for (severity, path, message), (want_severity, want_path, want_message) in zip(found, expected, strict=True):
        assert (severity, path) == (want_severity, want_path), found
        assert message.startswith(want_message), message


def test_a_good_signing_block_has_no_problem(tmp_path: Path) -> None:
    """The issue's examples, with their secrets from the environment and a file, validate clean."""
    private_pem, _ = generate_key_pair()
    (tmp_path / "ed25519.pem").write_text(private_pem, encoding="ascii")
    text = (
        "    signing: {type: standard, secrets: ['${WHSEC_NEW}', '${WHSEC_OLD}'], private_key: '${file:ed25519.pem}'}\n"
        "  - {name: g, events: ['*'], url: 'http://127.0.0.1:9/g', signing: {type: github, secret: '${GH}'}}\n"
        "  - name: m\n    events: ['*']\n    url: http://127.0.0.1:9/m\n"
        "    signing: {type: hmac, secret: '${S}', header: X-Signature, algorithm: sha256, encoding: hex,\n"
        "              prefix: 'sha256=', content: '{timestamp}.{body}', timestamp_header: X-Timestamp}\n"
    )
    env = {"WHSEC_NEW": WHSEC, "WHSEC_OLD": generate_secret(), "GH": "gh-secret-0123456789", "S": "s-0123456789abc"}
    assert problems(tmp_path, text, env) == []


# -- the private key ----------------------------------------------------------------------------


def _keys() -> dict[str, tuple[str, str]]:
    ed = ed25519.Ed25519PrivateKey.generate()
    encrypted = pem(ed, serialization.BestAvailableEncryption(b"passphrase"))
    public = (
        ed.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return {
        "rsa": (pem(rsa.generate_private_key(65537, 2048)), "the key is an RSA key, not an Ed25519 key"),
        "ec": (
            pem(ec.generate_private_key(ec.SECP256R1())),
            "the key is an elliptic-curve (ECDSA) key, not an Ed25519",
        ),
        "encrypted": (encrypted, "the key is encrypted; hookd reads it unencrypted"),
        "public": (public, "the value is a public key; private_key takes the private key"),
        "garbage": ("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "the value is not a PEM"),
        "whsec": (WHSEC, "the value is not a PEM private key"),
    }


@pytest.mark.parametrize("kind", ["rsa", "ec", "encrypted", "public", "garbage", "whsec"])
def test_a_private_key_that_is_not_ed25519_is_an_error_naming_the_field(tmp_path: Path, kind: str) -> None:
    """A private_key file holding another kind of key, an encrypted one, a public key or no key at all:
    one error at signing.private_key (file:line from `hookd validate`) saying what it is, quoting
    no line of the file."""
    text, says = _keys()[kind]
    (tmp_path / "key.pem").write_text(text, encoding="ascii")
    config = tmp_path / "hookd.yaml"
    config.write_text(HOOK + "    signing: {type: standard, private_key: '${file:key.pem}'}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(config)])
    out = plain(result.output)
    assert result.exit_code == 1, out
    assert f"{config}:6:44: error: {SIGNING}.private_key: {says}" in out
    for line in text.splitlines():
        if "-----" not in line:
            assert line not in out


def test_validate_names_the_reference_not_the_value_of_a_bad_secret(tmp_path: Path) -> None:
    """A bad standard secret from ${VAR}: the message points at the field; the value is not in it."""
    found = problems(tmp_path, "    signing: {type: standard, secret: '${WHSEC}'}\n", {"WHSEC": "not-a-whsec-secret"})
    assert found == [
        (
            "error",
            f"{SIGNING}.secret",
            "the secret does not start with whsec_; a Standard Webhooks secret is whsec_ followed by base64, as "
            "`hookd secret generate` prints it",
        )
    ]
