"""`auth: {type: jwt}`: a token signed for each request, verified on the receiving side with PyJWT
and the public half of a key made here with `cryptography`, for every algorithm family."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hookd.config.load import check_config
from hookd.config.model import JwtAuth
from hookd.senders.base import OutboundRequest
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender
from tests.auth_servers import Echo, serving
from tests.conftest import Receiver
from tests.manual_clock import ManualClock

PRIVATE_KEY = "hooks[0] (name='h').auth.private_key: private_key"
HMAC_SECRET = "jwt-shared-secret-0123456789abcdef-long-enough-for-hs512-0123456789abcdef"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def keys(algorithm: str) -> tuple[dict[str, object], object]:
    """The auth fields that sign with `algorithm`, and the key a receiver verifies with."""
    if algorithm.startswith("HS"):
        return {"secret": HMAC_SECRET}, HMAC_SECRET
    if algorithm == "RS256":
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return {"private_key": pem(private)}, private.public_key()


def post(url: str) -> OutboundRequest:
    return OutboundRequest(method="POST", url=url, headers={}, body=b"{}", timeout_s=10.0, endpoint="crm")


@asynccontextmanager
async def sending(auth: JwtAuth, clock: ManualClock | None = None) -> AsyncIterator[HttpSender]:
    sender = HttpSender(endpoints={"crm": EndpointSpec("crm", auth=auth)}, clock=clock)
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"])
async def test_each_request_carries_a_fresh_jwt_the_receiver_verifies(receiver: Receiver, algorithm: str) -> None:
    """Two requests: each has `Authorization: Bearer <JWT>` that PyJWT verifies with the secret or
    the public key, with the configured claims, exp = iat + ttl, and a jti of its own."""
    signing, verifying = keys(algorithm)
    auth = JwtAuth(algorithm=algorithm, claims=(("iss", "hookd"), ("aud", "crm"), ("scope", ["a", "b"])), ttl_s=90,
                   **signing)  # type: ignore[arg-type]  # fmt: skip
    async with sending(auth) as sender:
        for _ in range(2):
            assert (await sender.send(post(receiver.url("/hook")))).ok

    claims = []
    for request in receiver.requests:
        scheme, _, token = request.headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        claims.append(jwt.decode(token, verifying, algorithms=[algorithm], audience="crm", issuer="hookd"))  # type: ignore[arg-type]
    for c in claims:
        assert c["exp"] - c["iat"] == 90 and c["scope"] == ["a", "b"]
    assert claims[0]["jti"] != claims[1]["jti"]


async def test_iat_and_exp_follow_the_clock(receiver: Receiver) -> None:
    """On a manual clock, iat is its time and exp that plus ttl (60s by default)."""
    clock = ManualClock(start=1_800_000_000.5)
    async with sending(JwtAuth(algorithm="HS256", secret=HMAC_SECRET), clock) as sender:
        assert (await sender.send(post(receiver.url("/hook")))).ok
    token = receiver.requests[0].headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, HMAC_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert (claims["iat"], claims["exp"]) == (1_800_000_000, 1_800_000_060)


async def test_an_echoed_jwt_is_hidden_in_the_outcome() -> None:
    """The receiver answers 400 with the Authorization it got, in its body and Server header: the
    outcome shows Bearer *** there, and holds no part of the token's signature."""
    signing, _ = keys("ES256")
    echo = Echo(status=400)
    async with serving(echo), sending(JwtAuth(algorithm="ES256", **signing)) as sender:  # type: ignore[arg-type]
        outcome = await sender.send(post(echo.url()))

    [(_, headers, _)] = echo.requests
    signature = headers["Authorization"].rpartition(".")[2]
    assert outcome.status == 400
    assert '"you_sent":"Bearer ***"' in outcome.response_excerpt
    assert outcome.response_headers["server"] == "echo (Bearer ***)"
    assert signature[:16] not in repr(outcome)


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ("{type: jwt, algorithm: RS256, private_key: '${file:ec.pem}'}",
         PRIVATE_KEY + " is an EC key on the secp256r1 curve, but RS256 needs an RSA private key"),
        ("{type: jwt, algorithm: ES256, private_key: '${file:junk.pem}'}",
         PRIVATE_KEY + " cannot be read as a PEM private key; ES256 needs an EC private key"),
        ("{type: jwt, algorithm: EdDSA, private_key: '${file:public.pem}'}",
         PRIVATE_KEY + " cannot be read as a PEM private key; EdDSA needs an Ed25519"),
        ("{type: jwt, algorithm: HS256, private_key: '${file:ec.pem}'}",
         "hooks[0] (name='h').auth.private_key: HS256 signs with a shared secret: give secret, not private_key"),
        ("{type: jwt, algorithm: ES256, secret: '${S}'}",
         "hooks[0] (name='h').auth.secret: ES256 signs with a private key: give private_key, not secret"),
        ("{type: jwt, algorithm: HS256}", "hooks[0] (name='h').auth: a jwt auth with algorithm HS256 needs secret"),
    ],
)  # fmt: skip
def test_a_key_that_does_not_fit_is_a_config_error_naming_the_field(tmp_path: Path, auth: str, problem: str) -> None:
    """The private key is loaded and checked when the config is: the wrong kind, text that is not a
    key, a public key, or the wrong field for the algorithm is an error at file:line naming the
    field, and the message holds no part of the key."""
    private = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.pem").write_text(pem(private))
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "public.pem").write_bytes(public)
    path = tmp_path / "hookd.yaml"
    path.write_text(
        f"version: 1\nhooks:\n  - name: h\n    events: [x]\n    url: https://crm.example/h\n    auth: {auth}\n"
    )

    result = check_config(path, env={"S": HMAC_SECRET})

    assert result.settings is None
    [error] = result.errors
    assert f"{error.path}: {error.message}".startswith(problem)
    assert error.line == 6
    key_text = pem(private).splitlines()[1]
    assert key_text not in error.message and "bm90IGEga2V5" not in error.message


def test_a_short_hmac_secret_and_a_small_rsa_key_are_warnings(tmp_path: Path) -> None:
    """HS256 with a 10-byte secret, RS256 with a 1024-bit key: valid, with a warning each that says,
    in hookd's words, which field is short, by how much, and how to make a long enough one (not
    PyJWT's own "The HMAC key is ..." sentence), and no key in the message."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "rsa.pem").write_text(pem(small))
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n"
        "  - {name: a, events: [x], url: 'https://a.example', auth: {type: jwt, algorithm: HS256, secret: '${S}'}}\n"
        "  - {name: b, events: [x], url: 'https://b.example', "
        "auth: {type: jwt, algorithm: RS256, private_key: '${file:rsa.pem}'}}\n"
    )
    result = check_config(path, env={"S": "0123456789"})

    assert result.settings is not None
    warnings = [(p.path, p.message) for p in result.problems]
    assert warnings == [
        ("hooks[0] (name='a').auth.secret",
         "secret is 10 bytes long, but an HS256 secret should have at least 32 (RFC 7518 section 3.2), or it is "
         "easier to guess: ask the receiver for a longer one, or make one with `openssl rand -base64 32` and give "
         "it to both sides"),
        ("hooks[1] (name='b').auth.private_key",
         "private_key is a 1024-bit RSA key, but an RS256 key should have at least 2048 bits (NIST SP 800-131A): "
         "make a new one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out jwt.pem` and "
         "give the receiver its public key"),
    ]  # fmt: skip
