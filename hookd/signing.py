"""Request signatures (a hook's `signing:`): a Signer is made once from the config, then signs each
request over the exact bytes sent. It runs where requests are sent (hookd.senders.endpoint), so its
per-request cost lands in the delivery worker, not in the daemon that acks events.

The parsing helpers here (standard_key, load_private_key, parse_content) are also what `hookd
validate` runs, so a config that validates is one a Signer can be built from. Their errors are
reasons without the value: the caller names the field, and a secret is never quoted.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

from hookd.config.model import SigningConfig
from hookd.keys import MIN_BYTES, PUBLIC_KEY_PREFIX, SIGNING_PREFIX

if TYPE_CHECKING:  # imported where used: cryptography adds ~9 MB to every process that loads it
    from cryptography.hazmat.primitives.asymmetric import ed25519

STANDARD_HEADER = "webhook-signature"
GITHUB_HEADER = "X-Hub-Signature-256"
CONTENT_FIELDS = ("id", "timestamp", "body")
# The headers rendering sets that the signature covers (hookd.rendering.render_request).
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"

ContentField = Literal["id", "timestamp", "body"]


class SecretFormatError(ValueError):
    """A signing secret or key that cannot be used; str() is the reason, without the value."""


class ContentError(ValueError):
    """An hmac `content` that is not a format string over {id}, {timestamp} and {body}; `field` is the
    unknown field's name when that is the problem."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field


def signature_header(spec: SigningConfig) -> str:
    """The header a hook's signature goes in."""
    if spec.type == "standard":
        return STANDARD_HEADER
    if spec.type == "github":
        return GITHUB_HEADER
    return spec.header


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the bytes of the base64 after `whsec_` (missing
    `=` padding is accepted, as the reference libraries accept it). Raises SecretFormatError."""
    if not secret.startswith(SIGNING_PREFIX):
        raise SecretFormatError(
            f"the secret does not start with {SIGNING_PREFIX}; a Standard Webhooks secret is {SIGNING_PREFIX} "
            "followed by base64, as `hookd secret generate` prints it"
        )
    text = secret[len(SIGNING_PREFIX) :]
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        # The reference libraries decode leniently (skipping what is not base64), so a receiver would
        # use other key bytes than these: refused rather than guessed at.
        raise SecretFormatError(
            f"the secret is not {SIGNING_PREFIX} followed by base64 (A-Z, a-z, 0-9, + and /, then = padding); "
            "make a new one with `hookd secret generate`"
        ) from None
    if not key:
        raise SecretFormatError(f"the secret has nothing after {SIGNING_PREFIX}; make one with `hookd secret generate`")
    return key


def short_key_reason(key: bytes) -> str | None:
    """Why a Standard Webhooks key is weaker than the specification asks, or None."""
    if len(key) >= MIN_BYTES:
        return None
    return (
        f"the secret decodes to {len(key)} bytes; Standard Webhooks secrets are at least {MIN_BYTES} random "
        "bytes, so this one is easier to guess: make a new one with `hookd secret generate`"
    )


def load_private_key(pem: str) -> ed25519.Ed25519PrivateKey:
    """An Ed25519 private key from PEM text. Raises SecretFormatError saying what the text is instead."""
    if pem.strip().startswith(PUBLIC_KEY_PREFIX):
        raise SecretFormatError(
            f"the value is a public key ({PUBLIC_KEY_PREFIX}...), the half receivers verify with; private_key takes "
            "the private key (PEM) made with it: the file `hookd secret generate --type ed25519 --out FILE` "
            "wrote, as private_key: ${file:FILE}"
        )
    if "PUBLIC KEY-----" in pem and "PRIVATE KEY-----" not in pem:
        raise SecretFormatError(
            "the value is a public key; private_key takes the private key (the public key, whpk_..., is for receivers)"
        )
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except TypeError:  # cryptography's way of saying the key is encrypted
        raise SecretFormatError(
            "the key is encrypted; hookd reads it unencrypted, so keep the file readable by hookd's user "
            "only (mode 0600) instead"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise SecretFormatError(
            "the value is not a PEM private key (-----BEGIN PRIVATE KEY----- ...); make one with "
            "`hookd secret generate --type ed25519 --out FILE` and write private_key: ${file:FILE}"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SecretFormatError(
            f"the key is {_key_kind(key)}, not an Ed25519 key; Standard Webhooks' asymmetric signature (v1a) is "
            "Ed25519: make a key with `hookd secret generate --type ed25519 --out FILE`"
        )
    return key


def _key_kind(key: object) -> str:
    # Not DSA: cryptography 51 deprecates it with a warning on every reference to its key class, and a DSA
    # key reads as "a key of another type" all the same.
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa, x448, x25519

    kinds: Sequence[tuple[type, str]] = (
        (rsa.RSAPrivateKey, "an RSA key"),
        (ec.EllipticCurvePrivateKey, "an elliptic-curve (ECDSA) key"),
        (ed448.Ed448PrivateKey, "an Ed448 key"),
        (x25519.X25519PrivateKey, "an X25519 key (for key exchange)"),
        (x448.X448PrivateKey, "an X448 key (for key exchange)"),
    )
    return next((name for cls, name in kinds if isinstance(key, cls)), "a key of another type")


def parse_content(text: str) -> tuple[bytes | ContentField, ...]:
    """An hmac `content` as literal bytes and field names, in order. Raises ContentError."""
    parts: list[bytes | ContentField] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:  # a lone { or }: Python's reason names the character, not the text
        raise ContentError(
            f"content is not a valid format string ({e}); write {{{{ and }}}} for a literal brace"
        ) from None
    for literal, name, spec, conversion in parsed:
        if literal:
            parts.append(literal.encode("utf-8"))
        if name is None:
            continue
        if name not in CONTENT_FIELDS:
            raise ContentError(f"content has an unknown field {{{name}}}", name)
        if spec or conversion:
            raise ContentError(
                f"content writes {{{name}}} with a conversion or format spec; write the field plainly, like {{{name}}}"
            )
        parts.append(name)  # type: ignore[arg-type]  # checked against CONTENT_FIELDS above
    if "body" not in parts:
        raise ContentError(
            "content does not include {body}: a signature that does not cover the body proves nothing about it; "
            "add {body}, like {timestamp}.{body}"
        )
    return tuple(parts)


class Signer(Protocol):
    header: str  # the header its signature goes in

    def sign(self, msg_id: str, timestamp: str, body: bytes) -> str:
        """The signature header's value for a request of this id, timestamp and body."""
        ...


