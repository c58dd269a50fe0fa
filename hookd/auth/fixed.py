"""Credentials that never change: bearer, basic and api_key. Made once, when the endpoint is built."""

from __future__ import annotations

import base64

import aiohttp

from hookd.auth.base import Credentials, Route
from hookd.config.model import ApiKeyAuth, BasicAuth, BearerAuth


class FixedAuth:
    """Implements hookd.auth.base.Authenticator with the same credentials for every request."""

    __slots__ = ("_credentials",)

    def __init__(self, config: BearerAuth | BasicAuth | ApiKeyAuth) -> None:
        self._credentials = fixed_credentials(config)

    async def credentials(self, session: aiohttp.ClientSession, route: Route, timeout_s: float) -> Credentials:
        return self._credentials

    async def renewed(
        self, session: aiohttp.ClientSession, route: Route, stale: Credentials, timeout_s: float
    ) -> Credentials:
        return self._credentials


def fixed_credentials(config: BearerAuth | BasicAuth | ApiKeyAuth) -> Credentials:
    if isinstance(config, BearerAuth):
        return Credentials(headers=(("Authorization", f"Bearer {config.token}"),))
    if isinstance(config, BasicAuth):
        # RFC 7617: UTF-8, as every current client sends it (the RFC's charset="UTF-8" says so).
        pair = f"{config.username}:{config.password}".encode()
        return Credentials(headers=(("Authorization", "Basic " + base64.b64encode(pair).decode("ascii")),))
    if config.header is not None:
        return Credentials(headers=((config.header, config.value),))
    assert config.query is not None  # the schema requires one of the two
    return Credentials(query=(config.query, config.value))
