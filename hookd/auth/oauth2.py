"""The `oauth2` auth: client credentials (RFC 6749 section 4.4), one token per token key per process.

A TokenCache belongs to the process that sends (its HttpSender) and outlives reloads. Every hook
whose auth has the same (token_url, client_id, scope, audience) shares one entry: the first request
that finds no usable token starts one fetch, and every other request for that key waits for it
(its own attempt timeout still applies). A token is used until REFRESH_MARGIN_S before it expires
(or half its lifetime, for a short-lived one), counted from when its fetch started; a 401 from the
endpoint drops it, once per attempt, and the same single fetch gets a new one.

What the token endpoint answers is never recorded: a failure's reason holds its status and the
`error` and `error_description` it gave, the token joins the sender's RunTimeSecrets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode

import aiohttp
import orjson
import yarl

from hookd.auth.base import AuthFailed, Credentials, Route
from hookd.auth.hiding import RunTimeSecrets
from hookd.clock import Clock
from hookd.config.model import OAuth2Auth
from hookd.logs import LogLine
from hookd.redact import redact_url
from hookd.senders.base import EndpointFailure
from hookd.senders.proxy import describe_proxy_failure
from hookd.senders.tls import describe_tls_failure

log = logging.getLogger("hookd.auth.oauth2")

# A token is fetched again this long before the token endpoint said it expires: a request sent with it
# just before then still arrives while it is valid, across clock skew and a slow receiver.
REFRESH_MARGIN_S = 30.0
# A token endpoint that gives no expires_in (RFC 6749 makes it optional): used for this long, and
# fetched again earlier if the endpoint answers 401.
DEFAULT_LIFETIME_S = 3600.0
MAX_ANSWER_BYTES = 64 * 1024
_MAX_REASON_CHARS = 300
_TOKEN_CHARS = frozenset(map(chr, range(0x21, 0x7F)))  # a header value carries them as they are

TokenKey = tuple[str, str, str | None, str | None]


@dataclass(slots=True)
class _Entry:
    token: str | None = None
    refresh_at: float = -math.inf
    fetching: asyncio.Future[str] | None = field(default=None, repr=False)


class TokenCache:
    """The OAuth2 tokens of one process, one per token key, each fetched by one request at a time."""

    def __init__(self, clock: Clock, hidden: RunTimeSecrets, user_agent: str) -> None:
        self.clock = clock
        self.hidden = hidden
        self.user_agent = user_agent
        self._entries: dict[TokenKey, _Entry] = {}

    async def token(self, config: OAuth2Auth, session: aiohttp.ClientSession, route: Route, timeout_s: float) -> str:
        """A token for `config`: the cached one while it is fresh, else the one being fetched now (by
        the first request that found none, over its hook's `route`)."""
        entry = self._entries.setdefault(config.token_key, _Entry())
        if entry.token is not None and self.clock.now() < entry.refresh_at:
            return entry.token
        return await self._fetched(entry, config, session, route, timeout_s)

    async def renewed(
        self, config: OAuth2Auth, session: aiohttp.ClientSession, route: Route, stale: str, timeout_s: float
    ) -> str:
        """A token other than `stale`, which the endpoint refused: a newer one another request got
        meanwhile, or a new fetch."""
        entry = self._entries.setdefault(config.token_key, _Entry())
        if entry.token == stale:
            entry.token, entry.refresh_at = None, -math.inf
        if entry.token is not None and self.clock.now() < entry.refresh_at:
            return entry.token
        return await self._fetched(entry, config, session, route, timeout_s)

    async def _fetched(
        self, entry: _Entry, config: OAuth2Auth, session: aiohttp.ClientSession, route: Route, timeout_s: float
    ) -> str:
        if entry.fetching is None:
            # A task of its own: a request that is cancelled (or times out) while waiting leaves the
            # fetch running for the others.
            entry.fetching = asyncio.ensure_future(self._fetch(entry, config, session, route, timeout_s))
            entry.fetching.add_done_callback(_retrieve)
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(entry.fetching)
        except TimeoutError:
            raise AuthFailed(
                f"{_where(config)}: no token within {timeout_s:g}s (hook timeout), the token endpoint is slow to answer"
            ) from None

    async def _fetch(
        self, entry: _Entry, config: OAuth2Auth, session: aiohttp.ClientSession, route: Route, timeout_s: float
    ) -> str:
        try:
            started = self.clock.now()
            token, lifetime = await fetch_token(config, session, route, timeout_s, self.user_agent, hidden=self.hidden)
            self.hidden.add(token)
            entry.token = token
            entry.refresh_at = started + lifetime - min(REFRESH_MARGIN_S, lifetime / 2)
            log.info(
                LogLine(
                    "fetched an OAuth2 token",
                    {"token_url": redact_url(config.token_url), "client_id": config.client_id, "expires_in": lifetime},
                )
            )
            return token
        finally:
            entry.fetching = None


def _retrieve(fetch: asyncio.Future[str]) -> None:
    # Every waiter may have given up (cancelled, timed out): the failure is theirs, not the loop's to log.
    if not fetch.cancelled():
        fetch.exception()


async def fetch_token(
    config: OAuth2Auth,
    session: aiohttp.ClientSession,
    route: Route,
    timeout_s: float,
    user_agent: str,
    *,
    hidden: RunTimeSecrets | None = None,
) -> tuple[str, float]:
    """One token request: (access_token, seconds it is valid). Raises AuthFailed with the reason, in
    which the values of `hidden` and the request's own client credential are hidden."""
    authorization = _client_authorization(config)
    try:
        return await _request_token(config, session, route, timeout_s, user_agent, authorization)
    except AuthFailed as e:
        # A token endpoint may echo the Authorization it got (in error_description, say). That base64
        # is of the form-encoded id and secret, which the config's redaction does not know when the
        # secret holds a character form encoding changes (/ + = and others).
        made = [authorization.removeprefix("Basic ")] if authorization is not None else []
        raise AuthFailed((hidden or RunTimeSecrets()).text(e.reason, made)) from None


def _client_authorization(config: OAuth2Auth) -> str | None:
    """The Authorization header of a token request with `client_auth: basic`."""
    if config.client_auth != "basic":
        return None
    # RFC 6749 section 2.3.1: each part form-encoded before the pair is base64-encoded.
    pair = f"{quote_plus(config.client_id)}:{quote_plus(config.client_secret)}".encode("ascii")
    return "Basic " + base64.b64encode(pair).decode("ascii")


async def _request_token(
    config: OAuth2Auth,
    session: aiohttp.ClientSession,
    route: Route,
    timeout_s: float,
    user_agent: str,
    authorization: str | None,
) -> tuple[str, float]:
    form = {"grant_type": "client_credentials"}
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": user_agent,
    }
    if config.scope is not None:
        form["scope"] = config.scope
    if config.audience is not None:
        form["audience"] = config.audience
    if authorization is not None:
        headers["Authorization"] = authorization
    else:
        form["client_id"] = config.client_id
        form["client_secret"] = config.client_secret
    where = _where(config)
    try:
        url = yarl.URL(config.token_url)
        ssl, proxy = route(url)
        async with session.post(
            url,
            data=urlencode(form).encode("ascii"),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            allow_redirects=False,  # the client secret goes to the configured URL only
            ssl=ssl,
            proxy=proxy,
        ) as response:
            status = response.status
            body = await _read_answer(response)
    except TimeoutError:
        raise AuthFailed(f"{where}: timed out after {timeout_s:g}s (hook timeout)") from None
    except EndpointFailure as e:
        raise AuthFailed(f"{where}: {e}") from None
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as e:
        raise AuthFailed(f"{where}: {describe_proxy_failure(e)}") from None
    except aiohttp.ClientSSLError as e:
        raise AuthFailed(f"{where}: TLS error: {describe_tls_failure(e)}") from None
    except aiohttp.ClientConnectorError as e:
        reason = e.os_error.strerror if e.os_error and e.os_error.strerror else type(e).__name__
        raise AuthFailed(f"{where}: cannot connect to {e.host}:{e.port}: {reason}") from None
    except (aiohttp.ClientError, OSError, ValueError) as e:
        raise AuthFailed(f"{where}: {type(e).__name__}") from None
    if body is None:
        raise AuthFailed(f"{where}: HTTP {status}, but the answer is larger than {MAX_ANSWER_BYTES // 1024} KiB")
    answer = _json_object(body)
    if not 200 <= status < 300:
        said = _said(answer)
        hint = "; check client_id and client_secret" if status in (400, 401) and not said else ""
        if 300 <= status < 400:
            hint = "; the token endpoint redirects: set token_url to the final URL"
        raise AuthFailed(f"{where}: HTTP {status}{said}{hint}")
    if answer is None:
        raise AuthFailed(f"{where}: HTTP {status}, but the answer is not a JSON object")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthFailed(f"{where}: HTTP {status}, but the answer has no access_token{_said(answer)}")
    if not set(token) <= _TOKEN_CHARS:
        raise AuthFailed(f"{where}: the access_token holds characters an Authorization header cannot carry")
    return token, _lifetime(answer.get("expires_in"), config)


