"""The configuration as frozen, typed records. Nothing past the loader touches raw YAML dicts.

Defaults live in schema.json (the published contract) and are mirrored here; a test keeps the two
in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from hookd.units import Rate

DEFAULT_MAX_EVENT_BYTES = 10 * 1000 * 1000


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was written, for messages only."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def _no_origin() -> Origin | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageConfig:
    path: Path = Path("var/hookd.db")
    retention_s: float = 90 * 86400.0
    synchronous: Literal["normal", "full"] = "normal"


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketSourceConfig:
    name: str
    type: Literal["socket"] = "socket"
    path: Path | None = None
    mode: int = 0o660
    listen: tuple[str, int] | None = None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    origin: Origin | None = field(default_factory=_no_origin, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSourceConfig:
    name: str
    path: Path
    type: Literal["file"] = "file"
    start_at: Literal["end", "beginning"] = "end"
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    origin: Origin | None = field(default_factory=_no_origin, compare=False, repr=False)


# What an http source's `verify:` may name (hookd.inbound.verify has one scheme per name).
VerifyType = Literal["github", "gitlab", "stripe", "slack", "standard", "hmac", "api_key", "basic"]
DEFAULT_TOLERANCE_S = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyConfig:
    """How an http source proves who sent a request (`verify:`). Secrets in clear, as for signing."""

    type: VerifyType
    # Newest first; `secret:` is the one-item shorthand. Each is tried, in constant time; the verdict
    # names which one matched (its index), never the value. basic: the passwords; api_key: the keys.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # standard: a whpk_ public key to check Ed25519 (v1a) signatures with, beside or instead of secrets.
    public_key: str | None = field(default=None, repr=False)
    tolerance_s: float = DEFAULT_TOLERANCE_S  # timestamped schemes: how old (or how far ahead) a request may be
    # api_key: where the key is (exactly one of the two); hmac: `header` is the signature's header.
    header: str | None = None
    query: str | None = None
    username: str | None = None  # basic
    # hmac only, as a hook's hmac `signing:`
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    content: str = "{body}"
    timestamp_header: str | None = None
    id_header: str | None = None  # hmac: the header {id} in `content` is read from
    # Meta (Facebook, Instagram, WhatsApp) subscription handshake: GET ?hub.verify_token= must equal it.
    verify_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseConfig:
    """What an http source answers (`response:`)."""

    mode: Literal["async", "sync"] = "async"
    # async: the status (default 202). sync: a template of the status, or None to relay/summarise.
    status: int | str | None = None
    headers: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    body: object = None  # sync: a template over {event, deliveries}; None: relay or summary
    timeout_s: float = 10.0
    max_relay: int = 1_000_000
    max_waiting: int = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenTlsConfig:
    """An http source's `tls:`: the server's certificate chain and key (PEM), resolved against the
    config file's directory."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSourceConfig:
    """An inbound HTTP webhook endpoint (`type: http`). Sources with the same `listen` share one
    listener; each owns its `path` (with {param} segments) and methods."""

    name: str
    listen: tuple[str, int]
    path: str
    type: Literal["http"] = "http"
    methods: tuple[str, ...] = ("POST",)
    verify: VerifyConfig | None = None
    allow_ips: tuple[str, ...] = ()  # CIDR networks, IPv4 and IPv6; empty: any address
    trusted_proxies: tuple[str, ...] = ()  # CIDR networks whose X-Forwarded-For is believed
    event_type: str | None = None  # JMESPath over {request, body, data}; None: the provider's default
    event_id: str | None = None
    response: ResponseConfig = field(default_factory=ResponseConfig)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    read_timeout_s: float = 10.0  # for the request's headers, then again for its body: 408 past it
    tls: ListenTlsConfig | None = None
    origin: Origin | None = field(default_factory=_no_origin, compare=False, repr=False)


SourceConfig = SocketSourceConfig | FileSourceConfig | HttpSourceConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 12
    backoff: Literal["exponential", "fixed"] = "exponential"
    initial_delay_s: float = 5.0
    max_delay_s: float = 3600.0
    jitter: bool = True
    # `schedule:` written out: the delay after each attempt (max_attempts and max_delay follow from it).
    schedule: tuple[float, ...] | None = None


# Endpoint authentication (a hook's `auth:`). Plain records of strings: they travel to the delivery
# worker inside the hook's EndpointSpec (pickled), which builds what sends with them.


