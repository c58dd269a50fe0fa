"""Checks the schema cannot express: names, expressions, templates, URLs, addresses, paths.

Runs on the raw (possibly schema-invalid) document, so it type-checks defensively and reports
everything it can: a user fixes all their mistakes in one round.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from hookd.alerts import TYPES as ALERT_TYPES
from hookd.config.expression_hints import braced_expression_hint
from hookd.config.lint_auth import lint_auth, lint_shared_tokens
from hookd.config.lint_batch import lint_batch
from hookd.config.lint_format import lint_format
from hookd.config.lint_rate import lint_rate_limits
from hookd.config.lint_transport import https_required_by, lint_transport
from hookd.config.located import LocatedDocument, PathKey, without_references
from hookd.config.model import BreakerConfig, RetryPolicy, StorageConfig
from hookd.config.paths import describe_path
from hookd.errors import Problem, Severity
from hookd.events import RESERVED_PREFIX, RESERVED_SOURCE
from hookd.expressions import ExpressionError, called_functions, compile_expression, lint_expression
from hookd.files import file_kind
from hookd.look_alikes import reads_as_exactly
from hookd.senders.guard import KEY as ALLOW_DESTINATIONS
from hookd.senders.guard import Destinations, parse_destination, why_not_public, written_address
from hookd.signing import (
    CONTENT_FIELDS,
    GITHUB_HEADER,
    STANDARD_HEADER,
    ContentError,
    SecretFormatError,
    load_private_key,
    parse_content,
    short_key_reason,
    standard_key,
)
from hookd.suggest import closest, did_you_mean
from hookd.templates import PLACEHOLDER, lint_template
from hookd.units import format_duration, parse_duration
from hookd.urls import ALLOW_HOSTS, glob_problem, host_is_templated, is_templated, url_problems

_RETRY_DEFAULTS = RetryPolicy()

# AF_UNIX sun_path is 108 bytes on Linux, NUL included.
UNIX_PATH_MAX = 107
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MANAGED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# Set on every request by rendering (hookd.rendering), which a signing header must not replace.
_HOOKD_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "content-type", "user-agent"})


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_path(base_dir: Path, raw: str) -> Path:
    p = Path(raw).expanduser()
    return p if p.is_absolute() else base_dir / p


# An expression of only spaces: JMESPath has nothing to parse, and the daemon could not compile it.
_BLANK = "{key} is blank; write a JMESPath expression over the event, like {example}, or remove {key}"
# Ordering keys every event has a value of its own for: they order nothing.
_OWN_KEY = frozenset({"@", "id", "time"})


class _Linter:
    def __init__(self, doc: LocatedDocument, base_dir: Path, *, check_environment: bool = True) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.check_environment = check_environment
        self.problems: list[Problem] = []

    def add(
        self, path: PathKey, message: str, severity: Severity = "error", *, offset: int = -1, key: bool = False
    ) -> None:
        if path in self.doc.unresolved:
            return  # the unresolved ${...} is reported already; its placeholder text proves nothing
        mark = self.doc.mark(path, key=key)
        column = mark.column
        # Point inside a one-line expression when we know the offset (plain or quoted scalar).
        style = self.doc.styles.get(path, "|")
        if offset >= 0 and not key and style in (None, "'", '"') and path not in self.doc.interpolated:
            column = mark.column + offset + (0 if style is None else 1)
        self.problems.append(
            Problem(
                file=self.doc.file,
                line=mark.line,
                column=column,
                path=describe_path(path, self.doc.data),
                message=message,
                severity=severity,
            )
        )

    def run(self) -> list[Problem]:
        # Imported here: lint_http reads listen addresses and paths with this module's parse_listen,
        # is_loopback and resolve_path.
        from hookd.config.lint_http import lint_forward, lint_http_sources

        data = self.doc.data
        if not isinstance(data, dict):
            return self.problems
        sources = data.get("sources")
        if isinstance(sources, list):
            self._unique_names(sources, ("sources",), "source")
            self._reserved_source_names(sources)
            for i, source in _items(sources):
                self._source(source, ("sources", i))
            lint_http_sources(self, sources, self.base_dir, check_environment=self.check_environment)
        hooks = data.get("hooks")
        if isinstance(hooks, list):
            self._unique_names(hooks, ("hooks",), "hook")
            others = [
                str(s.get("name")) for s in (sources if isinstance(sources, list) else [])
                if isinstance(s, dict) and s.get("type") != "http"
            ]  # fmt: skip
            for i, hook in _items(hooks):
                self._hook(hook, ("hooks", i))
                lint_forward(self, hook, ("hooks", i), others)
            lint_shared_tokens(hooks, self.add)
        storage = data.get("storage")
        if isinstance(storage, dict) and isinstance(storage.get("path"), str):
            db = resolve_path(self.base_dir, storage["path"])
            if self._is_dir(db, ("storage", "path")):
                self.add(
                    ("storage", "path"),
                    f"{str(db)!r} is a directory; name the database file, like var/hookd.db",
                )
        admin = data.get("admin")
        if isinstance(admin, dict):
            self._admin(admin)
        self._finite_durations(data)
        lint_rate_limits(data, self.add)
        lint_transport(self, data, self.base_dir, check_environment=self.check_environment)
        return self.problems

    def _finite_durations(self, data: dict[str, object]) -> None:
        # JSON Schema accepts .inf and .nan as numbers >= 0; no duration can use them.
        paths: list[PathKey] = [("storage", "retention"), ("delivery", "shutdown_timeout")]
        hooks = data.get("hooks")
        for i, _hook in _items(hooks if isinstance(hooks, list) else []):
            paths += [
                ("hooks", i, "timeout"),
                ("hooks", i, "retry", "initial_delay"),
                ("hooks", i, "retry", "max_delay"),
            ]
        for path in paths:
            value: object = data
            for part in path:
                value = _child(value, part)
            if isinstance(value, float) and not math.isfinite(value):
                self.add(path, f"{value} is not a duration; give a finite number of seconds, or text like 30s or 90d")

    def _unique_names(self, items: list[object], path: PathKey, what: str) -> None:
        first: dict[str, int] = {}
        for i, item in _items(items):
            name = item.get("name")
            if not isinstance(name, str):
                continue
            if name in first:
                line = self.doc.mark((*path, first[name], "name")).line
                shown = self.doc.shown((*path, i, "name"), name)
                self.add(
                    (*path, i, "name"),
                    f"{what} name {shown} is already used on line {line}; every {what} needs its own name",
                )
            else:
                first[name] = i

    def _reserved_source_names(self, sources: list[object]) -> None:
        # As a person reads it (hookd.look_alikes, the rule for an event's type and source): `HOOKD` in
        # `hookd status` or a log line passes for the built-in source.
        for i, source in _items(sources):
            name = source.get("name")
            if isinstance(name, str) and reads_as_exactly(name, RESERVED_SOURCE):
                looks = "" if name == RESERVED_SOURCE else f" reads as {RESERVED_SOURCE!r} and"
                self.add(
                    ("sources", i, "name"),
                    f"source name {name!r}{looks} is reserved for hookd's own events (alerts, the built-in "
                    "source hookd); give this source another name, like app",
                )

    def _alert_glob(self, glob: str, path: PathKey) -> None:
        """A glob for hookd's own events that none of them matches: a typo would wait for alerts in vain."""
        if not glob.startswith(RESERVED_PREFIX) and glob[:5].lower() == RESERVED_SOURCE:
            # `hookd*` or `HOOKD.*`: meant for alerts, but only globs starting with `hookd.` hear them,
            # and producers may not send types that read as hookd's.
            self.add(
                path,
                f"event glob {glob!r} does not start with {RESERVED_PREFIX!r} (lower case, with the dot), so it "
                f"never matches hookd's own events (alerts); write {RESERVED_PREFIX}* for all of them",
                "warning",
            )
            return
        if not glob.startswith(RESERVED_PREFIX) or any(fnmatch.fnmatchcase(t, glob) for t in ALERT_TYPES):
            return
        close = closest(glob, ALERT_TYPES)
        fix = f"did you mean {close!r}?" if close else f"write one of them, or {RESERVED_PREFIX}* for all"
        self.add(
            path,
            f"event glob {glob!r} matches none of hookd's own event types ({', '.join(ALERT_TYPES)}), so this "
            f"hook never hears it; {fix}",
            "warning",
        )

    def _source(self, source: dict[str, object], path: PathKey) -> None:
        kind = source.get("type")
        raw_path = source.get("path")
        if kind == "socket" and isinstance(raw_path, str) and raw_path:
            sock = resolve_path(self.base_dir, raw_path).absolute()
            if len(str(sock).encode()) > UNIX_PATH_MAX:
                self.add(
                    (*path, "path"),
                    f"the socket path is {len(str(sock).encode())} bytes once resolved, over the "
                    f"{UNIX_PATH_MAX}-byte limit of unix sockets; use a shorter path such as /run/hookd/app.sock",
                )
        listen = source.get("listen")
        if kind in ("socket", "http") and isinstance(listen, str):
            # An http source may listen beyond loopback when it verifies senders (lint_http says when).
            self._listen(listen, (*path, "listen"), loopback_only=kind == "socket")
        if kind == "file" and isinstance(raw_path, str) and raw_path:
            target = resolve_path(self.base_dir, raw_path)
            what = self._what_is(target, (*path, "path"))
            if what not in ("missing", "a regular file", None):
                # What is at the path now, not the config's shape: a warning, so that status,
                # history and send still run while a tailed path is briefly something else. The
                # file source itself refuses it at start, so `hookd serve` still does not start.
                self.add(
                    (*path, "path"),
                    f"{str(target)!r} is {what} now, not a regular file; a file source tails a JSONL file, so "
                    "hookd serve refuses to start (and a running daemon stops this source) until the path names one",
                    "warning",
                )
            elif what == "missing" and not target.parent.is_dir() and target.parent != self._storage_dir():
                self.add(
                    (*path, "path"),
                    f"directory {str(target.parent)!r} does not exist yet; hookd will wait for the file to appear",
                    "warning",
                )

    def _is_dir(self, target: Path, path: PathKey) -> bool | None:
        """Whether `target` is a directory; None, with a warning, when this user may not look (the
        daemon may run as another user, so that alone is not an error)."""
        try:
            return target.is_dir()
        except OSError as e:
            self._cannot_look(target, path, e)
            return None

    def _what_is(self, target: Path, path: PathKey) -> str | None:
        """What `target` is now ("missing", "a regular file", "a directory", "a FIFO" ...); None, with a
        warning, when this user may not look (the daemon may run as another user)."""
        try:
            mode = target.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        except OSError as e:
            self._cannot_look(target, path, e)
            return None
        return file_kind(mode)

    def _cannot_look(self, target: Path, path: PathKey, e: OSError) -> None:
        self.add(
            path,
            f"cannot look at {str(target)!r}: {e.strerror or e}; make sure the user hookd runs as can reach it",
            "warning",
        )

    def _storage_dir(self) -> Path:
        # The daemon creates the database directory at start, so files beside the database are fine.
        storage = self.doc.data.get("storage") if isinstance(self.doc.data, dict) else None
        raw = storage.get("path") if isinstance(storage, dict) else None
        return resolve_path(self.base_dir, raw if isinstance(raw, str) else str(StorageConfig().path)).parent

    def _listen(self, text: str, path: PathKey, *, loopback_only: bool, why: str = "") -> None:
        try:
            host, port = parse_listen(text)
        except ValueError:
            return  # the schema pattern reports it
        if port > 65535:
            self.add(path, f"port {port} is out of range; use 1-65535, or 0 for any free port")
        if loopback_only and not is_loopback(host):
            self.add(
                path,
                f"{host!r} is not a loopback address; this listener has no authentication{why}, so it "
                "only binds to 127.0.0.1, ::1 or localhost",
            )

    def _admin(self, admin: dict[str, object]) -> None:
        token = admin.get("token")
        raw_path = admin.get("path")
        if "listen" in admin and "path" in admin:
            self.add(
                ("admin", "path"),
                "admin has both listen and path, but the admin listener serves on one address: keep listen "
                "for TCP, or path for a unix socket whose mode decides who may use it, and remove the other",
            )
        if isinstance(raw_path, str) and raw_path:
            sock = resolve_path(self.base_dir, raw_path).absolute()
            if len(str(sock).encode()) > UNIX_PATH_MAX:
                self.add(
                    ("admin", "path"),
                    f"the socket path is {len(str(sock).encode())} bytes once resolved, over the "
                    f"{UNIX_PATH_MAX}-byte limit of unix sockets; use a shorter path such as /run/hookd/admin.sock",
                )
            self._admin_path_taken(sock)
        if "mode" in admin and "path" not in admin:
            self.add(
                ("admin", "mode"),
                "mode sets the permissions of the admin unix socket, but admin has no path, so it has no effect; "
                "add path (a unix socket) or remove mode",
                "warning",
            )
        if isinstance(admin.get("listen"), str):
            self._listen(
                str(admin["listen"]),
                ("admin", "listen"),
                loopback_only=not token,
                why=" unless admin.token is set",
            )
        if isinstance(token, str) and ("admin", "token") not in self.doc.interpolated:
            self.add(
                ("admin", "token"),
                "the token is written in the file itself; a config kept in git leaks it. "
                "Use ${HOOKD_ADMIN_TOKEN} or ${file:/path/to/token}",
                "warning",
            )

    def _admin_path_taken(self, sock: Path) -> None:
        """admin.path on a socket source's path: the source binds it first, and the admin listener
        would then refuse to start, as if another daemon were running."""
        sources = self.doc.data.get("sources") if isinstance(self.doc.data, dict) else None
        for i, source in enumerate(sources if isinstance(sources, list) else []):
            if not isinstance(source, dict) or source.get("type") != "socket":
                continue
            raw = source.get("path")
            if isinstance(raw, str) and raw and resolve_path(self.base_dir, raw).absolute() == sock:
                self.add(
                    ("admin", "path"),
                    f"{str(sock)!r} is also the path of socket source {source.get('name')!r} "
                    f"(line {self.doc.mark(('sources', i)).line}), and only one listener can bind it; "
                    "give the admin socket another path, like admin.sock beside it",
                )

    def _breaker(self, breaker: dict[str, object], path: PathKey) -> None:
        try:
            cooldown = parse_duration(breaker.get("cooldown", BreakerConfig().cooldown_s))  # type: ignore[arg-type]
            disable_after = (
                parse_duration(breaker["disable_after"]) if "disable_after" in breaker else None  # type: ignore[arg-type]
            )
        except (ValueError, TypeError):
            return  # the schema reports malformed durations
        if "cooldown" in breaker and cooldown == 0:
            self.add(
                (*path, "cooldown"),
                "a cooldown of 0 probes again at once after each failure, so the breaker never rests a failing "
                "receiver; use at least 1s",
                "warning",
            )
        if disable_after is not None and disable_after <= cooldown:
            self.add(
                (*path, "disable_after"),
                f"disable_after ({format_duration(disable_after)}) is not longer than the cooldown "
                f"({format_duration(cooldown)}), so the hook is paused at the first failed probe; make it longer, "
                "like 1d",
                "warning",
            )

    def _hook(self, hook: dict[str, object], path: PathKey) -> None:
        url = hook.get("url")
        if isinstance(url, str) and url:
            if is_templated(url):
                self._url_template(url, (*path, "url"), hook)
            else:
                self._url(url, (*path, "url"))
        self._allowed(hook, path)
        events = hook.get("events")
        if isinstance(events, list):
            seen: dict[str, int] = {}
            for j, glob in enumerate(events):
                if not isinstance(glob, str) or not glob:
                    continue  # the schema reports these
                if not glob.strip():
                    self.add((*path, "events", j), f"event glob {glob!r} is blank; write a type like order.created")
                elif glob != glob.strip():
                    self.add((*path, "events", j), f"event glob {glob!r} has surrounding spaces; remove them")
                elif glob in seen:
                    line = self.doc.mark((*path, "events", seen[glob])).line
                    self.add((*path, "events", j), f"event glob {glob!r} is already listed on line {line}", "warning")
                else:
                    seen[glob] = j
                    self._alert_glob(glob, (*path, "events", j))
        expression = hook.get("filter")
        if isinstance(expression, str) and expression.strip():
            if not self._braced("filter", expression, (*path, "filter")):  # `{{ data.total > `100` }}`
                self._filter(expression, (*path, "filter"))
        elif isinstance(expression, str) and expression:  # only spaces (empty is the schema's to say)
            self.add((*path, "filter"), _BLANK.format(key="filter", example="data.total > `100`"))
        ordering_key = hook.get("ordering_key")
        if isinstance(ordering_key, str) and ordering_key.strip():
            if not self._braced("ordering_key", ordering_key, (*path, "ordering_key")):  # `{{ data.id }}`
                self._filter(ordering_key, (*path, "ordering_key"))  # an expression on the event, as a filter is
                if ordering_key.strip() in _OWN_KEY:
                    self.add(
                        (*path, "ordering_key"),
                        f"ordering_key {ordering_key.strip()!r} gives every event a key of its own, so nothing is "
                        "ordered; key by what the events to keep in order share, like data.order_id",
                        "warning",
                    )
        elif isinstance(ordering_key, str) and ordering_key:
            self.add((*path, "ordering_key"), _BLANK.format(key="ordering_key", example="data.order_id"))
        if "payload" in hook:
            self._template(hook["payload"], (*path, "payload"))
        batch = hook.get("batch")
        if isinstance(batch, dict) and "payload" in batch:
            self._template(batch["payload"], (*path, "batch", "payload"), batch=True)
        lint_batch(hook, path, self.add)
        lint_format(hook, path, self.add, literal_url=(*path, "url") not in self.doc.interpolated)
        self._preset_templates(hook, path)
        signing = hook.get("signing")
        signed = self._signing(signing, (*path, "signing")) if isinstance(signing, dict) else {}
        headers = hook.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                hpath = (*path, "headers", name)
                if (why := _header_name_problem(name)) is not None:
                    self.add(hpath, f"{why}{' from headers' if name.lower() in _MANAGED_HEADERS else ''}", key=True)
                elif name.lower() in signed:
                    self.add(
                        hpath,
                        f"{name} is set by this hook's signing ({signed[name.lower()]}) on every request, so this "
                        "value would never be sent; remove it from headers",
                        key=True,
                    )
                elif (why := _overrides_hookd(name)) is not None:
                    self.add(hpath, why, "warning", key=True)
                if isinstance(value, str):
                    if _has_break(value) and not _has_break(self.doc.interpolated.get(hpath, value)):
                        self.add(hpath, self._substituted_break(self.doc.interpolated[hpath]))
                    elif _has_break(value):
                        self.add(
                            hpath,
                            "header values must be on one line; remove the line break "
                            "(a | or > block keeps one at the end, so use a quoted string)",
                        )
                    self._template(value, hpath)
        delivery = self.doc.data.get("delivery") if isinstance(self.doc.data, dict) else None
        lint_auth(
            self.doc, hook, path, self.add, _header_name_problem, https_required_by=https_required_by(hook, delivery)
        )
        breaker = hook.get("breaker")
        if isinstance(breaker, dict):
            self._breaker(breaker, (*path, "breaker"))
        retry = hook.get("retry")
        if isinstance(retry, dict) and "schedule" in retry:
            # backoff, initial_delay, max_delay or max_attempts beside it: the schema says so (dependentSchemas).
            self._schedule_zeros(retry["schedule"], (*path, "retry", "schedule"))
        elif isinstance(retry, dict):
            try:
                initial = parse_duration(retry.get("initial_delay", _RETRY_DEFAULTS.initial_delay_s))
                maximum = parse_duration(retry.get("max_delay", _RETRY_DEFAULTS.max_delay_s))
            except (ValueError, TypeError):
                pass  # the schema reports malformed durations
            else:
                for key, seconds in (("initial_delay", initial), ("max_delay", maximum)):
                    if key in retry and seconds == 0:
                        self.add(
                            (*path, "retry", key),
                            "a delay of 0 sends each retry at once, so a failing receiver gets every attempt within "
                            "a moment and they are used up before it can recover; use at least 1s",
                            "warning",
                        )
                if initial > maximum and "initial_delay" in retry:
                    self.add(
                        (*path, "retry", "initial_delay"),
                        "initial_delay is longer than max_delay; lower it or raise max_delay",
                    )
                elif initial > maximum:
                    self.add(
                        (*path, "retry", "max_delay"),
                        f"max_delay is shorter than the default initial_delay of "
                        f"{format_duration(_RETRY_DEFAULTS.initial_delay_s)}; raise it or set a shorter initial_delay",
                    )
        timeout = hook.get("timeout")
        if timeout is not None:
            try:
                if parse_duration(timeout) <= 0:  # type: ignore[arg-type]
                    self.add((*path, "timeout"), "timeout must be longer than 0s")
            except (ValueError, TypeError):
                pass

    def _preset_templates(self, hook: dict[str, object], path: PathKey) -> None:
        """A preset's message and preset_options are templates over the event, as a payload is."""
        message = hook.get("message")
        if isinstance(message, str):
            self._template(message, (*path, "message"))
        options = hook.get("preset_options")
        if isinstance(options, dict):
            self._template(options, (*path, "preset_options"))

    def _schedule_zeros(self, schedule: object, path: PathKey) -> None:
        """A delay of 0 in retry.schedule, warned at the item as `initial_delay: 0` is."""
        for i, delay in enumerate(schedule if isinstance(schedule, list) else []):
            if isinstance(delay, bool) or not isinstance(delay, str | int | float):
                continue  # the schema reports it
            try:
                zero = parse_duration(delay) == 0
            except ValueError:
                continue  # the schema reports malformed durations
            if zero:
                self.add(
                    (*path, i),
                    "a delay of 0 sends this retry at once, right after the failure before it, so a failing "
                    "receiver gets both within a moment; use at least 1s",
                    "warning",
                )

    def _signing(self, signing: dict[str, object], path: PathKey) -> dict[str, str]:
        """Check a hook's `signing:` beyond its schema; returns the headers it sets (lower-cased
        name -> which key sets it), which the hook's `headers:` must not set too."""
        kind = signing.get("type")
        if kind not in ("standard", "github", "hmac"):
            return {}  # the schema reports it
        secrets = self._signing_secrets(signing, path, kind)
        if kind == "standard":
            for at, value in secrets:
                self._standard_secret(value, at)
            key = signing.get("private_key")
            if isinstance(key, str) and (*path, "private_key") not in self.doc.unresolved:
                try:
                    load_private_key(key)
                except SecretFormatError as e:
                    self.add((*path, "private_key"), str(e))
            return {STANDARD_HEADER: "signing.type standard"}
        header = GITHUB_HEADER if kind == "github" else signing.get("header")
        if len(secrets) > 1 and isinstance(header, str):
            self.add(
                secrets[1][0],
                f"{header} holds one signature, so only the first (newest) secret signs and the others are not "
                "used: a receiver still checking with an older one refuses the requests. Move it to the newest, "
                "then remove the older ones",
                "warning",
            )
        if kind == "github":
            return {GITHUB_HEADER.lower(): "signing.type github"}
        sets: dict[str, str] = {}
        for key_name in ("header", "timestamp_header"):
            name = signing.get(key_name)
            if isinstance(name, str) and name and self._signing_header(name, (*path, key_name)):
                if name.lower() in sets:
                    self.add(
                        (*path, key_name),
                        f"{name} is already the signature header; name another header for the timestamp",
                    )
                sets[name.lower()] = f"signing.{key_name}"
        content = signing.get("content")
        if isinstance(content, str) and content:
            try:
                parse_content(content)
            except ContentError as e:
                hint = did_you_mean(e.field, CONTENT_FIELDS) if e.field is not None else ""
                allowed = " (content may use {id}, {timestamp} and {body}; {{ and }} write a literal brace)"
                self.add((*path, "content"), f"{e}{hint}{allowed if e.field is not None else ''}")
        return sets

    def _signing_secrets(self, signing: dict[str, object], path: PathKey, kind: str) -> list[tuple[PathKey, str]]:
        """The secrets a `signing:` gives, with their paths; says so when it gives both forms or none."""
        if "secret" in signing and "secrets" in signing:
            self.add(
                (*path, "secret"),
                "give secrets (a list, newest first) or secret (one), not both; during a rotation list both "
                "secrets under secrets",
                key=True,
            )
        found: list[tuple[PathKey, str]] = []
        one, many = signing.get("secret"), signing.get("secrets")
        if isinstance(one, str):
            found.append(((*path, "secret"), one))
        elif isinstance(many, list):
            found += [((*path, "secrets", j), v) for j, v in enumerate(many) if isinstance(v, str)]
        if "secret" in signing or "secrets" in signing:
            return found
        if kind == "standard" and "private_key" not in signing:
            self.add(
                path,
                "standard signing needs secrets (or secret), private_key, or both: like secret: ${WHSEC} "
                "(make one with `hookd secret generate`) or private_key: ${file:/etc/hookd/ed25519.pem}",
            )
        elif kind != "standard":
            self.add(
                path,
                f"{kind} signing needs a secret: like secret: ${{WEBHOOK_SECRET}}, or secrets: [new, old] during "
                "a rotation",
            )
        return found

    def _standard_secret(self, value: str, path: PathKey) -> None:
        if path in self.doc.unresolved:
            return
        try:
            key = standard_key(value)
        except SecretFormatError as e:
            self.add(path, str(e))
            return
        if (weak := short_key_reason(key)) is not None:
            self.add(path, weak, "warning")

    def _signing_header(self, name: str, path: PathKey) -> bool:
        """Whether `name` can carry a signing value; says why not when it cannot."""
        lower = name.lower()
        if not _HEADER_NAME.fullmatch(name):
            self.add(path, f"{name!r} is not a valid HTTP header name; use letters, digits and '-', like X-Signature")
        elif lower in _MANAGED_HEADERS:
            self.add(path, f"{name} is set by the HTTP client; name another header, like X-Signature")
        elif lower in _HOOKD_HEADERS or lower.startswith("hookd-"):
            self.add(path, f"{name} is a header hookd sets itself; name another header, like X-Signature")
        else:
            return True
        return False

    def _substituted_break(self, raw: str) -> str:
        """Why a header whose text as written is one line has a line break: a value it brings in."""
        for value, ref in self.doc.secrets.items():
            if not _has_break(value) or ref[:-1] not in raw:
                continue
            if ref.startswith("${file:"):
                return (
                    f"{ref} holds more than one line, and header values must be on one line; keep only the "
                    "value in the file (a line break at its end is fine)"
                )
            return f"{ref} holds a line break, and header values must be on one line; remove it from the variable"
        return f"a value substituted into {raw!r} holds a line break, and header values must be on one line"

    def _url_encode_in_url(self, url: str, path: PathKey) -> None:
        """url_encode() in a url's {{ expr }}: the value is percent-encoded twice, since hookd encodes each
        rendered value of a url itself. Assumes the url's expressions compile."""
        for m in PLACEHOLDER.finditer(url):
            if "url_encode" in called_functions(m.group(1).strip()):
                self.add(
                    path,
                    f"{{{{{m.group(1)}}}}} calls url_encode(), but hookd percent-encodes each {{{{ expr }}}} of a url "
                    "already, so the value would be encoded twice (a space as %2520); leave url_encode() out",
                    "warning",
                )

    def _url_template(self, url: str, path: PathKey, hook: dict[str, object]) -> None:
        before = len(self.problems)
        self._template(url, path)  # the expressions: syntax, and field names no event has
        if any(p.severity == "error" for p in self.problems[before:]):
            return
        self._url_encode_in_url(url, path)
        hosts = hook.get(ALLOW_HOSTS)
        listed = [h for h in hosts if isinstance(h, str)] if isinstance(hosts, list) else []
        for message in url_problems(url, listed):
            self.add(path, message)

    def _allowed(self, hook: dict[str, object], path: PathKey) -> None:
        """allow_hosts and allow_destinations: each entry, and whether the hook can use them at all."""
        url = hook.get("url")
        templated = isinstance(url, str) and is_templated(url)
        hosts = hook.get(ALLOW_HOSTS)
        if isinstance(hosts, list):
            for j, glob in enumerate(hosts):
                if isinstance(glob, str) and glob and (problem := glob_problem(glob)) is not None:
                    self.add((*path, ALLOW_HOSTS, j), problem)
            if isinstance(url, str) and host_is_templated(url) is False:
                self.add(
                    (*path, ALLOW_HOSTS),
                    f"{ALLOW_HOSTS} has no effect: it lists the hosts a templated host of url may render to, and "
                    "this url's host is written out; remove it",
                    "warning",
                    key=True,
                )
        networks = hook.get(ALLOW_DESTINATIONS)
        if templated and isinstance(url, str) and host_is_templated(url) is False:
            self._unreachable_host(url, networks if isinstance(networks, list) else [], path)
        if isinstance(networks, list):
            for j, text in enumerate(networks):
                if not isinstance(text, str) or not text:
                    continue  # the schema reports these
                try:
                    network = parse_destination(text)
                except ValueError as e:
                    self.add((*path, ALLOW_DESTINATIONS, j), str(e))
                    continue
                if network.prefixlen == 0:
                    self.add(
                        (*path, ALLOW_DESTINATIONS, j),
                        f"{text} allows every address, which turns the destination guard off for this hook; list "
                        "only the networks its receivers are in, like 10.20.0.0/16",
                        "warning",
                    )
            if isinstance(url, str) and not templated and hook.get("follow_redirects") is not True:
                self.add(
                    (*path, ALLOW_DESTINATIONS),
                    f"{ALLOW_DESTINATIONS} has no effect: the destination guard checks templated URLs and redirects, "
                    "and this hook has a written-out url and does not follow redirects; remove it",
                    "warning",
                    key=True,
                )

    def _unreachable_host(self, url: str, networks: list[object], path: PathKey) -> None:
        """A templated url whose written-out host is a non-public address: the destination guard refuses
        every delivery unless allow_destinations lists it, so say so now rather than at each event."""
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return  # _url reports it
        address = written_address(host)
        if address is None or why_not_public(address) is None:
            return
        try:
            allowed = Destinations.parse(n for n in networks if isinstance(n, str) and n)
        except ValueError:
            return  # the entry's own problem is reported
        if allowed.refusal(address) is None:
            return
        self.add(
            (*path, "url"),
            f"the url is templated, so the destination guard checks where it connects, and its host {host} is "
            f"{why_not_public(address)}: every delivery would be refused; if this receiver is meant, add "
            f"{address}/{address.max_prefixlen} to the hook's {ALLOW_DESTINATIONS}",
        )

    def _url(self, url: str, path: PathKey) -> None:
        shown = self.doc.shown(path, url) if path in self.doc.interpolated else "the URL"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            # The parser's reason quotes part of the URL: keep it out when the URL is a secret.
            reason = "" if path in self.doc.interpolated else f" ({e})"
            self.add(path, f"{shown} cannot be parsed{reason}; write it like https://example.com:8443/webhooks")
            return
        if parts.scheme not in ("http", "https"):
            self.add(path, f"{shown} must start with http:// or https://")
        elif not parts.hostname:
            self.add(path, f"{shown} has no host; write it like https://example.com/webhooks")
        elif port == 0:
            self.add(path, f"{shown} has port 0; give the receiver's real port")
        if " " in url:
            self.add(path, "the URL contains a space; percent-encode it as %20")

    def _template(self, value: object, path: PathKey, *, batch: bool = False) -> None:
        """`batch`: a batch's payload, over {events, count} rather than one event."""
        if isinstance(value, dict):
            for k, v in value.items():
                self._template(v, (*path, k), batch=batch)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._template(v, (*path, i), batch=batch)
        elif isinstance(value, str) and path in self.doc.interpolated:
            # Messages quote the template, so they must come from the text as written in the file,
            # never from the secret a ${...} brought in.
            raw = self.doc.interpolated[path]
            shape = without_references(raw)
            as_written = lint_template(shape, batch=batch)
            for problem in as_written:
                self.add(path, problem.message, _severity(problem.severity))
            substituted_ok = not any(p.severity == "error" for p in lint_template(value, batch=batch))
            if _braces(value) != _braces(shape):
                self.add(
                    path,
                    f"the value substituted into {raw!r} contains '{{{{' or '}}}}', which hookd would read as a "
                    "template; keep braces out of variables and files used in payloads and headers",
                )
            elif not substituted_ok and not as_written:
                self.add(
                    path,
                    f"the value substituted into {raw!r} makes its template invalid; check the variable or file "
                    "it comes from",
                )
        else:
            for problem in lint_template(value, batch=batch):
                self.add(path, problem.message, _severity(problem.severity))

    def _braced(self, key: str, expression: str, path: PathKey) -> bool:
        """Reports `key`'s JMESPath expression written as a {{ template }}, which the parser would only
        call a syntax error; True when it is. The hint quotes the text as written in the file, never
        what a ${...} brought in."""
        hint = braced_expression_hint(key, self.doc.interpolated.get(path, expression))
        if hint is not None:
            self.add(path, hint)
        return hint is not None

    def _filter(self, expression: str, path: PathKey) -> None:
        # The parser's details quote the expression; when part of it came from outside the file,
        # name the reference instead and leave the details out.
        raw = self.doc.interpolated.get(path)
        try:
            compile_expression(expression)
        except ExpressionError as e:
            if raw is None:
                self.add(path, e.problem.message, offset=e.problem.offset)
            else:
                self.add(
                    path,
                    f"{raw!r} is not a valid JMESPath expression once its ${{...}} is substituted; check the "
                    "value it brings in (strings go in single quotes, numbers in backticks)",
                )
            return
        for lint in lint_expression(expression):
            if raw is None:
                self.add(path, lint.message, _severity(lint.severity), offset=lint.offset)
            elif lint.severity == "warning":
                continue  # it would quote the expression, part of which came from outside the file
            else:
                self.add(
                    path,
                    f'{raw!r}, once its ${{...}} is substituted, compares with a "double-quoted" name, which '
                    "JMESPath reads as a field; strings go in single quotes",
                )


