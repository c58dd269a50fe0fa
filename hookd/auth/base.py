"""What every auth scheme gives the sender: the credentials one request carries."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import yarl

# How the hook that asks reaches a URL other than its endpoint (a token endpoint): aiohttp's `ssl=`
# (its trust, without its client certificate unless it is the same host) and `proxy=`. Raises
# hookd.senders.base.EndpointFailure (an OSError) when the hook cannot set up a request.
Route = Callable[[yarl.URL], tuple[ssl.SSLContext | bool, yarl.URL | None]]


class AuthFailed(Exception):
    """The credentials could not be had (the token endpoint failed): a failed attempt, retried on the
    hook's schedule. The message is the reason, as history shows it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one request carries to prove who sends it."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[str, str] | None = None  # (name, value): a parameter added to the URL
    # A value made at run time for this request (a JWT, an OAuth2 token): a secret the config does
    # not know, hidden by the sender in what the request returns.
    made: str | None = None
    renewable: bool = False  # a 401 may be answered with fresh credentials (OAuth2)


class Authenticator(Protocol):
    """One hook's auth, ready in the process that sends."""

    async def credentials(self, session: aiohttp.ClientSession, route: Route, timeout_s: float) -> Credentials:
        """The credentials for the next request. Raises AuthFailed."""
        ...

    async def renewed(
        self, session: aiohttp.ClientSession, route: Route, stale: Credentials, timeout_s: float
    ) -> Credentials:
        """Fresh credentials after the endpoint refused `stale` (only asked when `stale.renewable`).
        Raises AuthFailed."""
        ...
