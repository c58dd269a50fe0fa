"""Secrets for signing and tokens (pure). Standard Webhooks' format: `whsec_` + base64 of random bytes."""

from __future__ import annotations

import base64
import secrets

SIGNING_PREFIX = "whsec_"
MIN_BYTES = 24
MAX_BYTES = 64


def generate_secret(n_bytes: int = 32, *, prefix: str = SIGNING_PREFIX) -> str:
    """A new random secret from the OS's CSPRNG, base64-encoded, with `prefix`."""
    if not MIN_BYTES <= n_bytes <= MAX_BYTES:
        raise ValueError(f"--bytes must be between {MIN_BYTES} and {MAX_BYTES}, not {n_bytes}")
    return prefix + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")
