"""Checks of a hook's `auth:` block that the schema cannot express: which key goes with which
algorithm, a private key that must load, headers and parameters the auth would collide with, and
hooks that share an OAuth2 token but not its client secret.

Messages name the field (the Problem's path) and never quote a secret's value.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

from hookd.auth.keys import HMAC_ALGORITHMS, KEY_ALGORITHMS, KeyProblem, load_signing_key, weak_key
from hookd.config.located import LocatedDocument, PathKey
from hookd.errors import Severity
from hookd.templates import PLACEHOLDER
from hookd.units import parse_duration

Add = Callable[[PathKey, str, Severity], None]
HeaderProblem = Callable[[str], str | None]

# Claims hookd sets in every JWT it makes; a configured one would be overwritten.
_OWN_CLAIMS = ("iat", "exp", "jti")
# The header each auth type sends, besides api_key's own.
_AUTHORIZATION_TYPES = frozenset({"bearer", "basic", "oauth2", "jwt"})


def lint_auth(
    doc: LocatedDocument,
    hook: dict[str, object],
    path: PathKey,
    add: Add,
    header: HeaderProblem,
    *,
    https_required_by: str | None = None,
) -> None:
    """Problems of `hook`'s auth block (at `path`, the hook's), reported through `add`. `header`
    says what is wrong with a header name, or None; `https_required_by` names the setting that
    requires https:// of this hook (its own require_https, or delivery's), if one does."""
    _url_credentials(hook, path, add)
    auth = hook.get("auth")
    if not isinstance(auth, dict):
        return
    at: PathKey = (*path, "auth")
    kind = auth.get("type")
    for key, value in auth.items():
        if isinstance(value, str) and key != "private_key" and _has_control(value):
            add((*at, key), f"{key} holds a line break or another control character; remove it", "error")
    headers = hook.get("headers")
    configured = {n.lower(): n for n in headers if isinstance(n, str)} if isinstance(headers, dict) else {}
    if kind in _AUTHORIZATION_TYPES and "authorization" in configured:
        add(
            (*path, "headers", configured["authorization"]),
            f"auth (type {kind}) sends the Authorization header; remove it from headers",
            "error",
        )
    if kind == "basic":
        _basic(auth, at, add)
    elif kind == "api_key":
        _api_key(auth, at, add, header, configured, hook.get("url"))
    elif kind == "oauth2":
        _oauth2(auth, at, add, https_required_by)
    elif kind == "jwt":
        _jwt(doc, auth, at, add)


def lint_shared_tokens(hooks: list[object], add: Add) -> None:
    """Hooks with the same OAuth2 token key (token_url, client_id, scope, audience) share one token in
    each process, fetched with whichever hook asks first: they must agree on how to fetch it."""
    first: dict[tuple[object, ...], tuple[str, dict[str, object]]] = {}
    for i, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            continue
        auth = hook.get("auth")
        if not isinstance(auth, dict) or auth.get("type") != "oauth2":
            continue
        key = tuple(auth.get(k) for k in ("token_url", "client_id", "scope", "audience"))
        if not all(isinstance(part, str | None) for part in key):
            continue
        if key not in first:
            name = hook.get("name")
            first[key] = (f"hook {name!r} (hooks[{i}])" if isinstance(name, str) else f"hooks[{i}]", auth)
            continue
        where, other = first[key]
        for field in ("client_secret", "client_auth"):
            if auth.get(field, "basic") != other.get(field, "basic"):
                add(
                    ("hooks", i, "auth", field),
                    f"{where} uses the same token (the same token_url, client_id, scope and audience) with a "
                    f"different {field}; hooks that share a token share one fetch of it, so give them the same "
                    f"{field}, or tell them apart by scope or audience",
                    "error",
                )


def _url_credentials(hook: dict[str, object], path: PathKey, add: Add) -> None:
    """A url with user:password@ has the HTTP client send them as Authorization: Basic, and it refuses
    to send a request that also has an Authorization header of its own: every delivery would fail."""
    url = hook.get("url")
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(PLACEHOLDER.sub("x", url))
    except ValueError:
        return  # the url's own check reports it
    if not parts.username and not parts.password:
        return
    auth = hook.get("auth")
    kind = auth.get("type") if isinstance(auth, dict) else None
    headers = hook.get("headers")
    configured = [n for n in headers if isinstance(n, str)] if isinstance(headers, dict) else []
    if kind in _AUTHORIZATION_TYPES:
        sender = f"auth (type {kind}) sends the Authorization header"
    elif kind == "api_key" and isinstance(auth, dict) and str(auth.get("header", "")).lower() == "authorization":
        sender = "the api_key auth sends the Authorization header"
    elif any(n.lower() == "authorization" for n in configured):
        sender = "headers set Authorization"
    else:
        return
    add(
        (*path, "url"),
        f"the url holds credentials (user:password@ before the host), which are sent as Authorization: Basic, "
        f"and {sender} too, so no request could be sent; remove user:password@ from the url (for HTTP Basic "
        "credentials, use auth: {type: basic, username: ..., password: ...})",
        "error",
    )


