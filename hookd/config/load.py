"""The one load path: file → YAML with positions → JSON Schema → lint → frozen dataclasses."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from hookd.config.lint import lint_document, parse_listen, resolve_path
from hookd.config.located import LocatedDocument, PathKey, load_located
from hookd.config.model import (
    AdminConfig,
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BatchConfig,
    BearerAuth,
    BreakerConfig,
    DeliveryConfig,
    FileSourceConfig,
    ForwardConfig,
    HookConfig,
    HttpSourceConfig,
    JwtAuth,
    ListenTlsConfig,
    OAuth2Auth,
    Origin,
    ResponseConfig,
    RetryPolicy,
    Settings,
    SigningConfig,
    SocketSourceConfig,
    SourceConfig,
    StorageConfig,
    TlsConfig,
    VerifyConfig,
)
from hookd.config.paths import describe_path
from hookd.config.schema import schema_problems
from hookd.config.secret_fields import (
    HOOK_SECRET_KEYS,
    VERIFY_SECRET_KEYS,
    chat_url_paths,
    environment_proxy_passwords,
    hook_url_passwords,
    proxy_passwords,
    secret_values,
    url_passwords,
    written_password_is_literal,
)
from hookd.errors import ConfigError, Problem
from hookd.files import file_kind
from hookd.redact import MIN_SECRET_CHARS, REDACTED, Redactor
from hookd.units import parse_duration, parse_rate, parse_size

DEFAULT_CONFIG = "hookd.yaml"
CONFIG_ENV = "HOOKD_CONFIG"
# The largest config file hookd reads: 5,000 one-line hooks take half a megabyte, so this leaves room
# to spare, while a path that points at something endless (a growing log, /dev/zero through a
# symlink) is refused before it fills the daemon's memory.
MAX_CONFIG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What `hookd validate` reports for one file: the settings if valid, and every problem."""

    file: str
    settings: Settings | None
    problems: tuple[Problem, ...]
    readable: bool = True  # False when the file itself could not be read (a usage error)
    # References not checked because check_environment was off (${VAR} unset, ${file:...} missing).
    unchecked: tuple[str, ...] = ()
    # The hooks and sources the file lists, also when there are no settings to count them in
    # (--no-environment with an unset reference); None when the file has no such list.
    hook_count: int | None = None
    source_count: int | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


class NotAConfigFile(OSError):
    """The config path is not a regular file of at most MAX_CONFIG_BYTES (the message says which)."""


