"""The keys a `jwt` auth signs with: read and checked once, the same way when the config is loaded
(so a wrong key is a validate error naming the field) and in the process that sends."""

from __future__ import annotations

from typing import Final

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
KEY_ALGORITHMS: Final = frozenset(_NEEDS)
# The shortest keys that do not weaken their algorithm: PyJWT warns below these too.
_HMAC_BYTES: Final = {"HS256": 32, "HS384": 48, "HS512": 64}
MIN_RSA_BITS: Final = 2048


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
    """Why `key` is shorter than `algorithm` should have, as a sentence naming the field and the fix,
    or None. The thresholds are PyJWT's: an HMAC key as long as its hash (RFC 7518 section 3.2), an
    RSA key of 2048 bits (NIST SP 800-131A)."""
    if isinstance(key, str):
        size, wanted = len(key.encode("utf-8")), _HMAC_BYTES.get(algorithm, 0)
        if size >= wanted:
            return None
        return (
            f"secret is {size} bytes long, but an {algorithm} secret should have at least {wanted} (RFC 7518 "
            "section 3.2), or it is easier to guess: ask the receiver for a longer one, or make one with "
            f"`openssl rand -base64 {wanted}` and give it to both sides"
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        return (
            f"private_key is a {key.key_size}-bit RSA key, but an RS256 key should have at least {MIN_RSA_BITS} "
            "bits (NIST SP 800-131A): make a new one with `openssl genpkey -algorithm RSA -pkeyopt "
            "rsa_keygen_bits:3072 -out jwt.pem` and give the receiver its public key"
        )
    return None


def _kind(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on the {key.curve.name} curve"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return "an EdDSA key"
    return f"a {type(key).__name__.removeprefix('_')}"
