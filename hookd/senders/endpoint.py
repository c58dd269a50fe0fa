"""Endpoint profiles: how one hook's endpoint is talked to, beyond the request rendering makes.

An EndpointSpec is the part of a hook's config that the sending side needs (it holds secrets, and
is plain data, so it can be handed to the delivery worker over its private socket). An Endpoint is
that spec made ready in the process that sends: built once per process from the spec, it owns
what is costly or stateful to make. Every way hookd sends (the daemon's worker, `hookd replay
--wait`, `hookd test --send`) goes through an HttpSender holding the same Endpoints, so a hook is
talked to the same way by all three.

The daemon renders a request (headers, body) and the worker's Endpoint finishes it over the exact
bytes that go out: what costs CPU per request runs in the worker, beside the HTTP client, not in
the daemon that acks events.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from hookd.auth.base import Authenticator
from hookd.auth.build import auth_headers, build_authenticator
from hookd.auth.oauth2 import TokenCache
from hookd.clock import Clock
from hookd.config.model import AuthConfig, HookConfig, SigningConfig, TlsConfig
from hookd.logs import LogLine
from hookd.redact import REDACTED, Redactor
from hookd.senders.base import EndpointFailure, OutboundRequest
from hookd.senders.guard import Destinations
from hookd.senders.proxy import ProxyRoute
from hookd.senders.tls import TlsFileError, contexts
from hookd.signing import ID_HEADER, TIMESTAMP_HEADER, Signer, build_signer, signature_header
from hookd.urls import is_templated

log = logging.getLogger("hookd.senders.endpoint")


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What the sender needs to know about one hook's endpoint (picklable; secrets included)."""

    hook: str
    signing: SigningConfig | None = None
    tls: TlsConfig = field(default_factory=TlsConfig)
    proxy: str | None = field(default=None, repr=False)  # its URL's userinfo holds the proxy's credentials
    trust_env: bool = False
    # The url is templated: event data picks it, so the destination guard checks where it connects
    # (a written-out url is trusted as written; redirects are checked either way).
    templated_url: bool = False
    allow_destinations: tuple[str, ...] = ()  # non-public networks the guard lets this hook reach
    auth: AuthConfig | None = None  # credentials for the endpoint (hookd.auth)

    @property
    def added_headers(self) -> tuple[str, ...]:
        """Headers the Endpoint adds when it sends (their values are never recorded in clear)."""
        signature = (signature_header(self.signing),) if self.signing is not None else ()
        return signature + auth_headers(self.auth)

    @property
    def private_headers(self) -> frozenset[str]:
        """Headers the Endpoint adds that go to the hook's own host only (lower case): its credentials.
        Signature headers are not among them: they prove the body, and go along on a redirect."""
        return frozenset(name.lower() for name in auth_headers(self.auth))

    @property
    def timestamp_header(self) -> str | None:
        """A header rendering sets to the webhook-timestamp value, for a receiver that reads the
        signed timestamp there (signing.timestamp_header). Not a secret: recorded and shown."""
        return self.signing.timestamp_header if self.signing is not None else None


def shown_headers(redactor: Redactor, headers: Mapping[str, str], spec: EndpointSpec) -> dict[str, str]:
    """A request's headers as history records them and `hookd test` prints them: the rendered ones
    redacted, and each header the endpoint adds when it sends (signature, credentials) as REDACTED."""
    shown = redactor.headers(headers)
    for name in spec.added_headers:
        shown[name] = REDACTED
    return shown


def endpoint_spec(hook: HookConfig) -> EndpointSpec:
    return EndpointSpec(
        hook=hook.name,
        signing=hook.signing,
        tls=hook.tls,
        proxy=hook.proxy,
        trust_env=hook.trust_env,
        templated_url=is_templated(hook.url),
        allow_destinations=hook.allow_destinations,
        auth=hook.auth,
    )


class Endpoint:
    """An EndpointSpec ready to send with, in the process that sends."""

    __slots__ = (
        "_other_ssl",
        "_own_ssl",
        "_tls_failure",
        "auth",
        "destinations",
        "private_headers",
        "proxy_for",
        "signer",
        "spec",
    )

    def __init__(self, spec: EndpointSpec, auth: Authenticator | None = None) -> None:
        self.spec = spec
        # Built once per process: secrets decoded and the private key loaded here, not per request.
        self.signer: Signer | None = build_signer(spec.signing) if spec.signing is not None else None
        self.auth = auth  # HttpSender asks it for each request's credentials
        self.private_headers = spec.private_headers
        self._own_ssl: ssl.SSLContext | bool = True
        self._other_ssl: ssl.SSLContext | bool = True
        self._tls_failure = ""
        try:
            self._own_ssl, self._other_ssl = contexts(spec.tls)
        except TlsFileError as e:
            # validate checked the files; they changed since, or this user may not read them. Every
            # request of this hook fails (and is retried) until a restart finds them loadable.
            self._tls_failure = f"cannot use the TLS files of hook {spec.hook!r}: {e}"
            log.error(LogLine("cannot load this hook's TLS files; its deliveries fail until they load and hookd "
                              "restarts", {"hook": spec.hook, "error": str(e)}))  # fmt: skip
        self.destinations = Destinations.parse(spec.allow_destinations)
        # The proxy a request to a URL goes through, or None (raises EndpointFailure).
        self.proxy_for = ProxyRoute(spec.proxy, spec.trust_env)

    def ssl_for(self, own_host: bool) -> ssl.SSLContext | bool:
        """aiohttp's `ssl=` for a request to the hook's own host (its url's, as configured or rendered
        within its allow_hosts), or to another host a redirect led to: the same trust, and the client
        certificate only for the hook's own host, as the other credentials (HttpSender.send)."""
        if self._tls_failure:
            raise EndpointFailure(self._tls_failure)
        return self._own_ssl if own_host else self._other_ssl

    @property
    def adds_headers(self) -> bool:
        """Whether finish adds anything (the sender copies the rendered headers only then)."""
        return self.signer is not None or self.auth is not None

    def finish(self, request: OutboundRequest, headers: dict[str, str]) -> dict[str, str]:
        """The headers that go out with `request`: `headers` (rendered, with hookd's own), plus what
        this endpoint adds over the exact bytes sent."""
        if self.signer is not None:
            # Over the id and timestamp as rendering set them, so what is signed is what is sent.
            msg_id, timestamp = headers.get(ID_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
            headers[self.signer.header] = self.signer.sign(msg_id, timestamp, request.body)
        return headers


def build_endpoints(specs: Mapping[str, EndpointSpec], tokens: TokenCache, clock: Clock) -> dict[str, Endpoint]:
    """Each spec made live; `tokens` is the process's OAuth2 token cache, shared by every hook."""
    return {
        name: Endpoint(spec, build_authenticator(spec.auth, tokens, clock) if spec.auth is not None else None)
        for name, spec in specs.items()
    }


# A request for a hook the sender was not configured with (a test's own sender, say): sent as rendered.
PLAIN = Endpoint(EndpointSpec(hook=""))