def read_config_bytes(path: Path) -> bytes:
    """The config file's bytes. A FIFO, a device (a symlink to /dev/zero, say) or a file past
    MAX_CONFIG_BYTES is refused: a FIFO without a writer would hold `hookd serve` or a reload forever,
    /dev/zero would grow the daemon until the kernel killed it. O_NONBLOCK so that opening a FIFO
    returns at once (it is then refused by its kind), and never more than the cap + 1 byte read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb", closefd=True) as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise NotAConfigFile(
                f"{str(path)!r} is {file_kind(mode)}, not a regular file; hookd reads its config from a regular "
                "file (a symlink to one is fine)"
            )
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise NotAConfigFile(
            f"{str(path)!r} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB, the most hookd reads as a "
            "config file; check that -c PATH names the config (not a log or a database)"
        )
    return raw


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def check_config(path: Path, *, env: Mapping[str, str] | None = None, check_environment: bool = True) -> CheckResult:
    """Load and check one config file, collecting every problem instead of stopping at the first.

    `check_environment` False skips what only the deployment has (unset variables, missing secret
    files): those values go unchecked, and without settings when the model needs them."""
    file = str(path)
    try:
        raw = read_config_bytes(path)
    except FileNotFoundError:
        return _fail(file, f"config file {file!r} does not exist; pass -c PATH or set {CONFIG_ENV}")
    except IsADirectoryError:
        return _fail(file, f"{file!r} is a directory; pass the config file itself, like {file}/hookd.yaml")
    except NotAConfigFile as e:
        return _fail(file, str(e))
    except OSError as e:
        return _fail(file, f"cannot read {file!r}: {e.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        problem = Problem(
            file=file,
            line=raw.count(b"\n", 0, e.start) + 1,
            column=e.start - line_start + 1,
            path="",
            message=f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x} here); save it as UTF-8",
        )
        return CheckResult(file, None, (problem,))
    base_dir = path.parent.absolute()
    doc = load_located(text, file, base_dir=base_dir, env=env, check_environment=check_environment)
    problems = list(doc.problems)
    if doc.data is None and problems:
        return CheckResult(file, None, tuple(_redact(problems, doc)))
    if not isinstance(doc.data, dict):
        # A document that is only `---` or `~` is null: as good as empty, so say the same.
        if doc.data is None:
            line, column, what = 0, 0, "the file holds no settings"
        else:
            mark = doc.mark(())
            line, column, what = mark.line, mark.column, "the top level must be a mapping"
        problems.append(
            Problem(
                file=file,
                line=line,
                column=column,
                path="",
                message=f"{what}; start the file with `version: 1` and add keys beside it",
            )
        )
        problems.sort(key=_problem_order)
        return CheckResult(file, None, tuple(_redact(problems, doc)))
    problems.extend(schema_problems(doc))
    problems.extend(lint_document(doc, base_dir, check_environment=check_environment))
    problems.extend(_short_secrets(doc, problems))
    problems.extend(_literal_secrets(doc))
    problems.sort(key=_problem_order)
    problems = _redact(problems, doc)
    unchecked = tuple(sorted(doc.unchecked))
    if any(p.severity == "error" for p in problems):
        return CheckResult(file, None, tuple(problems), unchecked=unchecked)
    digest = hashlib.sha256(raw).hexdigest()
    if unchecked:
        # The unset references keep their `${...}` text, which the model may not parse (a port, a
        # duration): the file checked out, but there are no settings to run with.
        try:
            settings: Settings | None = _build(doc, path, base_dir, digest, env)
        except (ValueError, TypeError, KeyError):
            settings = None
        return CheckResult(
            file,
            settings,
            tuple(problems),
            unchecked=unchecked,
            hook_count=_count(doc.data, "hooks"),
            source_count=_count(doc.data, "sources"),
        )
    return CheckResult(file, _build(doc, path, base_dir, digest, env), tuple(problems))


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `path`, or ConfigError carrying every problem."""
    result = check_config(path, env=env)
    if result.settings is None:
        raise ConfigError(list(result.problems))
    return result.settings


def _count(data: object, key: str) -> int:
    items = data.get(key) if isinstance(data, dict) else None
    return len(items) if isinstance(items, list) else 0


def _problem_order(p: Problem) -> tuple[int, int, str]:
    return (p.line, p.column, p.severity)


def _short_secrets(doc: LocatedDocument, found: list[Problem]) -> list[Problem]:
    """A warning for each substituted value too short to be hidden by value (MIN_SECRET_CHARS), where
    the value is sent or shown as a secret would be; nothing where the path has an error already."""
    with_errors = {p.path for p in found if p.severity == "error"}
    problems = []
    for value, ref in doc.secrets.items():
        if len(value) >= MIN_SECRET_CHARS:
            continue
        # The first place the value is used as a secret would be, a string (a number or a boolean
        # is a setting), and without an error there already (which says what to fix).
        shown_at = [
            p
            for p in doc.secret_paths.get(value, [])
            if (_holds_secrets(p) or _is_proxy_password(doc, p, value))
            and isinstance(_value_at(doc.data, p), str)
            and describe_path(p, doc.data) not in with_errors
        ]
        if not shown_at:
            continue
        what = "is empty" if not value else f"is only {len(value)} character(s) long"
        message = (
            f"the value of {ref} {what}: hookd hides secrets by value only from {MIN_SECRET_CHARS} characters on, "
            "so this one may appear in logs, history and command output; use a longer secret, or write the value "
            "in the config if it is not one"
        )
        problems.append(_warning_at(doc, shown_at[0], message))
    return problems


def _warning_at(doc: LocatedDocument, path: PathKey, message: str) -> Problem:
    mark = doc.mark(path)
    return Problem(file=doc.file, line=mark.line, column=mark.column, path=describe_path(path, doc.data),
                   message=message, severity="warning")  # fmt: skip


def _config_secrets(doc: LocatedDocument) -> dict[str, str]:
    """Every secret of the config, value -> how it is shown: those from ${...} as their reference,
    those written literally (secret_fields) as REDACTED."""
    secrets = {
        value: ref
        for value, ref in doc.secrets.items()
        if not ref.startswith("${file:") and not _only_places(doc, doc.secret_paths.get(value, []))
    }
    secrets.update((value, ref) for value, ref in doc.secrets.items() if ref.startswith("${file:"))
    for path, value in secret_values(doc.data):
        if path not in doc.interpolated and path not in doc.unresolved:
            secrets.setdefault(value, REDACTED)
    for path, url_path in chat_url_paths(doc.data):
        if path not in doc.unresolved:
            secrets.setdefault(url_path, REDACTED)
    for path, password in [*proxy_passwords(doc.data), *hook_url_passwords(doc.data)]:
        # Part of a URL, so also when the URL has a ${...} elsewhere (or is one: the password alone
        # can then turn up, in an error message, say).
        if path not in doc.unresolved:
            secrets.setdefault(password, REDACTED)
    return secrets


