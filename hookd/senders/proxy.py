"""Which HTTP proxy, if any, one hook's requests go through.

The hook's `proxy`, else `delivery.proxy` (resolved by the loader into HookConfig.proxy), else, with
`delivery.trust_env`, HTTPS_PROXY or HTTP_PROXY by the URL's scheme unless NO_PROXY names the host.
The environment is read with the standard library's rules (lower case first; HTTP_PROXY ignored in
a CGI request), once per Endpoint in the process that sends. aiohttp's own `trust_env` is not used:
it would also take credentials from ~/.netrc.

Credentials come from the proxy URL's userinfo; aiohttp sends them as Proxy-Authorization, on the
CONNECT of an https:// request or with a plain http:// one, and never to the receiver.
"""

from __future__ import annotations

import os
import re
from urllib.request import getproxies_environment, proxy_bypass_environment  # type: ignore[attr-defined]

import aiohttp
import yarl

from hookd.redact import proxy_userinfo
from hookd.senders.base import EndpointFailure

_MAX_CACHED_HOSTS = 1024


class ProxyRoute:
    """The proxy for each request of one endpoint."""

    __slots__ = ("_bypass", "_environment", "_fixed", "_parsed")

    def __init__(self, proxy: str | None, trust_env: bool) -> None:
        self._fixed = yarl.URL(proxy) if proxy else None
        self._environment = getproxies_environment() if trust_env and not proxy else {}
        self._bypass: dict[tuple[str, str, int | None], bool] = {}  # NO_PROXY's answer per host
        self._parsed: dict[str, yarl.URL] = {}

    def __call__(self, url: yarl.URL) -> yarl.URL | None:
        """The proxy a request to `url` goes through, or None to connect directly. Raises
        EndpointFailure for an environment proxy that is not http://."""
        if self._fixed is not None or not self._environment:
            return self._fixed
        raw = self._environment.get(url.scheme)
        if not raw or self._bypassed(url):
            return None
        proxy = self._parsed.get(raw)
        if proxy is None:
            proxy = self._parsed[raw] = _environment_proxy(url.scheme, raw)
        return proxy

    def _bypassed(self, url: yarl.URL) -> bool:
        host = url.raw_host or ""
        key = (url.scheme, host, url.port)
        bypassed = self._bypass.get(key)
        if bypassed is None:
            if len(self._bypass) >= _MAX_CACHED_HOSTS:
                self._bypass.clear()  # templated hosts could otherwise grow it without bound
            # urllib matches NO_PROXY entries against the host, and host:port for entries with a port.
            shown = f"[{host}]" if ":" in host else host
            bypassed = self._bypass[key] = bool(proxy_bypass_environment(f"{shown}:{url.port}", self._environment))
        return bypassed


def _environment_proxy(scheme: str, raw: str) -> yarl.URL:
    """The proxy URL a variable holds. Raises EndpointFailure naming the variable and what is wrong,
    never its value: a password is part of it, and the message lands in history on every attempt."""
    # Without a scheme (proxy.corp:3128), as curl and requests read it: an http:// proxy.
    text = raw if "://" in raw else f"http://{raw}"
    userinfo = proxy_userinfo(text)
    if userinfo is not None and any(c in userinfo[1] for c in "/?#"):
        raise _unusable(
            scheme,
            "its user or password holds a '/', '?' or '#' as it is, where a URL's host part would begin; "
            "percent-encode them in the variable (/ as %2F, ? as %3F, # as %23)",
        )
    try:
        proxy = yarl.URL(text)
    except ValueError:
        raise _unusable(scheme, "it is not a valid URL; write it like http://user:password@proxy.corp:3128") from None
    if proxy.scheme != "http":
        named = text.partition("://")[0]
        shown = f"a {named}:// URL" if _SCHEME.fullmatch(named) else "not an http:// URL"
        raise _unusable(
            scheme,
            f"it is {shown}, and hookd talks to proxies over http:// (https:// receivers are reached through "
            "them with CONNECT, so TLS still runs end to end)",
        )
    if not proxy.host:
        raise _unusable(scheme, "it names no host; write it like http://proxy.corp:3128")
    return proxy


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")


def _unusable(scheme: str, problem: str) -> EndpointFailure:
    # urllib reads the lower-case variable first: name the one that was read.
    lower = f"{scheme}_proxy"
    variable = lower if os.environ.get(lower) else lower.upper()
    return EndpointFailure(
        f"{variable} in hookd's environment (not shown: it may hold a password) is not an http:// proxy URL "
        f"hookd can use: {problem}; fix the variable, or set delivery.proxy"
    )


PROXY_AUTH_REFUSED = (
    "the proxy asks for credentials, or refused the ones given (407 Proxy Authentication Required); check the "
    "user and password in the proxy URL (the hook's proxy, delivery.proxy, or HTTPS_PROXY / HTTP_PROXY with "
    "delivery.trust_env)"
)


def describe_proxy_failure(e: aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError) -> str:
    """Why a request did not get through its proxy; the receiver was not reached."""
    if isinstance(e, aiohttp.ClientProxyConnectionError):
        reason = e.os_error.strerror if e.os_error and e.os_error.strerror else type(e.os_error).__name__
        return f"cannot connect to the proxy {e.host}:{e.port}: {reason}"
    if e.status == 407:
        return f"CONNECT through the proxy failed: {PROXY_AUTH_REFUSED}"
    return (
        f"the proxy answered the CONNECT with {e.status} {e.message}, so the receiver was not reached; see the "
        "proxy's own logs for why"
    )
