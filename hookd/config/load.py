"""The one load path: file → YAML with positions → JSON Schema → lint → frozen dataclasses."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from hookd.config.lint import lint_document, parse_listen, resolve_path
from hookd.config.located import LocatedDocument, PathKey, load_located
from hookd.config.model import (
    AdminConfig,
    DeliveryConfig,
    FileSourceConfig,
    HookConfig,
    Origin,
    RetryPolicy,
    Settings,
    SocketSourceConfig,
    SourceConfig,
    StorageConfig,
)
from hookd.config.schema import schema_problems
from hookd.errors import ConfigError, Problem
from hookd.units import parse_duration, parse_size

DEFAULT_CONFIG = "hookd.yaml"
CONFIG_ENV = "HOOKD_CONFIG"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What `hookd validate` reports for one file: the settings if valid, and every problem."""

    file: str
    settings: Settings | None
    problems: tuple[Problem, ...]
    readable: bool = True  # False when the file itself could not be read (a usage error)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def check_config(path: Path, *, env: Mapping[str, str] | None = None) -> CheckResult:
    """Load and check one config file, collecting every problem instead of stopping at the first."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _fail(file, f"config file {file!r} does not exist; pass -c PATH or set {CONFIG_ENV}")
    except IsADirectoryError:
        return _fail(file, f"{file!r} is a directory; pass the config file itself, like {file}/hookd.yaml")
    except OSError as e:
        return _fail(file, f"cannot read {file!r}: {e.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return _fail(
            file,
            f"the file is not UTF-8 text (bad byte at offset {e.start}); save it as UTF-8",
            readable=True,
        )
    base_dir = path.parent.absolute()
    doc = load_located(text, file, base_dir=base_dir, env=env)
    problems = list(doc.problems)
    if doc.data is None:
        return CheckResult(file, None, tuple(problems))
    if not isinstance(doc.data, dict):
        problems.append(
            Problem(
                file=file,
                line=1,
                column=1,
                path="",
                message="the top level must be a mapping starting with `version: 1`",
            )
        )
        return CheckResult(file, None, tuple(problems))
    problems.extend(schema_problems(doc))
    problems.extend(lint_document(doc, base_dir))
    problems.sort(key=lambda p: (p.line, p.column, p.severity))
    if any(p.severity == "error" for p in problems):
        return CheckResult(file, None, tuple(problems))
    digest = hashlib.sha256(raw).hexdigest()
    settings = _build(doc, path, base_dir, digest)
    return CheckResult(file, settings, tuple(problems))


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from `path`, or ConfigError carrying every problem."""
    result = check_config(path, env=env)
    if result.settings is None:
        raise ConfigError(list(result.problems))
    return result.settings


def _fail(file: str, message: str, *, readable: bool = False) -> CheckResult:
    problem = Problem(file=file, line=0, column=0, path="", message=message)
    return CheckResult(file, None, (problem,), readable)


def _build(doc: LocatedDocument, path: Path, base_dir: Path, digest: str) -> Settings:
    # The schema and lint passed, so the shapes below are known; the casts only tell mypy so.
    data = cast(dict[str, Any], doc.data)

    def origin(p: PathKey) -> Origin:
        mark = doc.mark(p)
        return Origin(doc.file, mark.line, mark.column)

    storage_raw = data.get("storage", {})
    storage = StorageConfig(
        path=resolve_path(base_dir, storage_raw.get("path", "var/hookd.db")),
        retention_s=parse_duration(storage_raw.get("retention", "90d")),
        synchronous=storage_raw.get("synchronous", "normal"),
    )
    sources: list[SourceConfig] = []
    for i, s in enumerate(data.get("sources", [])):
        size = parse_size(s.get("max_event_size", "10MB"))
        if s["type"] == "socket":
            sources.append(
                SocketSourceConfig(
                    name=s["name"],
                    path=resolve_path(base_dir, s["path"]) if "path" in s else None,
                    mode=int(s.get("mode", "0660"), 8),
                    listen=parse_listen(s["listen"]) if "listen" in s else None,
                    max_event_bytes=size,
                    origin=origin(("sources", i)),
                )
            )
        else:
            sources.append(
                FileSourceConfig(
                    name=s["name"],
                    path=resolve_path(base_dir, s["path"]),
                    start_at=s.get("start_at", "end"),
                    max_event_bytes=size,
                    origin=origin(("sources", i)),
                )
            )
    hooks: list[HookConfig] = []
    for i, h in enumerate(data.get("hooks", [])):
        r = h.get("retry", {})
        hooks.append(
            HookConfig(
                name=h["name"],
                description=h.get("description", ""),
                events=tuple(h["events"]),
                filter=h.get("filter"),
                url=h["url"],
                method=h.get("method", "POST"),
                headers=MappingProxyType(dict(h.get("headers", {}))),
                payload=h.get("payload"),
                retry=RetryPolicy(
                    max_attempts=r.get("max_attempts", 12),
                    backoff=r.get("backoff", "exponential"),
                    initial_delay_s=parse_duration(r.get("initial_delay", "5s")),
                    max_delay_s=parse_duration(r.get("max_delay", "1h")),
                    jitter=r.get("jitter", True),
                ),
                timeout_s=parse_duration(h.get("timeout", "30s")),
                concurrency=h.get("concurrency", 10),
                follow_redirects=h.get("follow_redirects", False),
                origin=origin(("hooks", i)),
            )
        )
    delivery_raw = data.get("delivery", {})
    admin_raw = data.get("admin", {})
    return Settings(
        config_path=path,
        config_sha256=digest,
        version=data["version"],
        storage=storage,
        sources=tuple(sources),
        hooks=tuple(hooks),
        delivery=DeliveryConfig(
            concurrency=delivery_raw.get("concurrency", 100),
            shutdown_timeout_s=parse_duration(delivery_raw.get("shutdown_timeout", "30s")),
        ),
        admin=AdminConfig(
            listen=parse_listen(admin_raw.get("listen", "127.0.0.1:8780")),
            token=admin_raw.get("token"),
        ),
    )
