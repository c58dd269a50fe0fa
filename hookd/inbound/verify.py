"""Proving who sent an inbound request (an http source's `verify:`), pure.

One scheme per `verify.type`, registered in SCHEMES. A Verifier is built once from the config and
checks each request in constant time against every configured secret, newest first. Its verdict
(scheme, which secret matched, when) is stored with the event, so a replay weeks later never checks a
timestamp again. Failures carry a reason fit for a log line and `hookd history rejections`: it never
quotes a secret, a signature or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hookd.config.model import VerifyConfig
from hookd.inbound.request import InboundRequest
from hookd.keys import PUBLIC_KEY_PREFIX
from hookd.signing import SecretFormatError, parse_content, standard_key

if TYPE_CHECKING:  # imported where used: cryptography adds ~9 MB to every process that loads it
    from cryptography.hazmat.primitives.asymmetric import ed25519


class VerifyFailed(Exception):
    """The request is not proven to come from the configured sender: answered 401. str() is the
    reason, like "X-Hub-Signature-256 is missing" or "the signature matches none of the 2 secrets"."""


@dataclass(frozen=True, slots=True)
class Verdict:
    scheme: str  # the verify type
    secret: int  # which of `secrets` matched (0 = the newest); -1 for the public key
    verified_at: float  # epoch seconds
    timestamp: float | None = None  # the request's signed timestamp, for timestamped schemes

    def as_json(self) -> dict[str, object]:
        """As stored beside the event."""
        out: dict[str, object] = {"scheme": self.scheme, "secret": self.secret, "verified_at": self.verified_at}
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


class Verifier(Protocol):
    scheme: str
    # What the stored request must not keep (lower-cased header names, query parameter names): a
    # shared secret sent as is (X-Gitlab-Token, an api_key, Basic credentials). Signatures are kept,
    # so a hook can forward them (`forward: {headers: [...]}`).
    credential_headers: frozenset[str]
    credential_query: frozenset[str]
    # Whether the scheme checks a signed timestamp (replay protection without an id).
    timestamped: bool

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        """The verdict, or raises VerifyFailed. Pure and cheap: no I/O."""
        ...


# Every scheme keeps these out of the stored request: whatever they hold is a credential, for this
# source or for whatever the sender meant them for.
ALWAYS_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie"})
NO_QUERY: frozenset[str] = frozenset()

_HEX = re.compile(r"[0-9a-fA-F]+")
# int() would also take "+5" and "1_0": a timestamp is digits only, as every sender writes it.
_EPOCH = re.compile(r"[0-9]{1,15}")
_SHA256_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64


# -- shared checks --------------------------------------------------------------------------------------


def _required(request: InboundRequest, header: str, hint: str) -> str:
    value = request.header(header)
    if value is None:
        raise VerifyFailed(f"{header} is missing; {hint}")
    return value


def _malformed(what: str, expected: str) -> VerifyFailed:
    return VerifyFailed(f"{what} is malformed: it should be {expected}")


def _epoch(value: str, header: str) -> int:
    if not _EPOCH.fullmatch(value.strip()):
        raise _malformed(header, "a whole number of seconds since 1970 (Unix time)")
    return int(value)


def _check_age(timestamp: int, now: float, tolerance_s: float, where: str) -> None:
    """Refuses a timestamp further than the tolerance from `now`, either way: an old one is a replay
    (or a sender retrying long after), one ahead is a clock that is off."""
    age = now - timestamp
    fix = "if the sender's clock and this host's are right (NTP), raise verify.tolerance"
    if age > tolerance_s:
        raise VerifyFailed(
            f"the timestamp in {where} is {age:.0f} s old, past the tolerance of {tolerance_s:g} s; "
            f"an old request is refused as a possible replay; {fix}"
        )
    if -age > tolerance_s:
        raise VerifyFailed(
            f"the timestamp in {where} is {-age:.0f} s ahead of the time it is checked at, past the tolerance of "
            f"{tolerance_s:g} s; {fix}"
        )


def _hex_digest(text: str, size: int) -> bytes | None:
    """The bytes of `size` written as hex digits (either case), or None when it is not that."""
    if len(text) != 2 * size or not _HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def _base64_digest(text: str, size: int) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def _first_match(given: Sequence[bytes], expected: Sequence[bytes]) -> int:
    """The index of the first of `expected` equal to any of `given`, or -1. Compares every pair in
    constant time and does not stop at a match, so the time taken does not say which secret it was."""
    found = -1
    for index, candidate in enumerate(expected):
        for value in given:
            if hmac.compare_digest(value, candidate) and found < 0:
                found = index
    return found


def _fingerprint(value: str) -> bytes:
    """A shared secret compared as its SHA-256, so compare_digest sees equal lengths and the time taken
    does not tell how long the secret is."""
    return hashlib.sha256(value.encode("utf-8")).digest()


def _no_match(what: str, count: int) -> VerifyFailed:
    against = "the configured secret" if count == 1 else f"any of the {count} configured secrets"
    return VerifyFailed(
        f"{what} does not match {against}; check that the sender uses "
        f"{'it' if count == 1 else 'one of them'} and that nothing on the way (a proxy) changes the request"
    )


def _secret_keys(config: VerifyConfig) -> tuple[bytes, ...]:
    if not config.secrets:
        raise ValueError(f"verify type {config.type} has no secrets; add secret: or secrets:")
    return tuple(s.encode("utf-8") for s in config.secrets)


def _fingerprints(config: VerifyConfig) -> tuple[bytes, ...]:
    """The secrets of a scheme that sends them as they are (a token, a key, a password)."""
    _secret_keys(config)  # refuses an empty list
    return tuple(_fingerprint(s) for s in config.secrets)


def load_public_key(text: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key written as Standard Webhooks receivers take it (whpk_ + base64 of its 32
    bytes, hookd.keys.public_key_text). Raises SecretFormatError, without the value."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise SecretFormatError(
            f"the public key does not start with {PUBLIC_KEY_PREFIX}; it is the line `hookd secret generate "
            "--type ed25519` prints for receivers"
        )
    raw = _base64_digest(text[len(PUBLIC_KEY_PREFIX) :], 32)
    if raw is None:
        raise SecretFormatError(
            f"the public key is not {PUBLIC_KEY_PREFIX} followed by the base64 of 32 bytes; copy it again from "
            "what `hookd secret generate --type ed25519` printed"
        )
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PublicKey.from_public_bytes(raw)


# -- the schemes ------------------------------------------------------------------------------------------


class GithubVerifier:
    """GitHub: X-Hub-Signature-256 is `sha256=` and the hex HMAC-SHA256 of the body. No timestamp:
    replays are caught by the X-GitHub-Delivery id."""

    scheme = "github"
    timestamped = False
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._keys = _secret_keys(config)

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        header = "X-Hub-Signature-256"
        value = _required(
            request, header, "GitHub sends it when the webhook has a secret: set it in the webhook's settings"
        )
        given = _hex_digest(value.removeprefix("sha256="), _SHA256_SIZE) if value.startswith("sha256=") else None
        if given is None:
            raise _malformed(header, "sha256= followed by 64 hex digits")
        index = _first_match([given], [hmac.digest(key, request.body, "sha256") for key in self._keys])
        if index < 0:
            raise _no_match(f"the signature in {header}", len(self._keys))
        return Verdict(self.scheme, index, now)


class GitlabVerifier:
    """GitLab: X-Gitlab-Token is the secret token itself, so it is a credential the stored request
    must not keep."""

    scheme = "gitlab"
    timestamped = False
    credential_headers = ALWAYS_CREDENTIAL_HEADERS | {"x-gitlab-token"}
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._fingerprints = _fingerprints(config)

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        header = "X-Gitlab-Token"
        value = _required(request, header, "GitLab sends it when the webhook has a secret token: set it there")
        index = _first_match([_fingerprint(value)], self._fingerprints)
        if index < 0:
            raise _no_match(f"the token in {header}", len(self._fingerprints))
        return Verdict(self.scheme, index, now)


class StripeVerifier:
    """Stripe: Stripe-Signature is `t=<unix time>,v1=<hex>[,v1=<hex>...]`, each v1 the HMAC-SHA256 of
    `{t}.{body}` (several while Stripe rolls an endpoint's secret; any one matching will do)."""

    scheme = "stripe"
    timestamped = True
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._keys = _secret_keys(config)
        self._tolerance_s = config.tolerance_s

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        header = "Stripe-Signature"
        value = _required(request, header, "Stripe signs every webhook event: is the sender Stripe?")
        timestamp_text: str | None = None
        signatures: list[bytes] = []
        for item in value.split(","):
            key, _, field_value = item.strip().partition("=")
            if key == "t" and timestamp_text is None:
                timestamp_text = field_value
            elif key == "v1" and (digest := _hex_digest(field_value, _SHA256_SIZE)) is not None:
                signatures.append(digest)
        if timestamp_text is None or not signatures:
            raise _malformed(header, "t=<Unix time>,v1=<64 hex digits>, as Stripe sends it")
        timestamp = _epoch(timestamp_text, f"{header} (t=)")
        content = timestamp_text.encode() + b"." + request.body
        index = _first_match(signatures, [hmac.digest(key, content, "sha256") for key in self._keys])
        if index < 0:
            raise _no_match(f"the signature in {header}", len(self._keys))
        _check_age(timestamp, now, self._tolerance_s, f"{header} (t=)")
        return Verdict(self.scheme, index, now, float(timestamp))


class SlackVerifier:
    """Slack: X-Slack-Signature is `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`, the
    timestamp being X-Slack-Request-Timestamp."""

    scheme = "slack"
    timestamped = True
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._keys = _secret_keys(config)
        self._tolerance_s = config.tolerance_s

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        header, timestamp_header = "X-Slack-Signature", "X-Slack-Request-Timestamp"
        hint = "Slack signs every request to an app's endpoints: is the sender Slack?"
        value = _required(request, header, hint)
        timestamp_text = _required(request, timestamp_header, hint).strip()
        timestamp = _epoch(timestamp_text, timestamp_header)
        given = _hex_digest(value.removeprefix("v0="), _SHA256_SIZE) if value.startswith("v0=") else None
        if given is None:
            raise _malformed(header, "v0= followed by 64 hex digits")
        content = b"v0:" + timestamp_text.encode() + b":" + request.body
        index = _first_match([given], [hmac.digest(key, content, "sha256") for key in self._keys])
        if index < 0:
            raise _no_match(f"the signature in {header}", len(self._keys))
        _check_age(timestamp, now, self._tolerance_s, timestamp_header)
        return Verdict(self.scheme, index, now, float(timestamp))


class StandardVerifier:
    """Standard Webhooks (what a hook's `signing: {type: standard}` sends): webhook-signature is a
    space-separated list of `v1,<base64 HMAC-SHA256>` and `v1a,<base64 Ed25519>` over
    `{webhook-id}.{webhook-timestamp}.{body}`. Versions it does not know are skipped, as the
    specification asks, so a sender can add new ones."""

    scheme = "standard"
    timestamped = True
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._keys = tuple(standard_key(s) for s in config.secrets)
        self._public_key = load_public_key(config.public_key) if config.public_key else None
        if not self._keys and self._public_key is None:
            raise ValueError("verify type standard has neither secrets nor public_key; add secret: or public_key:")
        self._tolerance_s = config.tolerance_s

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        hint = "a Standard Webhooks sender sends webhook-id, webhook-timestamp and webhook-signature"
        msg_id = _required(request, "webhook-id", hint)
        timestamp_text = _required(request, "webhook-timestamp", hint).strip()
        value = _required(request, "webhook-signature", hint)
        timestamp = _epoch(timestamp_text, "webhook-timestamp")
        hmacs, ed25519s = self._signatures(value)
        content = f"{msg_id}.{timestamp_text}.".encode() + request.body
        index = _first_match(hmacs, [hmac.digest(key, content, "sha256") for key in self._keys])
        if index < 0 and not self._signed_by_public_key(ed25519s, content):
            raise VerifyFailed(
                f"no signature in webhook-signature matches {self._configured()}; check that the sender signs "
                "with one of them and that nothing on the way (a proxy) changes the request"
            )
        _check_age(timestamp, now, self._tolerance_s, "webhook-timestamp")
        return Verdict(self.scheme, index, now, float(timestamp))

    @staticmethod
    def _signatures(value: str) -> tuple[list[bytes], list[bytes]]:
        """The v1 and v1a signatures in the header. An entry that is not one (another version, or not
        base64 of the right length) is skipped, as the reference libraries skip what does not match, so
        one odd entry does not hide a good one beside it; a header with none is malformed."""
        hmacs: list[bytes] = []
        ed25519s: list[bytes] = []
        for entry in value.split():
            version, _, encoded = entry.partition(",")
            if version == "v1" and (digest := _base64_digest(encoded, _SHA256_SIZE)) is not None:
                hmacs.append(digest)
            elif version == "v1a" and (digest := _base64_digest(encoded, _ED25519_SIGNATURE_SIZE)) is not None:
                ed25519s.append(digest)
        if not hmacs and not ed25519s:
            raise _malformed("webhook-signature", "a space-separated list of v1,<base64> (or v1a,<base64>) signatures")
        return hmacs, ed25519s

    def _signed_by_public_key(self, signatures: Sequence[bytes], content: bytes) -> bool:
        if self._public_key is None:
            return False
        from cryptography.exceptions import InvalidSignature

        for signature in signatures:
            try:
                self._public_key.verify(signature, content)
            except InvalidSignature:
                continue
            return True
        return False

    def _configured(self) -> str:
        count = len(self._keys)
        names = (
            [] if not count else ["the configured secret" if count == 1 else f"any of the {count} configured secrets"]
        )
        if self._public_key is not None:
            names.append("the public key")
        return " or ".join(names)


class HmacVerifier:
    """The generic scheme, with the options of a hook's hmac `signing:`: `header` holds `prefix` and the
    hex or base64 HMAC of `content`, whose {id} and {timestamp} are read from id_header and
    timestamp_header. Timestamped when the timestamp is read and signed."""

    scheme = "hmac"
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        if not config.header:
            raise ValueError("verify type hmac has no header; add header: the header the signature is in")
        self._keys = _secret_keys(config)
        self._header = config.header
        self._parts = parse_content(config.content)
        for name, header in (("timestamp", config.timestamp_header), ("id", config.id_header)):
            if name in self._parts and header is None:
                raise ValueError(
                    f"verify content has {{{name}}} but no {name}_header says where to read it; add {name}_header:"
                )
        self._timestamp_header = config.timestamp_header
        self._id_header = config.id_header
        # A timestamp outside the signed content could be rewritten by anyone: checked, but no replay
        # protection, so the source still relies on an id then.
        self.timestamped = config.timestamp_header is not None and "timestamp" in self._parts
        self._algorithm = config.algorithm
        self._size = hashlib.new(config.algorithm).digest_size
        self._base64 = config.encoding == "base64"
        self._prefix = config.prefix
        self._tolerance_s = config.tolerance_s

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        hint = "the sender must sign each request with the configured secret"
        value = _required(request, self._header, hint)
        encoded = value.removeprefix(self._prefix) if value.startswith(self._prefix) else None
        read = _base64_digest if self._base64 else _hex_digest
        given = None if encoded is None else read(encoded, self._size)
        if given is None:
            encoding = "base64" if self._base64 else "hex"
            prefix = f"{self._prefix!r} followed by " if self._prefix else ""
            raise _malformed(self._header, f"{prefix}the {encoding} {self._algorithm.upper()} HMAC")
        fields = {"body": request.body, "id": b"", "timestamp": b""}
        timestamp: int | None = None
        if self._timestamp_header is not None:
            timestamp_text = _required(request, self._timestamp_header, hint).strip()
            timestamp = _epoch(timestamp_text, self._timestamp_header)
            fields["timestamp"] = timestamp_text.encode()
        if self._id_header is not None and "id" in self._parts:
            fields["id"] = _required(request, self._id_header, hint).encode()
        content = b"".join(fields[p] if isinstance(p, str) else p for p in self._parts)
        index = _first_match([given], [hmac.digest(key, content, self._algorithm) for key in self._keys])
        if index < 0:
            raise _no_match(f"the signature in {self._header}", len(self._keys))
        if timestamp is None:
            return Verdict(self.scheme, index, now)
        _check_age(timestamp, now, self._tolerance_s, self._timestamp_header or "")
        return Verdict(self.scheme, index, now, float(timestamp) if self.timestamped else None)


class ApiKeyVerifier:
    """A shared key sent as is, in a header or a query parameter (as a hook's `auth: {type: api_key}`
    sends it), so that header or parameter is a credential the stored request must not keep."""

    scheme = "api_key"
    timestamped = False

    def __init__(self, config: VerifyConfig) -> None:
        if (config.header is None) == (config.query is None):
            raise ValueError("verify type api_key needs exactly one of header: and query:, where the key is sent")
        self._fingerprints = _fingerprints(config)
        self._header = config.header
        self._query = config.query
        self.credential_headers = ALWAYS_CREDENTIAL_HEADERS | ({config.header.lower()} if config.header else set())
        self.credential_query = frozenset({config.query}) if config.query else NO_QUERY

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        if self._header is not None:
            where, value = f"the {self._header} header", request.header(self._header)
        else:
            where, value = f"the query parameter {self._query}", request.query_value(self._query or "")
        if value is None:
            raise VerifyFailed(f"{where} is missing; the sender must send the key in it")
        index = _first_match([_fingerprint(value)], self._fingerprints)
        if index < 0:
            raise _no_match(f"the key in {where}", len(self._fingerprints))
        return Verdict(self.scheme, index, now)


class BasicVerifier:
    """HTTP Basic authentication: Authorization is `Basic ` and the base64 of `user:password` (UTF-8);
    the user must be `username` when that is set, the password one of the secrets."""

    scheme = "basic"
    timestamped = False
    credential_headers = ALWAYS_CREDENTIAL_HEADERS
    credential_query = NO_QUERY

    def __init__(self, config: VerifyConfig) -> None:
        self._fingerprints = _fingerprints(config)
        self._username = None if config.username is None else _fingerprint(config.username)

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        header = "Authorization"
        value = _required(request, header, "the sender must send a user name and password (HTTP Basic authentication)")
        expected = "Basic followed by the base64 of user:password"
        kind, _, encoded = value.strip().partition(" ")
        if kind.lower() != "basic":
            raise _malformed(header, expected)
        try:
            user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
            raise _malformed(header, expected) from None
        if not colon:
            raise _malformed(header, expected)
        index = _first_match([_fingerprint(password)], self._fingerprints)
        user_ok = self._username is None or hmac.compare_digest(_fingerprint(user), self._username)
        if index < 0 or not user_ok:
            # One answer for a wrong user and a wrong password: a caller learns nothing of which was right.
            raise VerifyFailed(
                f"the user name and password in {header} do not match verify.username and the configured "
                "password(s); check what the sender sends"
            )
        return Verdict(self.scheme, index, now)


SCHEMES: dict[str, Callable[[VerifyConfig], Verifier]] = {
    "github": GithubVerifier,
    "gitlab": GitlabVerifier,
    "stripe": StripeVerifier,
    "slack": SlackVerifier,
    "standard": StandardVerifier,
    "hmac": HmacVerifier,
    "api_key": ApiKeyVerifier,
    "basic": BasicVerifier,
}


def build_verifier(config: VerifyConfig) -> Verifier:
    """The verifier `verify:` describes. Raises ValueError (SecretFormatError for a key that cannot be
    used) only for a config `hookd validate` refuses; the reason never quotes a secret."""
    factory = SCHEMES.get(config.type)
    if factory is None:
        raise ValueError(f"verify type {config.type!r} is not one of {', '.join(SCHEMES)}")
    return factory(config)
