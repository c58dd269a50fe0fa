"""Signed requests from a real `hookd serve` (its delivery worker signs), checked the way receivers
check them: Standard Webhooks with the PyPI `standardwebhooks` and `svix` libraries as they are,
across a secret rotation; the asymmetric v1a signature with `cryptography` against the published
specification (neither library verifies v1a: standardwebhooks 1.3 has no asymmetric support, and svix
wraps it); github and the generic hmac scheme by recomputing the HMAC."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
from pathlib import Path

import pytest
import standardwebhooks
import svix
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

# The commands register themselves when their modules are imported.
import hookd.cli.history
import hookd.cli.replay  # noqa: F401
from hookd.cli.app import app
from hookd.keys import generate_key_pair, generate_secret
from tests.conftest import (
    DaemonProcess,
    Received,
    Receiver,
    event_line,
    send_lines,
    socket_config,
    wait_db,
)

NEW, OLD, OTHER = generate_secret(), generate_secret(), generate_secret()
GH_SECRET = "gh-secret-for-tests-0123456789"
HMAC_SECRET = "hmac-secret-for-tests-0123456789"


def whpk_key(public: str) -> Ed25519PublicKey:
    """A receiver's view of hookd's public key: `whpk_` + base64 of the 32 raw bytes."""
    assert public.startswith("whpk_")
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public.removeprefix("whpk_"), validate=True))


def signatures(request: Received, version: str) -> list[bytes]:
    """The `version,<base64>` entries of a webhook-signature header, decoded."""
    entries = [e.split(",", 1) for e in request.headers["webhook-signature"].split(" ")]
    return [base64.b64decode(sig, validate=True) for v, sig in entries if v == version]


def recomputed(secret: str, content: bytes, algorithm: str) -> bytes:
    return hmac.new(secret.encode(), content, algorithm).digest()


async def deliver_one(tmp: Path, receiver: Receiver, hooks: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Start `hookd serve` with `hooks`, send one event (id evt-1), wait until every hook delivered it."""
    for name, value in {"WHSEC_NEW": NEW, "WHSEC_OLD": OLD, "GH_SECRET": GH_SECRET, "S": HMAC_SECRET}.items():
        monkeypatch.setenv(name, value)
    cfg = socket_config(
        tmp,
        f"""
        hooks:
        {hooks}
        """,
    )
    n = hooks.count("- name:")
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await send_lines(tmp / "s.sock", [event_line("order.created", id="evt-1", data={"id": 1, "note": "é"})])
        await wait_db(tmp / "hookd.db", "SELECT state FROM deliveries", lambda rows: rows == [("delivered",)] * n)
    finally:
        await daemon.stop()
    assert len(receiver.requests) == n
    return cfg


