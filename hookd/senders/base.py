"""The Sender interface: one HTTP request out, one Outcome back. Failures are outcomes, not exceptions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, Protocol, overload

from hookd.redact import Redactor

if TYPE_CHECKING:
    from hookd.senders.endpoint import EndpointSpec

# What happened to an attempt, as a fact beside the prose of `error`: what breakers, presets and metrics
# key off, never the message text. The sender reports it; the daemon classifies per hook (a preset
# reads its service's answers).
OutcomeKind = Literal[
    "delivered",  # a 2xx
    "http_status",  # another status, final (no redirect to follow)
    "rate_limited",  # the receiver said too many requests: a 429, or a service's own throttling answer
    "redirect",  # a 3xx that is not followed, or a redirect refused
    "timeout",  # no answer within the hook's timeout
    "connect",  # no connection, or it broke before the answer
    "tls",  # the TLS handshake failed
    "proxy",  # the proxy refused or failed
    "refused",  # the destination guard refused every address
    "invalid_request",  # the request cannot be built or sent (a bad URL, a header aiohttp refuses)
    "auth",  # the endpoint's credentials could not be had (an OAuth 2.0 token endpoint failed)
    "endpoint",  # the endpoint cannot be set up (TLS files that no longer load)
    "worker",  # the delivery worker process was not there to send it
    "render",  # the request could not be rendered from the event
    "internal",  # a bug in hookd
    "cancelled",  # cut off by a stop
]


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True, kw_only=True)
class OutboundRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout_s: float  # for the whole attempt, redirects included
    follow_redirects: bool = False
    # Headers that carry credentials (Authorization, Cookie, a value from ${VAR}): sent to the hook's
    # own origin only, never after a redirect to another scheme, host or port.
    private_headers: frozenset[str] = frozenset()
    # The hook the request is for: its endpoint profile (hookd.senders.endpoint) finishes the request.
    endpoint: str = ""
    # Keep the answer's body whole up to this many bytes (Outcome.relay_body): a sync http source
    # relays it to its caller (hookd.inbound.sync). 0: only the excerpt history keeps.
    relay_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of a followed redirect chain: where it went, and the answer's status (None: no answer)."""

    url: str
    status: int | None


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True, kw_only=True)
class Outcome:
    status: int | None  # HTTP status; None when no response arrived
    ok: bool  # 2xx
    retryable: bool  # worth another attempt (connection errors, timeouts, 408/425/429/5xx)
    duration_s: float
    # Why it failed; "" when ok. URL credentials are already out; config secrets go in redact_outcome.
    error: str = ""
    # The receiver's wait, from its Retry-After (or, read by a preset, its body). On a success it is the
    # pause the receiver asked for before the next request (Discord's emptied rate-limit bucket).
    retry_after_s: float | None = None
    # The wait above is for every request to the hook, not only this delivery's next: the service's
    # rate-limit bucket that this failure spent (read by a preset). A success's wait always is.
    holds_lane: bool = False
    response_excerpt: str = ""  # the start of the response body
    response_truncated: bool = False  # the body went on past the excerpt (which may end mid-secret)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    # Every request of the attempt, in order, when a redirect was followed (the last one went to the
    # final URL); empty when the first answer was the last.
    hops: tuple[Hop, ...] = ()
    kind: OutcomeKind = "http_status"
    # The whole body of the answer, when the request asked for it (relay_bytes) and it fit; with its
    # Content-Type. Never stored: a sync http source hands it to its caller and drops it.
    relay_body: bytes | None = None
    relay_content_type: str = ""


def redact_outcome(outcome: Outcome, redactor: Redactor) -> Outcome:
    """The outcome as it may be logged, stored or printed: the config's secrets hidden by value in the
    error, the response's headers and body excerpt and each hop's URL, and a Location's credentials
    dropped. Applied to every outcome as it comes back from a sender, before anything sees it."""
    if not redactor and not outcome.hops and "location" not in outcome.response_headers:
        return outcome  # nothing to hide: the common case, on every attempt
    relay = outcome.relay_body
    return replace(
        outcome,
        error=redactor.text(outcome.error),
        response_excerpt=redactor.text(outcome.response_excerpt, cut=outcome.response_truncated),
        response_headers=redactor.response_headers(outcome.response_headers),
        hops=tuple(Hop(redactor.url(h.url), h.status) for h in outcome.hops),
        relay_body=None if relay is None else relay_text(redactor.text(relay_text(relay))),
    )


@overload
def relay_text(body: bytes) -> str: ...
@overload
def relay_text(body: str) -> bytes: ...
def relay_text(body: bytes | str) -> str | bytes:
    """A relayed answer's bytes as text to hide secrets in, and back: bytes that are not UTF-8 go
    through unchanged (surrogateescape), so a binary answer is relayed as it came."""
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="surrogateescape")
    return body.encode("utf-8", errors="surrogateescape")


def no_response(error: str, started: float, *, retryable: bool, kind: OutcomeKind) -> Outcome:
    """The outcome of an attempt that got no HTTP response; `started` is its time.perf_counter()."""
    return Outcome(
        status=None, ok=False, retryable=retryable, duration_s=time.perf_counter() - started, error=error, kind=kind
    )


class EndpointFailure(OSError):
    """Raised while sending when a hook's endpoint cannot set up a request (TLS files that no longer
    load, a proxy in the environment hookd cannot use): the attempt fails, retryable, with this message."""


class Sender(Protocol):
    async def send(self, request: OutboundRequest) -> Outcome:
        """Send once (one attempt: with follow_redirects, the same request to each redirect target, at
        most 5). Never raises for network or HTTP failures; safe to cancel (nothing is recorded)."""
        ...

    async def start(self) -> None:
        """Open the connection pool (at daemon start, so its errors show then). Idempotent."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...

    def configure(self, endpoints: Mapping[str, EndpointSpec]) -> None:
        """Use these endpoint profiles (a hook's TLS, auth, signer) from the next request on (reload)."""
        ...
