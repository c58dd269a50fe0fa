"""The `jwt` auth: a token signed for each request, with PyJWT."""

from __future__ import annotations

import secrets
import warnings
from typing import TYPE_CHECKING, Any

import aiohttp

from hookd.auth.base import Credentials, Route
from hookd.auth.hiding import RunTimeSecrets
from hookd.auth.keys import HMAC_ALGORITHMS, load_signing_key
from hookd.clock import Clock
from hookd.config.model import JwtAuth

if TYPE_CHECKING:
    from hookd.auth.keys import SigningKey


class JwtSigner:
    """Implements hookd.auth.base.Authenticator: a fresh JWT per request (iat, exp = iat + ttl, a
    random jti, and the configured claims), sent as Authorization: Bearer."""

    __slots__ = ("_algorithm", "_claims", "_clock", "_encode", "_hidden", "_key", "_ttl_s")

    def __init__(self, config: JwtAuth, clock: Clock, hidden: RunTimeSecrets) -> None:
        # PyJWT (and the cryptography it loads) only in a process with a jwt hook: ~9 MB otherwise spent.
        import jwt
        from jwt.warnings import InsecureKeyLengthWarning

        # `hookd validate` reports a key shorter than its algorithm should have, naming the field;
        # PyJWT would repeat it on every token this process signs.
        warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
        self._encode = jwt.encode
        self._algorithm = config.algorithm
        self._key: bytes | SigningKey
        if config.algorithm in HMAC_ALGORITHMS:
            assert config.secret is not None  # the config check requires it
            self._key = config.secret.encode("utf-8")
        else:
            assert config.private_key is not None  # the config check requires it, and loaded it once
            self._key = load_signing_key(config.algorithm, config.private_key)
        self._claims = dict(config.claims)
        self._ttl_s = config.ttl_s
        self._clock = clock
        # Each token made is hidden from then on, in what any request returns: a receiver may echo
        # an earlier request's token, or one sent by a request still in flight.
        self._hidden = hidden

    def token(self) -> str:
        now = int(self._clock.now())
        claims: dict[str, Any] = {**self._claims, "iat": now, "exp": now + max(1, round(self._ttl_s))}
        claims["jti"] = secrets.token_urlsafe(16)
        token = self._encode(claims, self._key, algorithm=self._algorithm)
        self._hidden.add_per_request(token)
        return token

    async def credentials(self, session: aiohttp.ClientSession, route: Route, timeout_s: float) -> Credentials:
        token = self.token()
        return Credentials(headers=(("Authorization", f"Bearer {token}"),), made=token)

    async def renewed(
        self, session: aiohttp.ClientSession, route: Route, stale: Credentials, timeout_s: float
    ) -> Credentials:
        return await self.credentials(session, route, timeout_s)
