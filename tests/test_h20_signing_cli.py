"""`hookd secret generate --type ed25519` (where the private key goes, and that it signs), and
`hookd test` showing the signature headers a receiver gets, redacted, in text and --json; `hookd
test --send` signs for real."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import stat
from pathlib import Path

import standardwebhooks
import svix
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from typer.testing import CliRunner, Result

# The commands register themselves when their modules are imported.
import hookd.cli.secret
import hookd.cli.test_cmd
from hookd.cli.app import app
from tests.cli_helpers import plain
from tests.conftest import Receiver


def hookd(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def pem_body(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and "-----" not in line]


# -- secret generate --type ed25519 -------------------------------------------------------------


def test_ed25519_needs_out_so_the_key_does_not_land_in_the_terminal() -> None:
    """Without --out, no key is made: exit 2, nothing on stdout, and the message says how to ask."""
    result = hookd("secret", "generate", "--type", "ed25519")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--type ed25519 makes a private key: name the file it goes to with --out FILE" in result.stderr


def test_ed25519_writes_the_private_key_0600_and_prints_the_public_key(tmp_path: Path) -> None:
    """--out FILE: FILE is created with mode 0600 holding an unencrypted Ed25519 PEM; stdout is one
    line, the matching public key as whpk_ + base64 of its 32 bytes; no line of the PEM is printed."""
    key_file = tmp_path / "ed25519.pem"
    result = hookd("secret", "generate", "--type", "ed25519", "--out", str(key_file))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    text = key_file.read_text(encoding="ascii")
    key = serialization.load_pem_private_key(text.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert result.stdout == "whpk_" + base64.b64encode(raw).decode() + "\n"
    assert f"private_key: ${{file:{key_file}}}" in result.stderr
    for line in pem_body(text):
        assert line not in result.output


def test_ed25519_never_writes_over_an_existing_file(tmp_path: Path) -> None:
    """An existing --out file (perhaps the key receivers trust now) is left as it is: exit 1, no key made."""
    key_file = tmp_path / "ed25519.pem"
    key_file.write_text("the key in use\n", encoding="ascii")
    result = hookd("secret", "generate", "--type", "ed25519", "--out", str(key_file))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "exists; hookd does not write over a secret or key" in result.stderr
    assert key_file.read_text(encoding="ascii") == "the key in use\n"


def test_ed25519_out_dash_prints_the_private_key_and_the_public_key_on_stderr() -> None:
    """--out - is the explicit way to pipe the key (into a secret store): stdout is the PEM alone, the
    public key is on stderr."""
    result = hookd("secret", "generate", "--type", "ed25519", "--out", "-")
    assert result.exit_code == 0, result.output
    key = serialization.load_pem_private_key(result.stdout.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    [public] = re.findall(r"whpk_\S+", result.stderr)
    raw = base64.b64decode(public.removeprefix("whpk_"))
    assert raw == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_ed25519_refuses_the_options_of_a_standard_secret() -> None:
    """--bytes and --prefix shape a whsec_ secret; with --type ed25519 they are a usage error (exit 2)."""
    result = hookd("secret", "generate", "--type", "ed25519", "--bytes", "48", "--out", "-")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--bytes and --prefix shape a standard secret" in result.stderr


def test_standard_secret_to_a_file_is_0600(tmp_path: Path) -> None:
    """--type standard (the default, printed on stdout as before) can go to --out FILE too: mode 0600, one
    whsec_ line, nothing on stdout."""
    target = tmp_path / "whsec"
    result = hookd("secret", "generate", "--type", "standard", "--out", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    [line] = target.read_text(encoding="ascii").splitlines()
    assert line.startswith("whsec_") and len(base64.b64decode(line.removeprefix("whsec_"))) == 32


# -- generated secrets in a config: hookd test shows, hookd test --send signs ----------------------


def signed_config(tmp_path: Path, url: str) -> tuple[Path, str, str]:
    """A config whose hook signs with a whsec_ secret and an Ed25519 key, both made by `hookd secret
    generate` into files; returns it, the secret and the public key."""
    assert hookd("secret", "generate", "--out", str(tmp_path / "whsec")).exit_code == 0
    made = hookd("secret", "generate", "--type", "ed25519", "--out", str(tmp_path / "ed25519.pem"))
    assert made.exit_code == 0, made.output
    config = tmp_path / "hookd.yaml"
    config.write_text(
        "version: 1\nhooks:\n"
        f"  - name: signed\n    events: ['order.*']\n    url: {url}\n"
        "    signing: {type: standard, secret: '${file:whsec}', private_key: '${file:ed25519.pem}'}\n"
        f"  - name: hmac\n    events: ['order.*']\n    url: {url}\n"
        "    signing: {type: hmac, secret: '${file:whsec}', header: X-Signature, timestamp_header: X-Timestamp,\n"
        "              content: '{timestamp}.{body}'}\n",
        encoding="utf-8",
    )
    secret = (tmp_path / "whsec").read_text(encoding="ascii").strip()
    return config, secret, made.stdout.strip()


def test_hookd_test_shows_the_signature_headers_redacted(tmp_path: Path) -> None:
    """`hookd test` lists each signature header a receiver gets, its value ***, in text and --json; the
    timestamp header (not a secret) shows its value; no secret, key or signature is printed."""
    config, secret, _ = signed_config(tmp_path, "http://127.0.0.1:9/in")
    event = ["test", "-c", str(config), "--type", "order.created", "--data", '{"id": 1}']

    text = hookd(*event)
    assert text.exit_code == 0, text.output
    out = plain(text.output)
    assert out.count("    webhook-signature: ***") == 1
    assert "    X-Signature: ***" in out
    stamp = re.search(r"    webhook-timestamp: (\d+)\n", out)
    assert stamp is not None and f"    X-Timestamp: {stamp.group(1)}" in out

    as_json = hookd(*event, "--json")
    assert as_json.exit_code == 0, as_json.output
    signed, hmac_hook = (h["request"]["headers"] for h in json.loads(as_json.stdout)["events"][0]["hooks"])
    assert signed["webhook-signature"] == "***"
    assert hmac_hook["X-Signature"] == "***"
    assert hmac_hook["X-Timestamp"] == hmac_hook["webhook-timestamp"]

    key_lines = pem_body((tmp_path / "ed25519.pem").read_text(encoding="ascii"))
    for output in (text.output, as_json.output):
        assert secret not in output and secret.removeprefix("whsec_") not in output
        assert "v1," not in output and "v1a," not in output
        assert not any(line in output for line in key_lines)


async def test_generated_keys_sign_a_request_sent_by_hookd_test(tmp_path: Path, receiver: Receiver) -> None:
    """Round trip: keys from `hookd secret generate`, read by the config through ${file:...}, sign what
    `hookd test --send` sends. The receiver accepts it with standardwebhooks and svix and the whsec_
    secret, and with the printed whpk_ public key over {id}.{timestamp}.{body} (v1a)."""
    config, secret, public = signed_config(tmp_path, receiver.url("/in"))
    result = await asyncio.to_thread(
        hookd, "test", "-c", str(config), "--send", "--hook", "signed", "--type", "order.created", "--data", "{}"
    )
    assert result.exit_code == 0, result.output
    [got] = receiver.at("/in")
    standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    svix.Webhook(secret).verify(got.body, got.headers)
    [v1a] = [e.removeprefix("v1a,") for e in got.headers["webhook-signature"].split(" ") if e.startswith("v1a,")]
    content = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_")))
    public_key.verify(base64.b64decode(v1a), content)
