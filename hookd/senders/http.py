"""The HTTP sender: one shared aiohttp ClientSession, keep-alive, failures classified into outcomes."""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Mapping
from urllib.parse import quote, unquote_plus, urlsplit

import aiohttp
import yarl

from hookd.auth.base import Authenticator, AuthFailed, Credentials, Route
from hookd.auth.hiding import RunTimeSecrets
from hookd.auth.oauth2 import TokenCache
from hookd.clock import Clock, RealClock
from hookd.redact import redact_url
from hookd.retry import parse_retry_after
from hookd.senders.base import EndpointFailure, Hop, OutboundRequest, Outcome, OutcomeKind, no_response
from hookd.senders.endpoint import PLAIN, Endpoint, EndpointSpec, build_endpoints
from hookd.senders.guard import Destinations, GuardedSockets, Watch, check_proxied, refusal_message
from hookd.senders.proxy import PROXY_AUTH_REFUSED, describe_proxy_failure
from hookd.senders.tls import describe_tls_failure

RESPONSE_EXCERPT_BYTES = 4096
_READ_CAP_BYTES = 64 * 1024  # read at most this much of a response; more closes the connection
_RETRYABLE_STATUS = frozenset({408, 425, 429})
_MAX_CACHED_URLS = 1024
_CONTENT_TYPE = ("Content-Type",)
# webhook-delivery: a receiver's `disable` asks hookd to pause the hook (Standard Webhooks proposal).
# x-ratelimit-*: Discord's bucket, which its preset reads to pause before the bucket is empty.
_KEPT_RESPONSE_HEADERS = (
    "content-type", "content-length", "retry-after", "location", "server", "date", "webhook-delivery",
    "x-ratelimit-remaining", "x-ratelimit-reset-after",
)  # fmt: skip
# Followed with `follow_redirects: true`, each with the same method, body and headers (as curl's
# --post301 --post302 --post303 do): a webhook turned into a body-less GET would be lost.
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Appended to the reason of a 401 that answered a token fetched anew after a first 401 (hookd.auth).
REFUSED_RENEWED = (
    "; the endpoint refused a freshly fetched OAuth2 token too: check that it accepts tokens from this "
    "token_url, client_id, scope and audience"
)
MAX_REDIRECTS = 5
_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")
_ALWAYS_PRIVATE = frozenset({"authorization", "proxy-authorization", "cookie"})
# A character an encoded URL cannot hold (RFC 3986 allows unreserved, reserved and %XX), or a `%`
# that does not start an escape.
_NOT_IN_A_URL = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]|%(?![0-9A-Fa-f]{2})")


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


