"""Secrets for signing and tokens (pure). Standard Webhooks' formats: `whsec_` + base64 of random
bytes for a shared secret; an Ed25519 key pair for asymmetric signatures, whose public key receivers
take as `whpk_` + base64 of its 32 raw bytes."""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: cryptography adds ~9 MB to every process that loads it
    from cryptography.hazmat.primitives.asymmetric import ed25519

SIGNING_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
MIN_BYTES = 24
MAX_BYTES = 64


def generate_secret(n_bytes: int = 32, *, prefix: str = SIGNING_PREFIX) -> str:
    """A new random secret from the OS's CSPRNG, base64-encoded, with `prefix`."""
    if not MIN_BYTES <= n_bytes <= MAX_BYTES:
        raise ValueError(f"--bytes must be between {MIN_BYTES} and {MAX_BYTES}, not {n_bytes}")
    return prefix + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def generate_key_pair() -> tuple[str, str]:
    """A new Ed25519 key pair: the private key as unencrypted PKCS#8 PEM (what a hook's
    signing.private_key reads), and the public key as receivers take it (public_key_text)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return pem, public_key_text(key)


def public_key_text(key: ed25519.Ed25519PrivateKey) -> str:
    """The public half of `key` as Standard Webhooks receivers take it: whpk_ + base64 of its 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")
