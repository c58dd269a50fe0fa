"""The Sender interface: one HTTP request out, one Outcome back. Failures are outcomes, not exceptions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True, kw_only=True)
class OutboundRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout_s: float
    follow_redirects: bool = False


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True, kw_only=True)
class Outcome:
    status: int | None  # HTTP status; None when no response arrived
    ok: bool  # 2xx
    retryable: bool  # worth another attempt (connection errors, timeouts, 408/425/429/5xx)
    duration_s: float
    error: str = ""  # why it failed, redacted (no credentials); "" when ok
    retry_after_s: float | None = None  # from the receiver's Retry-After, when given
    response_excerpt: str = ""  # the start of the response body
    response_headers: Mapping[str, str] = field(default_factory=dict)


def no_response(error: str, started: float, *, retryable: bool) -> Outcome:
    """The outcome of an attempt that got no HTTP response; `started` is its time.perf_counter()."""
    return Outcome(status=None, ok=False, retryable=retryable, duration_s=time.perf_counter() - started, error=error)


class Sender(Protocol):
    async def send(self, request: OutboundRequest) -> Outcome:
        """Send once. Never raises for network or HTTP failures; safe to cancel (nothing is recorded)."""
        ...

    async def start(self) -> None:
        """Open the connection pool (at daemon start, so its errors show then). Idempotent."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...