def _only_places(doc: LocatedDocument, paths: Sequence[PathKey]) -> bool:
    """Whether a ${VAR} is used only where a place goes (a database or socket path, a file to tail, a
    listen address): such a value is no secret, and logs and status show where things are. One used
    anywhere else, or nowhere known, is hidden as a secret."""
    return bool(paths) and all(_is_place(doc, p) for p in paths)


def _is_place(doc: LocatedDocument, path: PathKey) -> bool:
    if path in (("storage", "path"), ("admin", "path"), ("admin", "listen")):
        return True
    if len(path) != 3 or path[0] != "sources" or path[2] not in ("path", "listen"):
        return False
    # An http source's path is a URL's: an unguessable one is how some senders are let in.
    return path[2] == "listen" or _value_at(doc.data, (*path[:2], "type")) in ("socket", "file")


def _literal_secrets(doc: LocatedDocument) -> list[Problem]:
    """A warning for each secret written in the file itself rather than taken from ${VAR} or
    ${file:...}: whoever reads the file, or its git history, has it."""
    literal = [
        (path, _LITERAL_SECRET)
        for path, value in secret_values(doc.data)
        if path not in doc.interpolated and path not in doc.unresolved and value and path != ("admin", "token")
    ]
    # A verify secret that is the file's own default lets anyone who reads the file forge requests the
    # source accepts (a hook's default secret only gets its requests refused): said while the variable
    # is unset, as the examples are tried.
    literal += [
        (path, _DEFAULTED_SECRET.format(var=doc.defaulted[path]))
        for path, value in secret_values(doc.data)
        if path in doc.defaulted and value and path[0] == "sources"
    ]
    for passwords, message in ((proxy_passwords, _LITERAL_PROXY_PASSWORD), (hook_url_passwords, _LITERAL_URL_PASSWORD)):
        for path in dict.fromkeys(path for path, _ in passwords(doc.data) if path not in doc.unresolved):
            written = doc.interpolated.get(path, str(_value_at(doc.data, path)))
            if written_password_is_literal(written):
                literal.append((path, message))
    return [_warning_at(doc, path, message) for path, message in literal]


_LITERAL_SECRET = (
    "a secret written in the config file: whoever can read the file or its git history has it; take it from "
    "the environment or a file instead, like ${WEBHOOK_SECRET} or ${file:/run/secrets/webhook_secret}"
)
_DEFAULTED_SECRET = (
    "the secret is the default written in the config file, because {var} is not set: whoever can read the "
    "file or its git history can sign requests this source accepts; set {var}"
)
_LITERAL_URL_PASSWORD = (
    "the url's password is written in the config file: whoever can read the file or its git history has it; "
    "take it from the environment or a file instead, like https://user:${RECEIVER_PASSWORD}@host/path, or use "
    "auth: {type: basic, ...}"
)
_LITERAL_PROXY_PASSWORD = (
    "the proxy password is written in the config file: whoever can read the file or its git history has it; "
    "take it from the environment or a file instead, like http://user:${PROXY_PASSWORD}@proxy.corp:3128"
)


def _is_proxy_password(doc: LocatedDocument, path: PathKey, value: str) -> bool:
    if path != ("delivery", "proxy") and not (len(path) == 3 and path[0] == "hooks" and path[2] == "proxy"):
        return False
    url = _value_at(doc.data, path)
    return isinstance(url, str) and value in url_passwords(url)


def _holds_secrets(path: PathKey) -> bool:
    """Whether a value at `path` is sent or shown the way a secret is: a hook's URL, headers or
    payload, a secret of its signing or auth block, a secret of an http source's verify block, or the
    admin token. A `${PORT}` in a listen
    address or a `${MIN}` in a filter is a setting."""
    if path == ("admin", "token"):
        return True
    if len(path) >= 4 and path[0] == "sources" and path[2] == "verify":
        return path[3] in VERIFY_SECRET_KEYS
    if len(path) >= 4 and path[0] == "hooks" and path[2] in HOOK_SECRET_KEYS:
        return path[3] in HOOK_SECRET_KEYS[str(path[2])]
    return (
        len(path) >= 3 and path[0] == "hooks" and path[2] in ("url", "headers", "payload", "message", "preset_options")
    )


