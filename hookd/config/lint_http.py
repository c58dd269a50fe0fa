"""Checks of http sources (`type: http`) the schema cannot express: who may call them, their paths
and methods, how requests become events, their `verify:`, `response:` and `tls:`, and what several
sources on one listener must agree on; and a hook's `forward:`.

Messages never quote a secret: they name the key that holds it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import ssl
import stat
from collections.abc import Sequence
from pathlib import Path

from hookd.config.lint import is_loopback, parse_listen, resolve_path
from hookd.config.lint_transport import Linter
from hookd.config.located import PathKey
from hookd.expressions import ExpressionError, compile_expression, request_field_problems
from hookd.keys import PUBLIC_KEY_PREFIX
from hookd.rendering import forwardable
from hookd.signing import CONTENT_FIELDS, ContentError, SecretFormatError, parse_content, short_key_reason, standard_key
from hookd.suggest import did_you_mean
from hookd.templates import lint_template
from hookd.units import parse_duration

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Each listener answers GET on this path itself, for load balancers (issue 23): no source may own it.
HEALTH_PATH = "/healthz"
# A path parameter is a whole segment: /hooks/{tenant}/orders.
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Schemes with no signed timestamp: a captured request can be sent again, and only its id tells (issue 23).
_UNTIMESTAMPED = frozenset({"github", "gitlab", "api_key", "basic"})
# Schemes whose provider names each delivery itself, so the default event id already catches replays.
_PROVIDER_IDS = frozenset({"github", "stripe", "slack", "standard"})
# Headers the stored request never keeps (credentials), so a hook cannot forward them.
_REMOVED_HEADERS = frozenset({"authorization", "cookie"})
# What a response template sees, for messages.
_RESPONSE_SCOPE = "{event, deliveries}"


def lint_http_sources(linter: Linter, sources: list[object], base_dir: Path, *, check_environment: bool) -> None:
    """Every http source on its own, then what sources sharing a listener must agree on."""
    http = [(i, s) for i, s in enumerate(sources) if isinstance(s, dict) and s.get("type") == "http"]
    for i, source in http:
        _source(linter, source, ("sources", i), base_dir, check_environment=check_environment)
    _shared_listeners(linter, http, base_dir)
    _taken_ports(linter, sources, http)


def lint_forward(linter: Linter, hook: dict[str, object], path: PathKey, other_sources: Sequence[str] = ()) -> None:
    """A hook's `forward:` headers: real header names, each once, and ones the stored request keeps.
    (forward beside payload, preset, format or batch is the schema's to say.) `other_sources`: the
    config's sources that are not http ones, whose events a forward hook cannot send."""
    forward = hook.get("forward")
    if isinstance(forward, dict) and other_sources and "filter" not in hook:
        linter.add(
            (*path, "forward"),
            f"forward sends an http source's request as it arrived, and the events of {_listed(other_sources)} "
            "have none: each one this hook matches fails; give the hook events (types) only the http sources "
            'produce, or a filter like "request != null"',
            "warning",
            key=True,
        )
    headers = forward.get("headers") if isinstance(forward, dict) else None
    seen: set[str] = set()
    for j, name in enumerate(headers if isinstance(headers, list) else []):
        if not isinstance(name, str) or not name:
            continue  # the schema reports it
        at = (*path, "forward", "headers", j)
        if not _HEADER_NAME.fullmatch(name):
            linter.add(
                at, f"{name!r} is not a valid HTTP header name; use letters, digits and '-', like x-github-event"
            )
        elif name.lower() in seen:
            linter.add(at, f"{name} is already listed; list each header once", "warning")
        elif not forwardable(name.lower()):
            linter.add(
                at,
                f"{name} is hookd's own (or the connection's), never forwarded: the receiver reads it as hookd's; "
                "remove it",
                "warning",
            )
        elif name.lower() in _REMOVED_HEADERS:
            linter.add(
                at,
                f"{name} is a credential, which hookd removes from the stored request, so there is none to forward; "
                "remove it (give the receiver its own credential with auth:)",
                "warning",
            )
        seen.add(name.lower())


def _source(
    linter: Linter, source: dict[str, object], path: PathKey, base_dir: Path, *, check_environment: bool
) -> None:
    _exposure(linter, source, path)
    for key in ("allow_ips", "trusted_proxies"):
        networks = source.get(key)
        for j, text in enumerate(networks if isinstance(networks, list) else []):
            if isinstance(text, str) and text and (why := _network_problem(text)) is not None:
                linter.add((*path, key, j), why)
    raw_path = source.get("path")
    if isinstance(raw_path, str) and raw_path.startswith("/"):
        _path(linter, raw_path, (*path, "path"))
    methods = source.get("methods")
    seen: set[str] = set()
    for j, method in enumerate(methods if isinstance(methods, list) else []):
        if not isinstance(method, str) or not method:
            continue  # the schema reports it
        if method.upper() not in METHODS:
            linter.add(
                (*path, "methods", j),
                f"{method!r} is not a method an http source takes; use {', '.join(METHODS)}"
                + did_you_mean(method.upper(), METHODS),
            )
        elif method.upper() in seen:
            linter.add((*path, "methods", j), f"{method.upper()} is already listed; list each method once", "warning")
        seen.add(method.upper())
    for key in ("event_type", "event_id"):
        expression = source.get(key)
        if isinstance(expression, str) and expression:
            _expression(linter, key, expression, (*path, key))
    verify = source.get("verify")
    if isinstance(verify, dict):
        _verify(linter, verify, (*path, "verify"))
        _replay(linter, source, verify, path)
    response = source.get("response")
    if isinstance(response, dict):
        _response(linter, response, (*path, "response"))
    _positive_duration(linter, source, "read_timeout", path)
    tls = source.get("tls")
    if isinstance(tls, dict):
        _tls_files(linter, tls, (*path, "tls"), base_dir, check_environment=check_environment)


def _exposure(linter: Linter, source: dict[str, object], path: PathKey) -> None:
    """Beyond loopback, anyone who finds the port could send events: a source there must prove its
    senders (verify) or name them (allow_ips), as the admin listener refuses to listen unauthenticated."""
    listen = source.get("listen")
    if not isinstance(listen, str) or "verify" in source or source.get("allow_ips"):
        return
    try:
        host, _ = parse_listen(listen)
    except ValueError:
        return  # the schema reports it
    if not is_loopback(host):
        linter.add(
            (*path, "listen"),
            f"{host!r} is not a loopback address, and this source has neither verify nor allow_ips, so anyone who "
            "can reach the port could send it events; add verify (like verify: {type: github, secret: "
            "${GITHUB_WEBHOOK_SECRET}}), or allow_ips with the senders' networks, or listen on 127.0.0.1 behind a "
            "reverse proxy",
        )


def _network_problem(text: str) -> str | None:
    """What is wrong with `text` as a CIDR network (an address alone is one host), or None."""
    try:
        ipaddress.ip_network(text)
    except ValueError:
        pass
    else:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"{text!r} is not an IP network; write one in CIDR notation, like 192.0.2.0/24 or 2001:db8::/32"
    return f"{text!r} has bits set past its prefix length; write the network itself, {network}"


def _path(linter: Linter, text: str, path: PathKey) -> None:
    if text.rstrip("/") == HEALTH_PATH:
        linter.add(
            path,
            f"{HEALTH_PATH} is reserved for the listener's health check (GET, for load balancers); choose another "
            "path, like /hooks/github",
        )
        return
    names: set[str] = set()
    for segment in text.split("/")[1:]:
        if "{" not in segment and "}" not in segment:
            continue
        match = _PARAM.fullmatch(segment)
        if match is None:
            linter.add(
                path,
                f"{segment!r} is not a path parameter: a parameter is a whole segment holding a name of letters, "
                "digits and _ in braces, like /hooks/{tenant}/orders",
            )
        elif match.group(1) in names:
            linter.add(
                path,
                f"parameter {{{match.group(1)}}} appears twice in the path; give each parameter its own name, like "
                "{tenant} and {shop}",
            )
        else:
            names.add(match.group(1))


def _normalised_path(text: str) -> str:
    """The path with its parameters unnamed: /hooks/{a} and /hooks/{b} take the same requests."""
    return _PARAM.sub("{}", text)


def _expression(linter: Linter, key: str, expression: str, path: PathKey) -> None:
    """event_type and event_id: JMESPath over {request, body, data}, checked as a filter is (at its column)."""
    if not expression.strip():
        linter.add(
            path, f'{key} is blank; write a JMESPath expression, like request.headers."x-request-id", or remove {key}'
        )
        return
    raw = linter.doc.interpolated.get(path)
    try:
        compile_expression(expression)
        for problem in request_field_problems(expression):
            linter.add(path, problem.message, problem.severity, offset=problem.offset if raw is None else -1)
    except ExpressionError as e:
        if raw is None:
            linter.add(path, e.problem.message, offset=e.problem.offset)
        else:
            linter.add(
                path,
                f"{raw!r} is not a valid JMESPath expression once its ${{...}} is substituted; check the value it "
                "brings in (strings go in single quotes, numbers in backticks)",
            )


def _verify(linter: Linter, verify: dict[str, object], path: PathKey) -> None:
    kind = verify.get("type")
    if not isinstance(kind, str):
        return  # the schema reports it
    secrets = _secrets(linter, verify, path)
    if kind == "standard":
        if not secrets and "public_key" not in verify and "secret" not in verify and "secrets" not in verify:
            linter.add(
                path,
                "verify type standard needs secrets (or secret), public_key, or both: like secret: ${WHSEC} (the "
                "sender's whsec_ secret) or public_key: whpk_... (its Ed25519 public key)",
            )
        for at, value in secrets:
            if at in linter.doc.unresolved:
                continue
            try:
                key_bytes = standard_key(value)
            except SecretFormatError as e:
                linter.add(at, str(e))
                continue
            if (weak := short_key_reason(key_bytes)) is not None:
                linter.add(at, weak, "warning")
        public_key = verify.get("public_key")
        if isinstance(public_key, str) and (why := _public_key_problem(public_key)) is not None:
            linter.add((*path, "public_key"), why)
    elif "secret" not in verify and "secrets" not in verify:
        what = {"basic": "a password", "api_key": "a key"}.get(kind, "a secret")
        linter.add(
            path,
            f"verify type {kind} needs {what}: like secret: ${{WEBHOOK_SECRET}}, or secrets: [new, old] during a "
            "rotation",
        )
    if kind == "api_key" and ("header" in verify) == ("query" in verify):
        linter.add(
            path,
            "verify type api_key needs exactly one of header (like header: X-Api-Key) or query (like query: key): "
            "where the sender puts the key",
        )
    for key in ("header", "timestamp_header", "id_header"):
        name = verify.get(key)
        if isinstance(name, str) and name and not _HEADER_NAME.fullmatch(name):
            linter.add(
                (*path, key), f"{name!r} is not a valid HTTP header name; use letters, digits and '-', like X-Signature"
            )
    content = verify.get("content", "{body}")  # hmac's default
    if kind == "hmac" and isinstance(content, str) and content:
        try:
            parts = parse_content(content)
        except ContentError as e:
            hint = did_you_mean(e.field, CONTENT_FIELDS) if e.field is not None else ""
            linter.add((*path, "content"), f"{e}{hint}")
        else:
            for signed in ("id", "timestamp"):
                if signed in parts and f"{signed}_header" not in verify:
                    linter.add(
                        (*path, "content"),
                        f"content signs {{{signed}}}, and no {signed}_header says which request header to read "
                        f"it from; add {signed}_header, like {signed}_header: X-Webhook-{signed.capitalize()}",
                    )
            if "timestamp_header" in verify and "timestamp" not in parts:
                linter.add(
                    (*path, "timestamp_header"),
                    "the timestamp is checked against tolerance but content does not sign it, so anyone can "
                    "rewrite it on a captured request; add {timestamp} to content, like {timestamp}.{body}",
                    "warning",
                    key=True,
                )
    tolerance = verify.get("tolerance")
    if kind == "hmac" and tolerance is not None and "timestamp_header" not in verify:
        linter.add(
            (*path, "tolerance"),
            "tolerance has no effect: without timestamp_header there is no signed timestamp to check; add "
            "timestamp_header, or remove tolerance",
            "warning",
            key=True,
        )
    _positive_duration(linter, verify, "tolerance", path)


def _secrets(linter: Linter, verify: dict[str, object], path: PathKey) -> list[tuple[PathKey, str]]:
    if "secret" in verify and "secrets" in verify:
        linter.add(
            (*path, "secret"),
            "give secrets (a list, newest first) or secret (one), not both; during a rotation list both under secrets",
            key=True,
        )
    one, many = verify.get("secret"), verify.get("secrets")
    if isinstance(one, str):
        return [((*path, "secret"), one)]
    if isinstance(many, list):
        return [((*path, "secrets", j), v) for j, v in enumerate(many) if isinstance(v, str)]
    return []


def _public_key_problem(text: str) -> str | None:
    if not text.startswith(PUBLIC_KEY_PREFIX):
        return (
            f"public_key is not {PUBLIC_KEY_PREFIX} followed by base64; give the sender's Ed25519 public key, as "
            "`hookd secret generate --type ed25519` prints it"
        )
    body = text[len(PUBLIC_KEY_PREFIX) :]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return f"public_key is not {PUBLIC_KEY_PREFIX} followed by base64 (A-Z, a-z, 0-9, + and /, then = padding)"
    if len(raw) != 32:
        return (
            f"public_key holds {len(raw)} bytes, and an Ed25519 public key is 32; copy the whole "
            f"{PUBLIC_KEY_PREFIX} key"
        )
    return None


def _replay(linter: Linter, source: dict[str, object], verify: dict[str, object], path: PathKey) -> None:
    """A scheme without a signed timestamp lets a captured request be sent again; only a repeated id
    tells it apart (dedupe), so the source needs one: the provider's, or event_id."""
    kind = verify.get("type")
    untimestamped = kind in _UNTIMESTAMPED or (kind == "hmac" and "timestamp_header" not in verify)
    if not untimestamped or kind in _PROVIDER_IDS or "event_id" in source:
        return
    linter.add(
        (*path, "verify", "type"),
        f"verify type {kind}{' without timestamp_header' if kind == 'hmac' else ''} signs no timestamp, so a "
        "captured request can be sent again, and without an id each copy is a new event; set event_id to the "
        "sender's delivery id, like event_id: 'request.headers.\"x-delivery-id\"'"
        + (", or add timestamp_header" if kind == "hmac" else ""),
        "warning",
    )


def _response(linter: Linter, response: dict[str, object], path: PathKey) -> None:
    sync = response.get("mode") == "sync"
    status = response.get("status")
    if isinstance(status, int) and not isinstance(status, bool) and not 100 <= status <= 599:
        linter.add((*path, "status"), f"status {status} is not an HTTP status; use one from 100 to 599, like 202")
    elif isinstance(status, str) and not sync:
        linter.add(
            (*path, "status"),
            "status is a template, which only mode: sync renders (over the deliveries it waits for); in async "
            "mode give a number, like 202",
        )
    elif isinstance(status, str):
        _template(linter, status, (*path, "status"))
    headers = response.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            at = (*path, "headers", name)
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                linter.add(at, f"{name!r} is not a valid HTTP header name; use letters, digits and '-'", key=True)
            elif isinstance(value, str) and "{{" in value and not sync:
                linter.add(
                    at, "header templates are rendered only in mode: sync; write a fixed value, or use mode: sync"
                )
            elif isinstance(value, str):
                _template(linter, value, at)
    if "body" in response and not sync:
        linter.add(
            (*path, "body"),
            'an async answer is always {"id": "<event id>"}, so body is used only in mode: sync; remove it, or '
            "use mode: sync",
            key=True,
        )
    elif "body" in response:
        _template(linter, response["body"], (*path, "body"))
    if not sync:
        for key in ("timeout", "max_relay", "max_waiting"):
            if key in response:
                linter.add(
                    (*path, key),
                    f"{key} has no effect in async mode, which answers once the event is stored; remove it, or use "
                    "mode: sync",
                    "warning",
                    key=True,
                )
    _positive_duration(linter, response, "timeout", path)


def _template(linter: Linter, value: object, path: PathKey) -> None:
    """A response template, compiled as a payload is. Only errors: it renders over {event, deliveries},
    not over one event, so the event-field hints of a payload would mislead."""
    for problem in lint_template(value):
        if problem.severity == "error":
            linter.add((*path, *problem.path), f"{problem.message} (response templates see {_RESPONSE_SCOPE})")


def _positive_duration(linter: Linter, block: dict[str, object], key: str, path: PathKey) -> None:
    value = block.get(key)
    if value is None or isinstance(value, bool):
        return
    try:
        seconds = parse_duration(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return  # the schema reports it
    if seconds <= 0:
        linter.add((*path, key), f"{key} must be longer than 0s")


def _tls_files(
    linter: Linter, tls: dict[str, object], path: PathKey, base_dir: Path, *, check_environment: bool
) -> None:
    readable: list[Path] = []
    for key in ("cert_file", "key_file"):
        raw = tls.get(key)
        if not isinstance(raw, str) or not raw or (*path, key) in linter.doc.unresolved:
            continue
        target = resolve_path(base_dir, raw)
        try:
            # A FIFO would block the open (validate, start-up, a reload's thread) until written to.
            if not stat.S_ISREG(target.stat().st_mode) and not target.is_dir():
                linter.add((*path, key), f"{str(target)!r} is not a regular file; give the PEM file itself")
                continue
            with target.open("rb") as f:
                f.read(1)
        except FileNotFoundError:
            if check_environment:
                linter.add(
                    (*path, key),
                    f"{str(target)!r} does not exist; give the PEM file (relative paths start at the config file's "
                    "directory)",
                )
        except IsADirectoryError:
            linter.add((*path, key), f"{str(target)!r} is a directory; give the PEM file itself")
        except OSError as e:
            linter.add(
                (*path, key),
                f"cannot read {str(target)!r}: {e.strerror or e}; make sure the user hookd runs as can read it",
            )
        else:
            readable.append(target)
    if len(readable) == 2:
        # Both readable: loaded as the listener will load them, so a file that is not a certificate, or a
        # key of another certificate, is said here rather than when hookd serve starts.
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(readable[0]), str(readable[1]))
        except (ssl.SSLError, OSError, ValueError) as e:
            linter.add(
                path,
                f"the certificate {str(readable[0])!r} and key {str(readable[1])!r} cannot be loaded together "
                f"({getattr(e, 'reason', None) or e}); give PEM files: the certificate (chain) and its own private "
                "key, unencrypted",
            )


def _shared_listeners(linter: Linter, http: list[tuple[int, dict[str, object]]], base_dir: Path) -> None:
    """Sources on one listener share its port and TLS: each route (path and method) once, one TLS."""
    routes: dict[tuple[tuple[str, int], str, str], int] = {}
    tls_of: dict[tuple[str, int], tuple[int, object]] = {}
    for i, source in http:
        listen = _listen_of(source)
        if listen is None:
            continue
        tls = _tls_key(source.get("tls"), base_dir)
        first = tls_of.setdefault(listen, (i, tls))
        if first[1] != tls:
            line = linter.doc.mark(("sources", first[0])).line
            linter.add(
                ("sources", i, "tls") if "tls" in source else ("sources", i, "listen"),
                f"this source shares its listen address with the source on line {line}, whose tls differs; sources "
                "on one listener are served with one TLS setting, so give them the same tls, or listen on another port",
            )
        raw_path = source.get("path")
        if not isinstance(raw_path, str):
            continue
        for method in _methods(source):
            route = (listen, _normalised_path(raw_path), method)
            if route in routes and routes[route] != i:
                line = linter.doc.mark(("sources", routes[route])).line
                linter.add(
                    ("sources", i, "path"),
                    f"{method} {raw_path} on {source['listen']} is already taken by the source on line {line}; each "
                    "path and method of a listener belongs to one source: change the path or the methods",
                )
                break
            routes.setdefault(route, i)


def _taken_ports(linter: Linter, sources: list[object], http: list[tuple[int, dict[str, object]]]) -> None:
    """An http listener on the address of a socket source's or the admin listener: only one can bind it."""
    others: dict[tuple[str, int], str] = {}
    for i, source in enumerate(sources):
        if isinstance(source, dict) and source.get("type") == "socket" and (listen := _listen_of(source)) is not None:
            others.setdefault(
                listen, f"socket source {source.get('name')!r} (line {linter.doc.mark(('sources', i)).line})"
            )
    admin = linter.doc.data.get("admin") if isinstance(linter.doc.data, dict) else None
    if isinstance(admin, dict) and (listen := _listen_of(admin)) is not None:
        others.setdefault(listen, "the admin listener")
    for i, source in http:
        listen = _listen_of(source)
        if listen is not None and listen[1] != 0 and listen in others:
            linter.add(
                ("sources", i, "listen"),
                f"{source['listen']} is also the address of {others[listen]}, and only one listener can bind it; "
                "give this source another port",
            )


def _listen_of(source: dict[str, object]) -> tuple[str, int] | None:
    listen = source.get("listen")
    if not isinstance(listen, str):
        return None
    try:
        return parse_listen(listen)
    except ValueError:
        return None


def _methods(source: dict[str, object]) -> list[str]:
    """The source's methods, upper-cased, each once (POST when not given)."""
    methods = source.get("methods", ["POST"])
    listed = methods if isinstance(methods, list) else []
    return list(dict.fromkeys(m.upper() for m in listed if isinstance(m, str)))


def _tls_key(tls: object, base_dir: Path) -> object:
    if not isinstance(tls, dict):
        return None
    return tuple(
        resolve_path(base_dir, v) if isinstance(v, str) else v for v in (tls.get("cert_file"), tls.get("key_file"))
    )


def _listed(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