@dataclass(frozen=True, slots=True, kw_only=True)
class BearerAuth:
    """`Authorization: Bearer <token>`."""

    token: str = field(repr=False)
    type: Literal["bearer"] = "bearer"


@dataclass(frozen=True, slots=True, kw_only=True)
class BasicAuth:
    """`Authorization: Basic base64(username:password)` (RFC 7617)."""

    username: str
    password: str = field(repr=False)
    type: Literal["basic"] = "basic"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyAuth:
    """A key in a header (`header`) or a query parameter (`query`): exactly one of the two is set."""

    value: str = field(repr=False)
    header: str | None = None
    query: str | None = None
    type: Literal["api_key"] = "api_key"


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuth2Auth:
    """OAuth2 client credentials (RFC 6749 section 4.4): a token from `token_url`, sent as Bearer."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    audience: str | None = None
    client_auth: Literal["basic", "post"] = "basic"
    type: Literal["oauth2"] = "oauth2"

    @property
    def token_key(self) -> tuple[str, str, str | None, str | None]:
        """What one token is for: hooks with the same key share it (in each process that sends)."""
        return (self.token_url, self.client_id, self.scope, self.audience)


JwtAlgorithm = Literal["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JwtAuth:
    """A JWT made for each request, sent as Bearer: `claims` plus iat, exp (iat + ttl) and jti."""

    algorithm: JwtAlgorithm
    secret: str | None = field(default=None, repr=False)  # HS256/384/512
    private_key: str | None = field(default=None, repr=False)  # PEM, for the others (checked at load)
    # (name, JSON value) pairs, in file order: a tuple, so the record stays picklable and frozen.
    claims: tuple[tuple[str, object], ...] = ()
    ttl_s: float = 60.0
    type: Literal["jwt"] = "jwt"


AuthConfig = BearerAuth | BasicAuth | ApiKeyAuth | OAuth2Auth | JwtAuth


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningConfig:
    """How a hook signs its requests (`signing:`). Secrets are here in clear: plain data the sender
    is handed (hookd.senders.endpoint); hookd.signing makes a signer of it."""

    type: Literal["standard", "github", "hmac"]
    # Newest first; `secret:` is the one-item shorthand. github and hmac sign with secrets[0] only.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    private_key: str | None = field(default=None, repr=False)  # standard: an Ed25519 PEM, for v1a
    # hmac only
    header: str = ""
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    content: str = "{body}"
    timestamp_header: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """A hook's `tls:` block. Paths are resolved against the config file's directory."""

    ca_file: Path | None = None  # trust exactly this CA bundle (PEM) instead of the system's
    client_cert: Path | None = None  # mutual TLS: the certificate (PEM), with its key unless client_key is given
    client_key: Path | None = None
    verify: bool = True

    @property
    def is_default(self) -> bool:
        """Whether requests use the default verified context (no block, or one that changes nothing)."""
        return self.ca_file is None and self.client_cert is None and self.verify


# A hook's `batch:` upper bound on max_events: a request of 10,000 events is already far past what
# receivers take in one body (Svix, Segment and the like accept a few hundred).
MAX_BATCH_EVENTS = 10_000
# Upper bound on max_size: hookd holds a batch's whole body in memory (and signs it whole), and 100MB is
# already a hundred times the body limit receivers commonly keep by default (about 1MB); 2GB was a
# unit slip no receiver would take, accepted without a word.
MAX_BATCH_BYTES = 100_000_000
# Upper bound on max_wait: a quiet hook's first delivery waits this long for company before it is sent;
# past a day that is a digest, not batching, and more likely a unit slip (2d for 2s). 0 is allowed: no
# waiting, a batch holds only what is due together (a backlog) and a lone delivery goes at once.
MAX_BATCH_WAIT_S = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchConfig:
    """A hook's `batch:`: its deliveries go out several per request (hookd.batching)."""

    max_events: int = 100
    max_size: int = 1_000_000  # bytes of the JSON array of rendered items
    max_wait_s: float = 2.0  # how long the oldest waiting delivery may wait for the batch to fill
    payload: object = None  # template over {events: [...], count}; None = the JSON array itself


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardConfig:
    """A hook's `forward:`: send an inbound (http source) event as it arrived, so the final receiver
    can check the provider's own signature."""

    body: Literal["raw"] = "raw"  # the request body's bytes as received
    headers: tuple[str, ...] = ()  # original request headers to send along (lower-cased names)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerConfig:
    """A hook's `breaker:` (hookd.breaker): off unless the block is there."""

    failures: int = 10  # retryable failures in a row that open it
    cooldown_s: float = 30.0  # open this long, then it probes with one delivery
    disable_after_s: float | None = None  # failing this long without a success pauses the hook; None: never


