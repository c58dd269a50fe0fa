"""What an http source refuses from a request's line and headers alone, before reading its body:
the caller's address (allow_ips), the method, a compressed body. One function for the live source
(hookd.sources.http) and for `hookd test --request` (hookd.inbound.recorded), so the dry run
refuses what the daemon refuses, for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hookd.config.model import HttpSourceConfig
from hookd.inbound.addresses import Network, parse_address, within

# What a request for a path no http source has is answered (and its rejection says).
NO_SOURCE_ANSWER = "no http source listens on this path"


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str  # for the rejection record and the log
    answer: str  # for the sender
    headers: Mapping[str, str] = field(default_factory=dict)


def refused_before_body(
    config: HttpSourceConfig,
    allowed: Sequence[Network],
    remote: str,
    method: str,
    handshake_get: bool,
    content_encoding: str | None,
) -> Refusal | None:
    """Why the source refuses a request from `remote` before reading its body, or None. `allowed`:
    the source's allow_ips as networks (empty: any address); `handshake_get`: a GET with hub.mode,
    taken whatever the methods (Meta's verification)."""
    if allowed:
        address = parse_address(remote)
        if address is None or not within(address, allowed):
            return Refusal(403, f"{remote} is not in allow_ips", "forbidden")
    if method not in config.methods and not handshake_get:
        reason = f"method {method} is not one of {', '.join(config.methods)}"
        return Refusal(405, reason, reason, {"Allow": ", ".join(config.methods)})
    if content_encoding is not None and content_encoding.strip().lower() != "identity":
        # Signatures cover the bytes sent, and inflating could grow a body past the limit.
        reason = f"the body is sent with Content-Encoding {content_encoding!r}; hookd takes bodies uncompressed"
        return Refusal(415, reason, reason)
    return None