async def _read_answer(response: aiohttp.ClientResponse) -> bytes | None:
    """The whole answer, however many chunks it comes in; None if it is longer than MAX_ANSWER_BYTES."""
    body = bytearray()
    while len(body) <= MAX_ANSWER_BYTES:
        chunk = await response.content.read(MAX_ANSWER_BYTES + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    return None


def _where(config: OAuth2Auth) -> str:
    return f"cannot get an OAuth2 token from {redact_url(config.token_url)}"


def _json_object(body: bytes) -> dict[str, object] | None:
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(body)
        if isinstance(value, dict):
            return value
    return None


def _said(answer: dict[str, object] | None) -> str:
    """The `error` and `error_description` of a token endpoint's answer (RFC 6749 section 5.2), as a
    part of a reason: short, one line, nothing else of the body."""
    if answer is None:
        return ""
    parts = [_one_line(answer.get(key)) for key in ("error", "error_description")]
    said = ": ".join(p for p in parts if p)
    return f" ({said})" if said else ""


def _one_line(value: object) -> str:
    if not isinstance(value, str):
        return ""
    text = "".join(c if c.isprintable() else " " for c in value).strip()
    return text if len(text) <= _MAX_REASON_CHARS else text[:_MAX_REASON_CHARS] + "..."


def _lifetime(expires_in: object, config: OAuth2Auth) -> float:
    """Seconds a token is valid, from expires_in (a number, or a number as text as some endpoints send)."""
    if expires_in is None:
        return DEFAULT_LIFETIME_S
    try:
        seconds = float(expires_in) if isinstance(expires_in, int | float | str) else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        log.warning(
            LogLine(
                f"the token endpoint's expires_in is not a number of seconds; using the token for at most "
                f"{DEFAULT_LIFETIME_S:g}s",
                {"token_url": redact_url(config.token_url), "client_id": config.client_id},
            )
        )
        return DEFAULT_LIFETIME_S
    return seconds


class OAuth2Client:
    """Implements hookd.auth.base.Authenticator: a hook's token from the process's TokenCache."""

    __slots__ = ("_config", "_tokens")

    def __init__(self, config: OAuth2Auth, tokens: TokenCache) -> None:
        self._config = config
        self._tokens = tokens

    async def credentials(self, session: aiohttp.ClientSession, route: Route, timeout_s: float) -> Credentials:
        return _bearer(await self._tokens.token(self._config, session, route, timeout_s))

    async def renewed(
        self, session: aiohttp.ClientSession, route: Route, stale: Credentials, timeout_s: float
    ) -> Credentials:
        assert stale.made is not None
        return _bearer(await self._tokens.renewed(self._config, session, route, stale.made, timeout_s))


def _bearer(token: str) -> Credentials:
    return Credentials(headers=(("Authorization", f"Bearer {token}"),), made=token, renewable=True)