def _value_at(data: object, path: PathKey) -> object:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _redact(problems: list[Problem], doc: LocatedDocument) -> list[Problem]:
    """Show `${VAR}` wherever a message would quote a value taken from the environment or a file.

    Messages already name the reference for interpolated fields; this is the net under them, for
    values quoted elsewhere (a duplicate name, a path, a template inside a header).
    """
    if not problems:
        return problems  # nothing to redact: no Redactor to build (its patterns cost at every check)
    redactor = Redactor(_config_secrets(doc).items())
    if not redactor:
        return problems
    out = []
    for p in problems:
        message, path = redactor.text(p.message), redactor.text(p.path)
        out.append(p if (message, path) == (p.message, p.path) else replace(p, message=message, path=path))
    return out


def _fail(file: str, message: str) -> CheckResult:
    problem = Problem(file=file, line=0, column=0, path="", message=message)
    return CheckResult(file, None, (problem,), readable=False)


_Spec = dict[str, tuple[str, Callable[[Any], object]]]


def _given(raw: dict[str, Any], spec: _Spec) -> dict[str, Any]:
    """Keyword arguments for the keys the file gives (YAML key -> field name, parser). Absent keys
    take the dataclass's default, so each default is written once: in model.py, which a test checks
    against schema.json."""
    return {field: parse(raw[key]) for key, (field, parse) in spec.items() if key in raw}


def _same(value: Any) -> Any:
    return value


_STORAGE: _Spec = {"retention": ("retention_s", parse_duration), "synchronous": ("synchronous", _same)}
_SOURCE: _Spec = {"max_event_size": ("max_event_bytes", parse_size)}
_SOCKET: _Spec = {**_SOURCE, "mode": ("mode", lambda v: int(v, 8)), "listen": ("listen", parse_listen)}
_FILE: _Spec = {**_SOURCE, "start_at": ("start_at", _same)}
_VERIFY: _Spec = {
    "secrets": ("secrets", tuple),
    "secret": ("secrets", lambda v: (v,)),  # the one-item shorthand (lint refuses both at once)
    "public_key": ("public_key", _same),
    "tolerance": ("tolerance_s", parse_duration),
    "header": ("header", _same),
    "query": ("query", _same),
    "username": ("username", _same),
    "algorithm": ("algorithm", _same),
    "encoding": ("encoding", _same),
    "prefix": ("prefix", _same),
    "content": ("content", _same),
    "timestamp_header": ("timestamp_header", _same),
    "id_header": ("id_header", _same),
    "verify_token": ("verify_token", _same),
}
_RESPONSE: _Spec = {
    "mode": ("mode", _same),
    # async: a number; sync: a number or a template (lint checks which). JSON Schema lets 202.0 pass as an integer.
    "status": ("status", lambda v: int(v) if isinstance(v, float) else v),
    "headers": ("headers", lambda v: MappingProxyType(dict(v))),
    "body": ("body", _same),
    "timeout": ("timeout_s", parse_duration),
    "max_relay": ("max_relay", parse_size),
    "max_waiting": ("max_waiting", int),
}
_HTTP: _Spec = {
    **_SOURCE,
    "listen": ("listen", parse_listen),
    "methods": ("methods", lambda v: tuple(m.upper() for m in v)),
    "verify": ("verify", lambda v: VerifyConfig(type=v["type"], **_given(v, _VERIFY))),
    "allow_ips": ("allow_ips", tuple),
    "trusted_proxies": ("trusted_proxies", tuple),
    "event_type": ("event_type", _same),
    "event_id": ("event_id", _same),
    "response": ("response", lambda v: ResponseConfig(**_given(v, _RESPONSE))),
    "read_timeout": ("read_timeout_s", parse_duration),
}
_FORWARD: _Spec = {"body": ("body", _same), "headers": ("headers", lambda v: tuple(h.lower() for h in v))}
_RETRY: _Spec = {
    "max_attempts": ("max_attempts", int),  # JSON Schema lets 5.0 pass as an integer
    "backoff": ("backoff", _same),
    "initial_delay": ("initial_delay_s", parse_duration),
    "max_delay": ("max_delay_s", parse_duration),
    "jitter": ("jitter", _same),
}
_BREAKER: _Spec = {
    "failures": ("failures", int),
    "cooldown": ("cooldown_s", parse_duration),
    "disable_after": ("disable_after_s", parse_duration),
}
_BATCH: _Spec = {
    "max_events": ("max_events", int),
    "max_size": ("max_size", parse_size),
    "max_wait": ("max_wait_s", parse_duration),
    "payload": ("payload", _same),
}
_AUTH: dict[str, tuple[type[AuthConfig], _Spec]] = {
    "bearer": (BearerAuth, {"token": ("token", _same)}),
    "basic": (BasicAuth, {"username": ("username", _same), "password": ("password", _same)}),
    "api_key": (ApiKeyAuth, {"value": ("value", _same), "header": ("header", _same), "query": ("query", _same)}),
    "oauth2": (
        OAuth2Auth,
        {
            "token_url": ("token_url", _same),
            "client_id": ("client_id", _same),
            "client_secret": ("client_secret", _same),
            "scope": ("scope", _same),
            "audience": ("audience", _same),
            "client_auth": ("client_auth", _same),
        },
    ),
    "jwt": (
        JwtAuth,
        {
            "algorithm": ("algorithm", _same),
            "secret": ("secret", _same),
            "private_key": ("private_key", _same),
            "claims": ("claims", lambda v: tuple(v.items())),
            "ttl": ("ttl_s", parse_duration),
        },
    ),
}