class HttpSender:
    """Implements hookd.senders.base.Sender with aiohttp."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        user_agent: str = "hookd",
        endpoints: Mapping[str, EndpointSpec] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.user_agent = user_agent
        self.clock: Clock = clock or RealClock()  # OAuth2 token lifetimes and JWT times
        # Secrets this process makes while sending (tokens, JWTs), hidden in every outcome it returns.
        self.hidden = RunTimeSecrets()
        # OAuth2 tokens, one per token key, shared by all hooks and kept across configure().
        self.tokens = TokenCache(self.clock, self.hidden, user_agent)
        self._endpoints: dict[str, Endpoint] = {}
        self.configure(endpoints or {})
        self._session: aiohttp.ClientSession | None = None
        # For templated URLs and redirects: one session per set of allowed networks, each with a
        # connector whose socket factory checks the address it connects to (senders.guard).
        self._guarded: dict[Destinations, aiohttp.ClientSession] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}  # a hook's URL is parsed once, not once per request

    def configure(self, endpoints: Mapping[str, EndpointSpec]) -> None:
        """Talk to each hook's endpoint as its spec says, from the next request on."""
        self._endpoints = build_endpoints(endpoints, self.tokens, self.clock)

    def _url(self, url: str) -> yarl.URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _MAX_CACHED_URLS:
                self._urls.clear()  # templated URLs could otherwise grow it without bound
            parsed = self._urls[url] = as_sent(url)
        return parsed

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = self._new_session(None)

    def _new_session(self, sockets: GuardedSockets | None) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, limit_per_host=0, keepalive_timeout=30, socket_factory=sockets
        )
        # Rendered requests carry complete headers (rendering.py), so the session adds none: session
        # headers, or skip_auto_headers, cost a copy of every request's headers in aiohttp.
        # No cookie jar: a cookie one receiver sets must not ride along on later deliveries.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True)

    def _guarded_session(self, destinations: Destinations) -> aiohttp.ClientSession:
        """The session for a request whose destination the config did not write: each address it
        connects to is checked after DNS. (Behind an outbound proxy the connector would see only the
        proxy's address: such a request needs its destination checked another way, not this session.)"""
        session = self._guarded.get(destinations)
        if session is None:
            session = self._guarded[destinations] = self._new_session(GuardedSockets(destinations))
        return session

    async def close(self) -> None:
        sessions = [self._session, *self._guarded.values()]
        self._session = None
        self._guarded = {}
        for session in sessions:
            if session is not None:
                await session.close()

    async def send(self, request: OutboundRequest) -> Outcome:
        if self._session is None:
            await self.start()
        endpoint = self._endpoints.get(request.endpoint, PLAIN)
        prepared = self._prepare(request, endpoint)
        if isinstance(prepared, Outcome):
            return prepared
        session, url, headers, started = prepared
        if endpoint.auth is None and not endpoint.spec.templated_url and not request.follow_redirects:
            # The common request: one exchange, no credentials to fetch or renew, no redirect to follow,
            # nothing the guard checks (its context costs on every request). Sent from here, not through
            # _follow's loop: each coroutine between this one and aiohttp's is resumed at every step
            # of the request (bench/: worker CPU per request, see the commit).
            try:
                status, answer, excerpt = await self._exchange(
                    session, request, endpoint, url, headers, self._timeout(request.timeout_s), True
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                return _no_answer(e, request, started, url, url, endpoint)
            except (ValueError, TypeError) as e:  # as in _follow: aiohttp refuses to build it, final
                return no_response(
                    f"cannot build the request: {_text(e, url, url)}", started, retryable=False, kind="invalid_request"
                )
            return _classify_response(status, answer, excerpt, time.perf_counter() - started, request)
        with Watch() as watch:  # the destination guard reports each address it refuses here
            if endpoint.auth is None:
                return await self._follow(request, endpoint, session, url, headers, started, watch, None)
            return await self._authenticated(request, endpoint, session, url, headers, started, watch)

    def _prepare(
        self, request: OutboundRequest, endpoint: Endpoint
    ) -> tuple[aiohttp.ClientSession, yarl.URL, Mapping[str, str], float] | Outcome:
        """The session, URL and headers the request starts with (and when it started), or the outcome
        of a URL that cannot be sent."""
        assert self._session is not None
        started = time.perf_counter()
        try:
            url = self._url(request.url)
        except ValueError:
            return no_response(
                f"invalid URL {redact_url(request.url)}", started, retryable=False, kind="invalid_request"
            )
        session = self._guarded_session(endpoint.destinations) if endpoint.spec.templated_url else self._session
        # The rendered headers as they are, unless the endpoint adds to them (a copy: the request is
        # the caller's).
        headers = endpoint.finish(request, dict(request.headers)) if endpoint.adds_headers else request.headers
        if not _has_header(headers, "User-Agent"):
            headers = {**headers, "User-Agent": self.user_agent}
        return session, url, headers, started

    async def _authenticated(
        self,
        request: OutboundRequest,
        endpoint: Endpoint,
        session: aiohttp.ClientSession,
        url: yarl.URL,
        headers: Mapping[str, str],
        started: float,
        watch: Watch,
    ) -> Outcome:
        """An attempt of a hook with `auth`: credentials first (fetched, for OAuth2), then the requests."""
        assert self._session is not None and isinstance(headers, dict)  # with credentials, _prepare copied them
        assert endpoint.auth is not None
        first = url
        # A token endpoint is reached as the hook's requests are (its config names it: no guard), with
        # the hook's client certificate only on the hook's own host.
        carried = _Carried(endpoint.auth, lambda to: (endpoint.ssl_for(to.host == first.host), endpoint.proxy_for(to)))
        try:
            url = await carried.attach(self._session, url, headers, request.timeout_s)
        except AuthFailed as e:
            return self.hidden.outcome(no_response(e.reason, started, retryable=True, kind="auth"))
        outcome = await self._follow(request, endpoint, session, url, headers, started, watch, carried)
        if outcome.hops:  # each hop's URL as history shows it: without the credentials' query parameter
            outcome.hops = tuple(Hop(str(carried.shown(yarl.URL(h.url, encoded=True))), h.status) for h in outcome.hops)
        return self.hidden.outcome(outcome, carried.made)

    async def _follow(
        self,
        request: OutboundRequest,
        endpoint: Endpoint,
        session: aiohttp.ClientSession,
        url: yarl.URL,
        headers: Mapping[str, str],
        started: float,
        watch: Watch,
        carried: _Carried | None,
    ) -> Outcome:
        """The requests of one attempt: the first, each redirect followed, and with `carried`
        credentials one resend with fresh ones after a 401."""
        first = url
        own_host = True  # the request goes to the hook's own host: credentials and client certificate go
        hops: list[Hop] = []
        timeout = self._timeout(request.timeout_s) if carried is None else _rest_of(request, started)
        while True:
            if timeout is None:  # fetching the credentials took all of it
                return _after(hops, url, None, _no_answer(TimeoutError(), request, started, url, url, endpoint))
            watch.clear()
            try:
                status, answer, excerpt = await self._exchange(
                    session, request, endpoint, url, headers, timeout, own_host
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                if watch.only_refused:  # final: the same addresses are refused on every attempt
                    refused = no_response(
                        refusal_message(url.host or "", watch.refused), started, retryable=False, kind="refused"
                    )
                    return _after(hops, url, None, refused)
                shown = carried.shown(url) if carried is not None else url
                return _after(hops, url, None, _no_answer(e, request, started, url, shown, endpoint))
            except (ValueError, TypeError) as e:
                # aiohttp refuses to build the request (a control character in a header, a method it will
                # not send): the same request fails the same way every time, so it is final, not retried.
                shown = carried.shown(url) if carried is not None else url
                built = no_response(
                    f"cannot build the request: {_text(e, url, shown)}",
                    started,
                    retryable=False,
                    kind="invalid_request",
                )
                return _after(hops, url, None, built)
            if status == 401 and carried is not None and carried.may_renew():
                assert self._session is not None
                try:
                    assert isinstance(headers, dict)  # with credentials, _send made its own copy
                    url = await carried.renew(self._session, url, headers, request.timeout_s)
                except AuthFailed as e:
                    return _after(hops, url, None, no_response(e.reason, started, retryable=True, kind="auth"))
                timeout = _rest_of(request, started)
                continue
            location = answer.get("Location") if request.follow_redirects and status in REDIRECT_STATUS else None
            if location:
                location = _header_text("Location", location)
            if not location:
                outcome = _classify_response(status, answer, excerpt, time.perf_counter() - started, request)
                if status == 401 and carried is not None and carried.renewed:
                    outcome.error += REFUSED_RENEWED
                return _after(hops, url, status, outcome)
            hops.append(Hop(str(url), status))
            target, refusal = _redirect_target(url, location, len(hops))
            if target is None:
                return Outcome(status=status, ok=False, retryable=False, duration_s=time.perf_counter() - started,
                               error=refusal, response_headers=_kept(answer), hops=tuple(hops),
                               kind="redirect")  # fmt: skip
            if not _same_host(first, target):
                # Credentials stay with the hook's own host, as curl and requests keep Authorization
                # (signature headers go on: they prove the body, not who we are); once dropped they stay
                # dropped, even if the chain comes back. The client certificate stays behind too.
                private = self._private(request) | endpoint.private_headers
                headers = {k: v for k, v in headers.items() if k.lower() not in private}
                own_host = False
                if carried is not None:
                    target = carried.detach(target)
                # The receiver picked this destination, not the config: it is checked where it connects.
                session = self._guarded_session(endpoint.destinations)
            elif carried is not None:
                target = carried.follow(target)
            url = target
            timeout = _rest_of(request, started)

    @staticmethod
    def _private(request: OutboundRequest) -> frozenset[str]:
        return _ALWAYS_PRIVATE | {name.lower() for name in request.private_headers}

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        request: OutboundRequest,
        endpoint: Endpoint,
        url: yarl.URL,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        own_host: bool,
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request, redirects not followed: status, headers and the start of the body."""
        proxy = endpoint.proxy_for(url)
        if proxy is not None and session is not self._session:
            # Through a proxy the socket goes to the proxy (trusted: the config names it), and the proxy
            # resolves the destination: only an address written in the URL can be checked here.
            check_proxied(url.raw_host or "", endpoint.destinations)
            assert self._session is not None
            session = self._session
        async with session.request(
            request.method,
            url,
            data=request.body,
            headers=headers,
            # aiohttp would add `application/octet-stream`: hookd sends what the hook says, no more.
            skip_auto_headers=None if _has_header(headers, "Content-Type") else _CONTENT_TYPE,
            timeout=timeout,
            allow_redirects=False,  # followed here (send), with the method and body kept
            ssl=endpoint.ssl_for(own_host),
            proxy=proxy,
        ) as response:
            excerpt = await _read_excerpt(response, request.relay_bytes)
            return response.status, response.headers, excerpt


def as_sent(url: str) -> yarl.URL:
    """The URL a request goes to: exactly as written, percent-escapes and all (yarl would decode a
    `%2F` in a query to `/`, which breaks a signature such as an Azure SAS `sig=`), with only what a
    URL cannot hold raw (a space, non-ASCII, a `%` that starts no escape) percent-encoded as UTF-8.
    A host that is not ASCII is an international name: that URL is yarl's (IDNA). Raises ValueError
    if the URL is not valid."""
    parsed = yarl.URL(url)  # checks it: a port that is not a number, say
    host = urlsplit(url).netloc.rpartition("@")[2]
    if not host.isascii():
        return parsed
    return yarl.URL(_NOT_IN_A_URL.sub(_percent_encoded, url), encoded=True)


def _percent_encoded(m: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in m.group().encode("utf-8", "surrogatepass"))


def _rest_of(request: OutboundRequest, started: float) -> aiohttp.ClientTimeout | None:
    """What remains of the attempt's timeout, or None when nothing does."""
    left = request.timeout_s - (time.perf_counter() - started)
    return aiohttp.ClientTimeout(total=left) if left > 0 else None


class _Carried:
    """The credentials one attempt carries (hookd.auth): added to the first request, fetched anew
    once after a 401 when they can be, and dropped for good on a redirect to another host."""

    __slots__ = ("auth", "credentials", "dropped", "made", "renewed", "route")

    def __init__(self, auth: Authenticator, route: Route) -> None:
        self.auth = auth
        self.route = route  # how a token endpoint is reached: as the hook's requests are
        self.credentials = Credentials()
        self.made: list[str] = []  # every value made at run time this attempt carried: hidden in its outcome
        self.renewed = False
        self.dropped = False

    async def attach(
        self, session: aiohttp.ClientSession, url: yarl.URL, headers: dict[str, str], timeout_s: float
    ) -> yarl.URL:
        """Add the credentials to `headers`; the URL with them. Raises AuthFailed."""
        self._use(await self.auth.credentials(session, self.route, timeout_s), headers)
        return self.follow(url)

    def may_renew(self) -> bool:
        return self.credentials.renewable and not self.renewed and not self.dropped

    async def renew(
        self, session: aiohttp.ClientSession, url: yarl.URL, headers: dict[str, str], timeout_s: float
    ) -> yarl.URL:
        """After a 401: fresh credentials in `headers` (once per attempt); the URL with them."""
        self.renewed = True
        self._use(await self.auth.renewed(session, self.route, self.credentials, timeout_s), headers)
        return self.follow(url)

    def follow(self, url: yarl.URL) -> yarl.URL:
        """A URL on the hook's own host, with the credentials' query parameter (if any) in it."""
        query = self.credentials.query
        return url if query is None or self.dropped else with_parameter(without_parameter(url, query), query)

    def shown(self, url: yarl.URL) -> yarl.URL:
        """`url` as an error text may show it: without the credentials' query parameter."""
        query = self.credentials.query
        return url if query is None else without_parameter(url, query)

    def detach(self, url: yarl.URL) -> yarl.URL:
        """A URL on another host: the credentials stay behind, from here on (headers go by name)."""
        self.dropped = True
        query = self.credentials.query
        return url if query is None else without_parameter(url, query)

    def _use(self, credentials: Credentials, headers: dict[str, str]) -> None:
        self.credentials = credentials
        headers.update(credentials.headers)
        if credentials.made is not None:
            self.made.append(credentials.made)


def with_parameter(url: yarl.URL, parameter: tuple[str, str]) -> yarl.URL:
    """`url` with `name=value` added at the end of its query, the rest of it kept as written."""
    name, value = parameter
    added = f"{quote(name, safe='')}={quote(value, safe='')}"
    query = url.raw_query_string
    return _with_query(url, f"{query}&{added}" if query else added)


def without_parameter(url: yarl.URL, parameter: tuple[str, str]) -> yarl.URL:
    """`url` without each `name=value` of its query that is `parameter` (as written or decoded)."""
    query = url.raw_query_string
    if not query:
        return url
    kept = [p for p in query.split("&") if _parameter(p) != parameter]
    return url if len(kept) == len(query.split("&")) else _with_query(url, "&".join(kept))


def _parameter(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return unquote_plus(name), unquote_plus(value)


def _with_query(url: yarl.URL, query: str) -> yarl.URL:
    return yarl.URL.build(
        scheme=url.scheme,
        authority=url.raw_authority,
        path=url.raw_path,
        query_string=query,
        fragment=url.raw_fragment,
        encoded=True,
    )


def _same_host(first: yarl.URL, target: yarl.URL) -> bool:
    """Whether a redirect to `target` stays with the hook's own endpoint `first`: the same host, and the
    same scheme and port, or the upgrade from http on its default port to https on its default port
    (the usual site-wide redirect). Another port is another service, even on the same host, whatever
    its scheme: it gets no credentials."""
    if target.host != first.host:
        return False
    if target.scheme == first.scheme:
        return target.port == first.port
    return first.scheme == "http" and target.scheme == "https" and first.port == 80 and target.port == 443


def _redirect_target(url: yarl.URL, location: str, hops: int) -> tuple[yarl.URL | None, str]:
    """Where a redirect from `url` leads, or None and the reason it is not followed."""
    shown = redact_url(location)
    if hops > MAX_REDIRECTS:
        return None, (
            f"more than {MAX_REDIRECTS} redirects (the last to {shown}); the receiver redirects in a loop or "
            "too far: point the hook at the final URL"
        )
    try:
        target = url.join(yarl.URL(location))
        host = target.host  # decodes an international name: a label that is not valid IDNA raises here
    except ValueError:  # UnicodeError included
        return None, f"the redirect's Location {shown} is not a valid URL"
    if target.scheme not in ("http", "https") or not host:
        return None, f"the redirect to {shown} is not to an http:// or https:// URL; point the hook at the final URL"
    if url.scheme == "https" and target.scheme == "http":
        return None, (
            f"refusing the redirect from https to {shown}: the payload would travel unencrypted; point the "
            "hook at the final URL if that is really meant"
        )
    return target, ""


def _after(hops: list[Hop], url: yarl.URL, status: int | None, outcome: Outcome) -> Outcome:
    """The outcome of the last request of an attempt, with the chain that led to it."""
    if not hops:
        return outcome
    hops.append(Hop(str(url), status))
    outcome.hops = tuple(hops)
    if outcome.error:
        outcome.error += f" (after {len(hops) - 1} redirect(s))"
    return outcome


def _no_answer(
    e: BaseException, request: OutboundRequest, started: float, url: yarl.URL, shown: yarl.URL, endpoint: Endpoint
) -> Outcome:
    """The outcome of a request to `url` (the hook's, or a redirect's target) that got no HTTP
    response, by aiohttp's exception classes; `shown` is `url` as the reason may quote it."""
    outcome = _no_answer_reason(e, request, started, url, shown)
    if url.scheme == "https" and endpoint.spec.tls.client_cert is None and _reset(e):
        # A receiver that requires a client certificate and gets none closes the connection in or
        # right after the handshake: say what that may mean (not for a plain disconnect after it,
        # which a stale keep-alive connection also gives).
        outcome.error += "; if the receiver requires a client certificate (mutual TLS), give it in tls.client_cert"
    return outcome


def _reset(e: BaseException) -> bool:
    """Whether the connection was reset, or closed with no reason given, while it was being set up or used."""
    if isinstance(e, aiohttp.ClientConnectorError):
        return not (e.os_error and e.os_error.strerror) or isinstance(e.os_error, ConnectionResetError)
    return isinstance(e, aiohttp.ClientOSError) and e.errno == errno.ECONNRESET


def _no_answer_reason(
    e: BaseException, request: OutboundRequest, started: float, url: yarl.URL, shown: yarl.URL
) -> Outcome:
    if isinstance(e, TimeoutError):
        return no_response(
            f"timed out after {request.timeout_s:g}s (hook timeout)", started, retryable=True, kind="timeout"
        )
    if isinstance(e, aiohttp.InvalidURL):
        return no_response(f"invalid URL {redact_url(str(shown))}", started, retryable=False, kind="invalid_request")
    if isinstance(e, EndpointFailure):
        return no_response(str(e), started, retryable=True, kind="endpoint")
    if isinstance(e, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return no_response(describe_proxy_failure(e), started, retryable=True, kind="proxy")
    if isinstance(e, aiohttp.ClientSSLError):
        return no_response(f"TLS error: {describe_tls_failure(e)}", started, retryable=True, kind="tls")
    if isinstance(e, aiohttp.ClientConnectorError):
        if e.os_error and e.os_error.strerror:
            reason = e.os_error.strerror
        elif url.scheme == "https":  # aiohttp's text is then only its SSL context's repr
            reason = "the connection closed during the TLS handshake"
        else:
            reason = _text(e, url, shown)
        return no_response(f"cannot connect to {e.host}:{e.port}: {reason}", started, retryable=True, kind="connect")
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return no_response("the server closed the connection before answering", started, retryable=True, kind="connect")
    if isinstance(e, aiohttp.ClientOSError) and e.strerror:
        return no_response(
            f"the connection to {url.host}:{url.port} failed: {e.strerror}", started, retryable=True, kind="connect"
        )
    return no_response(f"{type(e).__name__}: {_text(e, url, shown)}", started, retryable=True, kind="connect")


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    # The usual spelling first: rendered requests use it, and a dict lookup is all it costs.
    return name in headers or any(k.lower() == name.lower() for k in headers)


async def _read_excerpt(response: aiohttp.ClientResponse, relay_bytes: int = 0) -> bytes:
    """The body, up to RESPONSE_EXCERPT_BYTES and one byte more (which says it was cut off); or, for a
    request whose answer is relayed, up to `relay_bytes` and one more."""
    keep = max(RESPONSE_EXCERPT_BYTES, relay_bytes) + 1
    cap = max(_READ_CAP_BYTES, keep)
    length = response.content_length
    if length is not None and length <= cap:
        return (await response.read())[:keep]  # the common, small answer: one call
    chunks = bytearray()
    while len(chunks) < cap:
        chunk = await response.content.read(cap - len(chunks))
        if not chunk:
            return bytes(chunks[:keep])
        chunks += chunk
    if not response.content.at_eof():
        response.close()  # a huge body is not worth reading to keep the connection
    return bytes(chunks[:keep])


def _classify_response(
    status: int, headers: Mapping[str, str], body: bytes, duration_s: float, request: OutboundRequest
) -> Outcome:
    if not request.relay_bytes:
        return _classify(status, headers, body, duration_s, request)
    outcome = _classify(status, headers, body[: RESPONSE_EXCERPT_BYTES + 1], duration_s, request)
    if len(body) <= request.relay_bytes:  # the whole answer, kept for a sync http source's caller
        outcome.relay_body = body
        outcome.relay_content_type = headers.get("Content-Type", "")
    return outcome


def _classify(
    status: int, headers: Mapping[str, str], excerpt: bytes, duration_s: float, request: OutboundRequest
) -> Outcome:
    kept = _kept(headers)
    truncated = len(excerpt) > RESPONSE_EXCERPT_BYTES
    text = excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")
    if 200 <= status < 300:
        return Outcome(status=status, ok=True, retryable=False, duration_s=duration_s, response_excerpt=text,
                       response_headers=kept, response_truncated=truncated, kind="delivered")  # fmt: skip
    if 300 <= status < 400:
        where = _header_text("Location", headers.get("Location", ""))
        if request.follow_redirects:
            error = (
                f"HTTP {status} {'without a Location' if not where else 'to ' + redact_url(where)} is not a "
                f"redirect hookd follows (only {', '.join(map(str, sorted(REDIRECT_STATUS)))} with a Location)"
            )
        else:
            error = (
                f"HTTP {status} redirect to {redact_url(where) if where else '(no Location)'} not followed; "
                "point the hook at the final URL, or set follow_redirects: true"
            )
        retryable = False
        kind: OutcomeKind = "redirect"
    elif status == 407:
        # Only a proxy answers 407 (a plain http:// request through one; an https:// one fails at CONNECT).
        error = f"HTTP 407: {PROXY_AUTH_REFUSED}"
        retryable = True
        kind = "proxy"
    elif is_retryable_status(status):
        error = f"HTTP {status}"
        retryable = True
        kind = "rate_limited" if status == 429 else "http_status"
    else:
        error = f"HTTP {status} (a 4xx other than 408, 425 and 429 is not retried)"
        retryable = False
        kind = "http_status"
    return Outcome(
        status=status,
        ok=False,
        retryable=retryable,
        duration_s=duration_s,
        error=error,
        retry_after_s=parse_retry_after(headers.get("Retry-After"), time.time()) if retryable else None,
        response_excerpt=text,
        response_truncated=truncated,
        response_headers=kept,
        kind=kind,
    )


def _kept(headers: Mapping[str, str]) -> dict[str, str]:
    # One lookup per name (not `in`, then a second to read it), and ASCII values, nearly all of them,
    # taken as they are: on every response (bench/: ~1 µs of the worker's CPU per request).
    kept = {}
    for name in _KEPT_RESPONSE_HEADERS:
        value = headers.get(name)
        if value is not None:
            kept[name] = value if value.isascii() else _header_text(name, value)
    return kept


def _header_text(name: str, value: str) -> str:
    """A response header as text that can be stored and shown. aiohttp keeps bytes that are not UTF-8
    as lone surrogates, which SQLite and JSON refuse: a Location holding any is percent-encoded (a URL
    that can still be followed), any other header gets them escaped as \\xNN."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
    else:
        return value  # UTF-8 text: kept as the receiver sent it
    if name.lower() == "location":
        return quote(raw, safe="!#$%&'()*+,/:;=?@[]~")
    return raw.decode("utf-8", "backslashreplace")


def _text(e: BaseException, sent: yarl.URL, shown: yarl.URL) -> str:
    """An exception's message as an outcome may hold it: aiohttp quotes the URL it requested, an
    api_key query parameter and all, which is shown as `shown` (without it), redacted like any other
    URL in the message."""
    text = str(e) or type(e).__name__
    if str(sent) in text:
        text = text.replace(str(sent), str(shown))
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group()), text)


__all__ = ["HttpSender", "is_retryable_status"]