class StandardSigner:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256>` per secret, then `v1a,<base64 Ed25519>`, space
    separated, over `{id}.{timestamp}.{body}`. A receiver holding any one of the secrets (or the
    public key) accepts the request, so secrets rotate without a gap."""

    __slots__ = ("_keys", "_private_key", "header")

    def __init__(self, keys: Sequence[bytes], private_key: ed25519.Ed25519PrivateKey | None) -> None:
        self.header = STANDARD_HEADER
        self._keys = tuple(keys)
        self._private_key = private_key

    def sign(self, msg_id: str, timestamp: str, body: bytes) -> str:
        content = f"{msg_id}.{timestamp}.".encode() + body
        signatures = ["v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode() for key in self._keys]
        if self._private_key is not None:
            signatures.append("v1a," + base64.b64encode(self._private_key.sign(content)).decode())
        return " ".join(signatures)


class HmacSigner:
    """One HMAC over a content template, written as prefix + hex or base64 (github is the case
    sha256, hex, `sha256=`, over the body)."""

    __slots__ = ("_algorithm", "_base64", "_body_only", "_key", "_parts", "_prefix", "header")

    def __init__(
        self,
        *,
        header: str,
        key: bytes,
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        content: str = "{body}",
    ) -> None:
        self.header = header
        self._key = key
        self._algorithm = algorithm
        self._base64 = encoding == "base64"
        self._prefix = prefix
        self._parts = parse_content(content)
        self._body_only = self._parts == ("body",)

    def sign(self, msg_id: str, timestamp: str, body: bytes) -> str:
        if self._body_only:
            content = body
        else:
            values = {"id": msg_id.encode(), "timestamp": timestamp.encode(), "body": body}
            content = b"".join(values[p] if isinstance(p, str) else p for p in self._parts)
        digest = hmac.digest(self._key, content, self._algorithm)
        return self._prefix + (base64.b64encode(digest).decode() if self._base64 else digest.hex())


def build_signer(spec: SigningConfig) -> Signer:
    """The signer a hook's `signing:` describes (validated: raises only for a config that did not pass
    `hookd validate`)."""
    if spec.type == "standard":
        keys = [standard_key(s) for s in spec.secrets]
        private_key = load_private_key(spec.private_key) if spec.private_key else None
        return StandardSigner(keys, private_key)
    # One signature fits these headers: the newest secret signs (validate warns about the others).
    key = spec.secrets[0].encode("utf-8")
    if spec.type == "github":
        return HmacSigner(header=GITHUB_HEADER, key=key, prefix="sha256=")
    return HmacSigner(
        header=spec.header,
        key=key,
        algorithm=spec.algorithm,
        encoding=spec.encoding,
        prefix=spec.prefix,
        content=spec.content,
    )