async def test_standard_signatures_pass_the_official_libraries_across_a_rotation(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook signing with secrets [new, old] and an Ed25519 key delivers one event through a real
    daemon. Must hold: `standardwebhooks.Webhook` and `svix.Webhook`, unchanged, accept the request
    with the new secret and with the old one (a receiver not yet rotated and one already rotated);
    a receiver with another secret and one given a changed body refuse it; the v1a entry verifies
    with the public key (`cryptography`, over `{id}.{timestamp}.{body}` as the spec says); entries
    are ordered v1 (new), v1 (old), v1a; the signed id and timestamp are the headers sent. Then
    `hookd replay --wait` (its own sender, after the daemon stopped) sends it again, signed the same
    way, with the same webhook-id."""
    private_pem, public = generate_key_pair()
    (short_dir / "ed25519.pem").write_text(private_pem, encoding="ascii")
    cfg = await deliver_one(
        short_dir,
        receiver,
        f"""
          - name: rotating
            events: ["order.*"]
            url: {receiver.url("/std")}
            signing: {{type: standard, secrets: ["${{WHSEC_NEW}}", "${{WHSEC_OLD}}"],
                       private_key: "${{file:ed25519.pem}}"}}
        """,
        monkeypatch,
    )
    [got] = receiver.at("/std")
    assert got.headers["webhook-id"] == "evt-1"
    assert [e.split(",")[0] for e in got.headers["webhook-signature"].split(" ")] == ["v1", "v1", "v1a"]

    for secret in (NEW, OLD):
        assert standardwebhooks.Webhook(secret).verify(got.body, got.headers) == json.loads(got.body)
        svix.Webhook(secret).verify(got.body, got.headers)  # raises if refused
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(OTHER).verify(got.body, got.headers)
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.Webhook(NEW).verify(got.body.replace(b'"id":1', b'"id":2'), got.headers)

    content = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    [v1a] = signatures(got, "v1a")
    whpk_key(public).verify(v1a, content)  # raises InvalidSignature if wrong
    with pytest.raises(InvalidSignature):
        whpk_key(public).verify(v1a, content + b" ")

    replayed = await asyncio.to_thread(
        CliRunner().invoke, app, ["replay", "-c", str(cfg), "--event", "evt-1", "--wait"]
    )
    assert replayed.exit_code == 0, replayed.output
    [_, again] = receiver.at("/std")
    assert again.headers["webhook-id"] == "evt-1"
    for secret in (NEW, OLD):
        standardwebhooks.Webhook(secret).verify(again.body, again.headers)
        svix.Webhook(secret).verify(again.body, again.headers)
    content = f"evt-1.{again.headers['webhook-timestamp']}.".encode() + again.body
    whpk_key(public).verify(signatures(again, "v1a")[0], content)


async def test_asymmetric_only_signing_sends_one_v1a_signature(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`standard` with only a private key: must send exactly one `v1a,` entry, valid for the public key
    (and nothing a shared-secret receiver could be fooled by)."""
    private_pem, public = generate_key_pair()
    (short_dir / "ed25519.pem").write_text(private_pem, encoding="ascii")
    await deliver_one(
        short_dir,
        receiver,
        f"""
          - name: asym
            events: ["order.*"]
            url: {receiver.url("/asym")}
            signing: {{type: standard, private_key: "${{file:ed25519.pem}}"}}
        """,
        monkeypatch,
    )
    [got] = receiver.at("/asym")
    assert got.headers["webhook-signature"].startswith("v1a,") and " " not in got.headers["webhook-signature"]
    content = f"evt-1.{got.headers['webhook-timestamp']}.".encode() + got.body
    whpk_key(public).verify(signatures(got, "v1a")[0], content)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(NEW).verify(got.body, got.headers)


async def test_github_and_hmac_signatures_recompute(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """github and four hmac variants (sha1 hex with a prefix; sha512 base64 over {id}.{timestamp}.{body}
    with the timestamp in its own header; sha256 with literal braces in content; the default) deliver
    one event. Must hold, per hook: the header holds exactly prefix + encoding(HMAC(newest secret,
    content)) recomputed by the receiver from the bytes and headers it got; the older secret of a
    list is not used; a timestamp_header carries the webhook-timestamp value."""
    cfg = await deliver_one(
        short_dir,
        receiver,
        f"""
          - name: gh
            events: ["order.*"]
            url: {receiver.url("/gh")}
            signing: {{type: github, secrets: ["${{GH_SECRET}}", "${{WHSEC_OLD}}"]}}
          - name: sha1
            events: ["order.*"]
            url: {receiver.url("/sha1")}
            signing: {{type: hmac, secret: "${{S}}", header: X-Signature, algorithm: sha1, prefix: "sha1="}}
          - name: sha512
            events: ["order.*"]
            url: {receiver.url("/sha512")}
            signing: {{type: hmac, secret: "${{S}}", header: X-Sig, algorithm: sha512, encoding: base64,
                       content: "{{id}}.{{timestamp}}.{{body}}", timestamp_header: X-Timestamp}}
          - name: braces
            events: ["order.*"]
            url: {receiver.url("/braces")}
            signing: {{type: hmac, secret: "${{S}}", header: X-Sig, content: "{{{{v1}}}}:{{timestamp}}:{{body}}"}}
          - name: plain
            events: ["order.*"]
            url: {receiver.url("/plain")}
            signing: {{type: hmac, secret: "${{S}}", header: X-Sig}}
        """,
        monkeypatch,
    )
    [gh] = receiver.at("/gh")
    assert gh.headers["X-Hub-Signature-256"] == "sha256=" + recomputed(GH_SECRET, gh.body, "sha256").hex()

    [sha1] = receiver.at("/sha1")
    assert sha1.headers["X-Signature"] == "sha1=" + recomputed(HMAC_SECRET, sha1.body, "sha1").hex()

    [sha512] = receiver.at("/sha512")
    timestamp = sha512.headers["X-Timestamp"]
    assert timestamp == sha512.headers["webhook-timestamp"]
    content = f"evt-1.{timestamp}.".encode() + sha512.body
    assert base64.b64decode(sha512.headers["X-Sig"]) == recomputed(HMAC_SECRET, content, "sha512")

    [braces] = receiver.at("/braces")
    content = f"{{v1}}:{braces.headers['webhook-timestamp']}:".encode() + braces.body
    assert braces.headers["X-Sig"] == recomputed(HMAC_SECRET, content, "sha256").hex()

    [plain] = receiver.at("/plain")
    assert plain.headers["X-Sig"] == recomputed(HMAC_SECRET, plain.body, "sha256").hex()
    assert "X-Timestamp" not in plain.headers

    # History records each signature header as ***, the (public) timestamp header in clear.
    shown = await asyncio.to_thread(CliRunner().invoke, app, ["history", "show", "evt-1", "-c", str(cfg), "--json"])
    assert shown.exit_code == 0, shown.output
    headers = {d["hook"]: d["attempts"][0]["request"]["headers"] for d in json.loads(shown.stdout)["deliveries"]}
    assert headers["gh"]["X-Hub-Signature-256"] == "***"
    assert headers["sha1"]["X-Signature"] == "***"
    assert headers["sha512"]["X-Sig"] == "***"
    assert headers["sha512"]["X-Timestamp"] == sha512.headers["X-Timestamp"]
    assert sha512.headers["X-Sig"] not in shown.stdout and gh.headers["X-Hub-Signature-256"] not in shown.stdout