# A hook's `format:`, the encoding of its body (hookd.rendering), and its `preset:`, a service's body
# built from `message` (hookd.presets).
PayloadFormat = Literal["json", "form", "cloudevents", "cloudevents_binary", "text"]
PresetName = Literal["slack", "teams", "discord", "mattermost", "zapier", "ifttt"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HookConfig:
    name: str
    events: tuple[str, ...]
    url: str
    description: str = ""
    filter: str | None = None
    # JMESPath on the event envelope: deliveries with the same value go out one at a time, in event order.
    ordering_key: str | None = None
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    payload: object = None  # template source (plain JSON values); None = the event envelope
    format: PayloadFormat = "json"
    # With a preset the body is the service's, from `message` and `preset_options` (templates); such a
    # hook has no payload and no format (validate refuses them).
    preset: PresetName | None = None
    message: str | None = None
    preset_options: MappingProxyType[str, object] = field(default_factory=lambda: MappingProxyType({}))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 30.0
    concurrency: int = 10
    follow_redirects: bool = False
    allow_hosts: tuple[str, ...] = ()  # host globs a templated url host may render to
    allow_destinations: tuple[str, ...] = ()  # non-public networks a guarded request may reach (CIDR)
    signing: SigningConfig | None = None
    forward: ForwardConfig | None = None  # None: the envelope or payload, as rendered
    tls: TlsConfig = field(default_factory=TlsConfig)
    # The next three are resolved by the loader against `delivery:`, the hook's own setting winning.
    require_https: bool = False
    # The proxy URL (credentials included) every request of this hook goes through; None: none, or
    # the environment's when trust_env.
    proxy: str | None = field(default=None, repr=False)
    trust_env: bool = False  # HTTPS_PROXY, HTTP_PROXY and NO_PROXY of the process that sends
    auth: AuthConfig | None = None
    # A receiver's 410 Gone: pause the hook (its deliveries wait for `hookd hooks resume`), or fail the
    # delivery for good, as any other final 4xx.
    on_gone: Literal["pause", "fail"] = "pause"
    breaker: BreakerConfig | None = None  # no circuit breaker unless configured
    # Requests per time: the hook's `rate_limit`, or its group's (resolved by the loader from
    # delivery.rate_limit_groups); None: no limit. Hooks with the same group share one token bucket.
    rate_limit: Rate | None = None
    rate_limit_group: str | None = None
    batch: BatchConfig | None = None  # None: one request per delivery
    origin: Origin | None = field(default_factory=_no_origin, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfig:
    concurrency: int = 100
    shutdown_timeout_s: float = 30.0
    require_https: bool = False
    proxy: str | None = field(default=None, repr=False)
    trust_env: bool = False
    # Shared rate limits by name: each hook naming one in `rate_limit_group` takes from its bucket.
    rate_limit_groups: MappingProxyType[str, Rate] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminConfig:
    listen: tuple[str, int] = ("127.0.0.1", 8780)
    # A unix socket instead of `listen` (lint refuses both): its file mode decides who may reload,
    # tail or pause hooks on a shared host, so the default lets only the daemon's own user in.
    path: Path | None = None
    mode: int = 0o600
    token: str | None = field(default=None, repr=False)
    # Set by the loader when the file has an `admin:` section: only then does the daemon listen, so
    # configs without one (and every test daemon) never contend for the default port. Not a YAML
    # key, so not in the schema.
    enabled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """One loaded config file."""

    config_path: Path
    config_sha256: str
    version: int = 1
    storage: StorageConfig = field(default_factory=StorageConfig)
    sources: tuple[SourceConfig, ...] = ()
    hooks: tuple[HookConfig, ...] = ()
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    # (value, "${VAR}") for every value taken from the environment or a file: redacted at runtime.
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def hook(self, name: str) -> HookConfig | None:
        return next((h for h in self.hooks if h.name == name), None)