def _basic(auth: dict[str, object], at: PathKey, add: Add) -> None:
    username = auth.get("username")
    if isinstance(username, str) and ":" in username:
        add(
            (*at, "username"),
            "a Basic username cannot contain ':' (RFC 7617: the first ':' ends it); ask the receiver for "
            "another name, or put the part after ':' in password",
            "error",
        )


def _api_key(
    auth: dict[str, object],
    at: PathKey,
    add: Add,
    header: HeaderProblem,
    configured: dict[str, str],
    url: object,
) -> None:
    name = auth.get("header")
    if isinstance(name, str) and name:
        why = header(name)
        if why is not None:
            add((*at, "header"), why, "error")
        elif name.lower() in configured:
            add(
                (*at, "header"),
                f"{name} is also set in the hook's headers; the api_key sends it: remove it from headers",
                "error",
            )
    query = auth.get("query")
    if isinstance(query, str) and query and isinstance(url, str):
        try:
            names = {n for n, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        except ValueError:
            return  # the url's own check reports it
        if query in names:
            add(
                (*at, "query"),
                f"the hook's url already has a query parameter {query!r}; remove it from the url "
                "(the api_key adds it as each request goes out)",
                "error",
            )


def _oauth2(auth: dict[str, object], at: PathKey, add: Add, https_required_by: str | None) -> None:
    url = auth.get("token_url")
    if not isinstance(url, str) or not url:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        add((*at, "token_url"), "token_url cannot be parsed; write it like https://idp.example/oauth/token", "error")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        add(
            (*at, "token_url"),
            "token_url must be an http:// or https:// URL with a host, like https://idp.example/oauth/token",
            "error",
        )
    elif parts.scheme == "http" and https_required_by is not None:
        # As the hook's own url: require_https makes no exception for loopback.
        add(
            (*at, "token_url"),
            f"this hook's token_url is http://, but {https_required_by} is true: the client secret and every token "
            "would travel unencrypted; use the token endpoint's https:// URL, or set require_https: false on this hook",
            "error",
        )
    elif parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        add(
            (*at, "token_url"),
            "token_url is http://: the client secret and every token would travel unencrypted; use https://",
            "warning",
        )
    if "{{" in url:
        add((*at, "token_url"), "templates are not supported in token_url; write the endpoint's URL", "error")


def _jwt(doc: LocatedDocument, auth: dict[str, object], at: PathKey, add: Add) -> None:
    algorithm = auth.get("algorithm")
    secret, private_key = auth.get("secret"), auth.get("private_key")
    # An algorithm outside the schema's list is the schema's error alone: which key it needs is unknown.
    if algorithm in HMAC_ALGORITHMS:
        if "private_key" in auth:
            add((*at, "private_key"), f"{algorithm} signs with a shared secret: give secret, not private_key", "error")
        elif "secret" not in auth:
            add(at, f"a jwt auth with algorithm {algorithm} needs secret (the shared secret)", "error")
        elif isinstance(secret, str) and secret and (weak := weak_key(str(algorithm), secret)):
            add((*at, "secret"), weak, "warning")
    elif isinstance(algorithm, str) and algorithm in KEY_ALGORITHMS:
        if "secret" in auth:
            add((*at, "secret"), f"{algorithm} signs with a private key: give private_key, not secret", "error")
        elif "private_key" not in auth:
            add(
                at,
                f"a jwt auth with algorithm {algorithm} needs private_key (PEM text, like "
                "${file:/etc/hookd/jwt.pem})",
                "error",
            )
        elif isinstance(private_key, str) and private_key and (*at, "private_key") not in doc.unresolved:
            try:
                key = load_signing_key(algorithm, private_key)
            except KeyProblem as e:
                add((*at, "private_key"), f"private_key {e}", "error")
            else:
                if weak := weak_key(algorithm, key):
                    add((*at, "private_key"), weak, "warning")
    claims = auth.get("claims")
    if isinstance(claims, dict):
        for name in _OWN_CLAIMS:
            if name in claims:
                add(
                    (*at, "claims", name),
                    f"hookd sets {name} in every token it makes (iat and exp from ttl, jti at random); remove it",
                    "error",
                )
        for where, value in _not_json(claims, (*at, "claims")):
            add(where, f"a claim must be JSON (text, a number, true/false, a list or a mapping), not {value}", "error")
    ttl = auth.get("ttl")
    if ttl is not None:
        try:
            seconds = parse_duration(ttl)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return  # the schema reports it
        if not math.isfinite(seconds) or seconds <= 0:
            add((*at, "ttl"), "ttl must be a finite duration longer than 0s, like 60s", "error")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def _not_json(value: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _not_json(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _not_json(v, (*path, i))
    elif isinstance(value, datetime.date):
        yield path, "a date (quote it to keep it as text)"
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value}"
    elif value is not None and not isinstance(value, str | int | float | bool):
        yield path, type(value).__name__