def _header_name_problem(name: str) -> str | None:
    """What is wrong with `name` as a header hookd sends, or None."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid HTTP header name; use letters, digits and '-', like X-Request-Id"
    if name.lower() in _MANAGED_HEADERS:
        return f"{name} is set by the HTTP client; remove it"
    return None


def _overrides_hookd(name: str) -> str | None:
    """Why a configured header should not replace the one hookd sets, or None if it may."""
    lower = name.lower()
    if lower == "webhook-id":
        return (
            "hookd sets webhook-id to the event id, the same on every retry and replay, so receivers can drop "
            "duplicates; a value here replaces it and breaks that. Remove it (the event id is in the body too)"
        )
    if lower == "webhook-timestamp":
        return (
            f"{name} is hookd's own header (the time of each attempt), which receivers check to refuse "
            "replayed requests; a value here replaces it. Remove it"
        )
    if lower == "webhook-signature":
        return (
            f"{name} is the Standard Webhooks signature header, which receivers verify against the body and "
            "timestamp; a value set here will fail their verification. To sign requests, use signing: "
            "{type: standard, secret: ${WHSEC}}; otherwise remove it"
        )
    if lower.startswith("hookd-"):
        return (
            f"headers starting with hookd- are hookd's own (hookd-delivery-id, hookd-attempt), which receivers "
            f"use to tell retries from new deliveries; {name} would replace or mimic them. Use another name, "
            "like X-" + name[len("hookd-") :]
        )
    if lower == "user-agent":
        return (
            "hookd sends User-Agent: hookd/VERSION, by which receivers and their firewalls recognise it; a value "
            "here replaces it. Remove it unless the receiver requires another"
        )
    return None  # Content-Type depends on the hook's format: lint_format checks it


def _has_break(text: str) -> bool:
    return "\n" in text or "\r" in text


def _child(node: object, part: str | int) -> object:
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _braces(text: str) -> tuple[int, int]:
    return text.count("{{"), text.count("}}")


def _severity(value: str) -> Severity:
    return "warning" if value == "warning" else "error"


def _items(items: list[object]) -> Iterator[tuple[int, dict[str, object]]]:
    for i, item in enumerate(items):
        if isinstance(item, dict):
            yield i, item


def lint_document(doc: LocatedDocument, base_dir: Path, *, check_environment: bool = True) -> list[Problem]:
    return _Linter(doc, base_dir, check_environment=check_environment).run()
