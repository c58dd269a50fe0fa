"""The keys a `jwt` auth signs with: read and checked once, the same way when the config is loaded
(so a wrong key is a validate error naming the field) and in the process that sends."""

from __future__ import annotations

from typing import Final

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey

# What each asymmetric algorithm signs with, as the sentence that says so.
_NEEDS: Final = {
    "RS256": "an RSA private key",
    "ES256": "an EC private key on the P-256 curve",
    "EdDSA": "an Ed25519 or Ed448 private key",
}


class KeyProblem(Exception):
    """Why a private_key cannot be used; the message never quotes the key."""


def load_signing_key(algorithm: str, pem: str) -> SigningKey:
    """The private key in `pem` for `algorithm` (RS256, ES256, EdDSA). Raises KeyProblem."""
    if "-----BEGIN" not in pem:
        raise KeyProblem(
            f"is not PEM text; {algorithm} needs {_NEEDS[algorithm]} as PEM (a file starting with "
            "-----BEGIN PRIVATE KEY-----), like ${file:/etc/hookd/jwt.pem}"
        )
    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        raise KeyProblem(
            "is an encrypted private key; hookd needs it unencrypted (protect the file's permissions instead), "
            "like the output of: openssl pkey -in key.pem -out plain.pem"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyProblem(
            f"cannot be read as a PEM private key; {algorithm} needs {_NEEDS[algorithm]} "
            "(a public key or a certificate will not do)"
        ) from None
    if algorithm == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        return key
    if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if algorithm == "EdDSA" and isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return key
    raise KeyProblem(f"is {_kind(key)}, but {algorithm} needs {_NEEDS[algorithm]}")


def weak_key(algorithm: str, key: str | SigningKey) -> str | None:
    """PyJWT's own warning when the key is shorter than its algorithm should have (RFC 7518 3.2 for
    HMAC, 2048 bits for RSA), or None."""
    signer = jwt.get_algorithm_by_name(algorithm)
    prepared = signer.prepare_key(key.encode("utf-8") if isinstance(key, str) else key)
    return signer.check_key_length(prepared)


def _kind(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on the {key.curve.name} curve"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return "an EdDSA key"
    return f"a {type(key).__name__.removeprefix('_')}"