def _auth(raw: dict[str, Any]) -> AuthConfig:
    record, spec = _AUTH[raw["type"]]
    return record(**_given(raw, spec))


_SIGNING: _Spec = {
    "secrets": ("secrets", tuple),
    "secret": ("secrets", lambda v: (v,)),  # the one-item shorthand (lint refuses both at once)
    "private_key": ("private_key", _same),
    "header": ("header", _same),
    "algorithm": ("algorithm", _same),
    "encoding": ("encoding", _same),
    "prefix": ("prefix", _same),
    "content": ("content", _same),
    "timestamp_header": ("timestamp_header", _same),
}
_HOOK: _Spec = {
    "description": ("description", _same),
    "filter": ("filter", _same),
    "ordering_key": ("ordering_key", _same),
    "method": ("method", _same),
    "headers": ("headers", lambda v: MappingProxyType(dict(v))),
    "payload": ("payload", _same),
    "format": ("format", _same),
    "preset": ("preset", _same),
    "message": ("message", _same),
    "preset_options": ("preset_options", lambda v: MappingProxyType(dict(v))),
    "retry": ("retry", lambda v: _retry_policy(v)),
    "timeout": ("timeout_s", parse_duration),
    "concurrency": ("concurrency", int),
    "follow_redirects": ("follow_redirects", _same),
    "allow_hosts": ("allow_hosts", tuple),
    "allow_destinations": ("allow_destinations", tuple),
    "auth": ("auth", _auth),
    "signing": ("signing", lambda v: SigningConfig(type=v["type"], **_given(v, _SIGNING))),
    "on_gone": ("on_gone", _same),
    "breaker": ("breaker", lambda v: BreakerConfig(**_given(v, _BREAKER))),
    "batch": ("batch", lambda v: BatchConfig(**_given(v, _BATCH))),
    "forward": ("forward", lambda v: ForwardConfig(**_given(v, _FORWARD))),
}
_DELIVERY: _Spec = {
    "concurrency": ("concurrency", int),
    "shutdown_timeout": ("shutdown_timeout_s", parse_duration),
    "require_https": ("require_https", _same),
    "proxy": ("proxy", _same),
    "trust_env": ("trust_env", _same),
    "rate_limit_groups": ("rate_limit_groups", lambda v: MappingProxyType({k: parse_rate(r) for k, r in v.items()})),
}

_ADMIN: _Spec = {"listen": ("listen", parse_listen), "mode": ("mode", lambda v: int(v, 8)), "token": ("token", _same)}


def _transport(hook: dict[str, Any], delivery: DeliveryConfig, base_dir: Path) -> dict[str, Any]:
    """A hook's TLS files resolved against the config's directory, and its require_https and proxy
    resolved against `delivery:` (the hook's own setting wins; `proxy: false` means none)."""
    raw_tls = hook.get("tls", {})
    tls: dict[str, Any] = {
        k: resolve_path(base_dir, raw_tls[k]) for k in ("ca_file", "client_cert", "client_key") if k in raw_tls
    }
    if "verify" in raw_tls:
        tls["verify"] = raw_tls["verify"]
    proxy = hook.get("proxy", delivery.proxy)
    return {
        "tls": TlsConfig(**tls),
        "require_https": hook.get("require_https", delivery.require_https),
        "proxy": proxy or None,
        "trust_env": delivery.trust_env and "proxy" not in hook and delivery.proxy is None,
    }


def _listen_tls(raw: dict[str, Any], base_dir: Path) -> ListenTlsConfig:
    """An http source's `tls:`, its files resolved against the config's directory."""
    return ListenTlsConfig(
        cert_file=resolve_path(base_dir, raw["cert_file"]), key_file=resolve_path(base_dir, raw["key_file"])
    )


def _rate_limit(hook: dict[str, Any], delivery: DeliveryConfig) -> dict[str, Any]:
    """A hook's own `rate_limit`, or the one of the group it names (lint refuses both at once, and a
    group that is not declared)."""
    group = hook.get("rate_limit_group")
    if group is not None:
        return {"rate_limit": delivery.rate_limit_groups[group], "rate_limit_group": group}
    if "rate_limit" in hook:
        return {"rate_limit": parse_rate(hook["rate_limit"])}
    return {}


def _retry_policy(raw: dict[str, Any]) -> RetryPolicy:
    """A hook's `retry:`; with `schedule`, the attempts and the cap on Retry-After follow from it (lint
    refuses the keys it replaces)."""
    if "schedule" not in raw:
        return RetryPolicy(**_given(raw, _RETRY))
    schedule = tuple(parse_duration(d) for d in raw["schedule"])
    return RetryPolicy(
        schedule=schedule, max_attempts=len(schedule) + 1, max_delay_s=max(schedule), jitter=raw.get("jitter", True)
    )


def _build(
    doc: LocatedDocument, path: Path, base_dir: Path, digest: str, env: Mapping[str, str] | None = None
) -> Settings:
    # The schema and lint passed, so the shapes below are known; the casts only tell mypy so.
    data = cast(dict[str, Any], doc.data)

    def origin(p: PathKey) -> Origin:
        mark = doc.mark(p)
        return Origin(doc.file, mark.line, mark.column)

    storage_raw = data.get("storage", {})
    storage = StorageConfig(
        path=resolve_path(base_dir, str(storage_raw.get("path", StorageConfig().path))),
        **_given(storage_raw, _STORAGE),
    )
    sources: list[SourceConfig] = []
    for i, s in enumerate(data.get("sources", [])):
        if s["type"] == "socket":
            sources.append(
                SocketSourceConfig(
                    name=s["name"],
                    path=resolve_path(base_dir, s["path"]) if "path" in s else None,
                    origin=origin(("sources", i)),
                    **_given(s, _SOCKET),
                )
            )
        elif s["type"] == "http":
            sources.append(
                HttpSourceConfig(
                    name=s["name"],
                    path=s["path"],
                    tls=_listen_tls(s["tls"], base_dir) if "tls" in s else None,
                    origin=origin(("sources", i)),
                    **_given(s, _HTTP),
                )
            )
        else:
            sources.append(
                FileSourceConfig(
                    name=s["name"],
                    path=resolve_path(base_dir, s["path"]),
                    origin=origin(("sources", i)),
                    **_given(s, _FILE),
                )
            )
    delivery = DeliveryConfig(**_given(data.get("delivery", {}), _DELIVERY))
    hooks = [
        HookConfig(
            name=h["name"],
            events=tuple(h["events"]),
            url=h["url"],
            origin=origin(("hooks", i)),
            **_given(h, _HOOK),
            **_transport(h, delivery, base_dir),
            **_rate_limit(h, delivery),
        )
        for i, h in enumerate(data.get("hooks", []))
    ]
    admin_raw = data.get("admin", {})
    secrets = _config_secrets(doc)
    if delivery.trust_env:
        for password in environment_proxy_passwords(os.environ if env is None else env):
            secrets.setdefault(password, REDACTED)
    return Settings(
        config_path=path,
        config_sha256=digest,
        secrets=tuple((v, ref) for v, ref in secrets.items() if len(v) >= MIN_SECRET_CHARS),
        version=int(data["version"]),
        storage=storage,
        sources=tuple(sources),
        hooks=tuple(hooks),
        delivery=delivery,
        admin=AdminConfig(
            enabled="admin" in data,
            path=resolve_path(base_dir, admin_raw["path"]) if "path" in admin_raw else None,
            **_given(admin_raw, _ADMIN),
        ),
    )
