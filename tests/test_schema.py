"""The published JSON Schema: one copy, valid, and in agreement with the loader and the model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hookd.config.lint import parse_listen
from hookd.config.load import check_config
from hookd.config.model import (
    AdminConfig,
    BatchConfig,
    BreakerConfig,
    DeliveryConfig,
    FileSourceConfig,
    HookConfig,
    JwtAuth,
    OAuth2Auth,
    RetryPolicy,
    Settings,
    SigningConfig,
    SocketSourceConfig,
    StorageConfig,
    TlsConfig,
)
from hookd.config.schema import schema, schema_text
from hookd.units import parse_duration, parse_size

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = REPO / "configs" / "hookd.schema.json"
PACKAGED = REPO / "hookd" / "config" / "schema.json"
EXAMPLES = sorted(REPO.glob("examples/*/hookd.yaml"))


def test_published_schema_is_the_packaged_one() -> None:
    assert PUBLISHED.read_bytes() == PACKAGED.read_bytes(), (
        "configs/hookd.schema.json differs from hookd/config/schema.json, which is the source; "
        "regenerate it with: cp hookd/config/schema.json configs/hookd.schema.json"
    )


def test_schema_loads_from_the_package() -> None:
    assert schema_text() == PACKAGED.read_text(encoding="utf-8")
    assert schema() == json.loads(PACKAGED.read_text(encoding="utf-8"))


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    s = schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)
    assert jsonschema.validators.validator_for(s) is jsonschema.Draft202012Validator


def test_every_ref_resolves() -> None:
    s = schema()
    defs = s["$defs"]
    assert isinstance(defs, dict)
    refs = {ref for ref in _walk_refs(s)}
    assert refs, "the schema should use $defs"
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in defs, f"{ref} points nowhere"


def _walk_refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_refs(item)


# --- defaults: schema.json against model.py ---------------------------------------------------


def _octal(text: str) -> int:
    return int(text, 8)


def _same(value: Any) -> Any:
    return value


def _tuple(value: Any) -> Any:
    return tuple(value)


def _path(text: str) -> Path:
    return Path(text)


# Where a default is written in the schema -> (record, field, how the loader turns it into the value).
DEFAULTS: dict[str, tuple[type[Any], str, Callable[[Any], Any]]] = {
    "properties/sources": (Settings, "sources", _tuple),
    "properties/hooks": (Settings, "hooks", _tuple),
    "$defs/storage/properties/path": (StorageConfig, "path", _path),
    "$defs/storage/properties/retention": (StorageConfig, "retention_s", parse_duration),
    "$defs/storage/properties/synchronous": (StorageConfig, "synchronous", _same),
    "$defs/socket_source/properties/mode": (SocketSourceConfig, "mode", _octal),
    "$defs/socket_source/properties/max_event_size": (SocketSourceConfig, "max_event_bytes", parse_size),
    "$defs/file_source/properties/start_at": (FileSourceConfig, "start_at", _same),
    "$defs/file_source/properties/max_event_size": (FileSourceConfig, "max_event_bytes", parse_size),
    "$defs/retry/properties/max_attempts": (RetryPolicy, "max_attempts", _same),
    "$defs/retry/properties/backoff": (RetryPolicy, "backoff", _same),
    "$defs/retry/properties/initial_delay": (RetryPolicy, "initial_delay_s", parse_duration),
    "$defs/retry/properties/max_delay": (RetryPolicy, "max_delay_s", parse_duration),
    "$defs/retry/properties/jitter": (RetryPolicy, "jitter", _same),
    "$defs/hook/properties/method": (HookConfig, "method", _same),
    "$defs/hook/properties/headers": (HookConfig, "headers", dict),
    "$defs/hook/properties/payload": (HookConfig, "payload", _same),
    "$defs/hook/properties/format": (HookConfig, "format", _same),
    "$defs/hook/properties/timeout": (HookConfig, "timeout_s", parse_duration),
    "$defs/hook/properties/concurrency": (HookConfig, "concurrency", _same),
    "$defs/hook/properties/follow_redirects": (HookConfig, "follow_redirects", _same),
    "$defs/hook/properties/on_gone": (HookConfig, "on_gone", _same),
    "$defs/breaker/properties/failures": (BreakerConfig, "failures", _same),
    "$defs/breaker/properties/cooldown": (BreakerConfig, "cooldown_s", parse_duration),
    "$defs/hook/properties/batch/properties/max_events": (BatchConfig, "max_events", _same),
    "$defs/hook/properties/batch/properties/max_size": (BatchConfig, "max_size", parse_size),
    "$defs/hook/properties/batch/properties/max_wait": (BatchConfig, "max_wait_s", parse_duration),
    "$defs/hook/properties/batch/properties/payload": (BatchConfig, "payload", _same),
    "$defs/delivery/properties/concurrency": (DeliveryConfig, "concurrency", _same),
    "$defs/delivery/properties/shutdown_timeout": (DeliveryConfig, "shutdown_timeout_s", parse_duration),
    "$defs/delivery/properties/require_https": (DeliveryConfig, "require_https", _same),
    "$defs/delivery/properties/trust_env": (DeliveryConfig, "trust_env", _same),
    "$defs/tls/properties/verify": (TlsConfig, "verify", _same),
    "$defs/admin/properties/listen": (AdminConfig, "listen", parse_listen),
    "$defs/auth_oauth2/properties/client_auth": (OAuth2Auth, "client_auth", _same),
    "$defs/auth_jwt/properties/claims": (JwtAuth, "claims", lambda v: tuple(v.items())),
    "$defs/auth_jwt/properties/ttl": (JwtAuth, "ttl_s", parse_duration),
    "$defs/hmac_signing/properties/algorithm": (SigningConfig, "algorithm", _same),
    "$defs/hmac_signing/properties/encoding": (SigningConfig, "encoding", _same),
    "$defs/hmac_signing/properties/prefix": (SigningConfig, "prefix", _same),
    "$defs/hmac_signing/properties/content": (SigningConfig, "content", _same),
}


def _schema_defaults(node: object, pointer: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        if "default" in node:
            yield pointer, node["default"]
        for key, value in node.items():
            if key != "default":
                yield from _schema_defaults(value, f"{pointer}/{key}" if pointer else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _schema_defaults(item, f"{pointer}/{i}")


def _model_default(record: type[Any], name: str) -> object:
    field = next(f for f in dataclasses.fields(record) if f.name == name)
    if field.default is not dataclasses.MISSING:
        return field.default
    assert field.default_factory is not dataclasses.MISSING, f"{record.__name__}.{name} has no default"
    return field.default_factory()


def test_every_schema_default_has_a_row_in_the_table() -> None:
    found = {pointer for pointer, _ in _schema_defaults(schema())}
    assert found == set(DEFAULTS), (
        f"schema defaults without a row: {sorted(found - set(DEFAULTS))}; "
        f"rows without a schema default: {sorted(set(DEFAULTS) - found)}"
    )


@pytest.mark.parametrize("pointer", sorted(DEFAULTS))
def test_schema_default_matches_the_model(pointer: str) -> None:
    defaults = dict(_schema_defaults(schema()))
    record, name, parse = DEFAULTS[pointer]
    model = _model_default(record, name)
    if record is HookConfig and name == "headers":
        model = dict(model)  # type: ignore[call-overload]
    assert parse(defaults[pointer]) == model, (
        f"{pointer}: schema says {defaults[pointer]!r}, {record.__name__}.{name} = {model!r}"
    )


def test_loader_applies_the_same_defaults_as_the_model(tmp_path: Path) -> None:
    # The loader writes its own fallbacks (data.get(key, "30s")); they must equal the model's too.
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\n"
        "sources:\n  - {name: s, type: socket, path: s.sock}\n  - {name: f, type: file, path: f.jsonl}\n"
        "hooks:\n  - {name: h, events: [x], url: 'http://x'}\n",
        encoding="utf-8",
    )
    result = check_config(path, env={})
    assert result.settings is not None, result.problems
    s = result.settings
    assert s.storage == StorageConfig(path=tmp_path / "var/hookd.db")
    assert s.sources == (
        SocketSourceConfig(name="s", path=tmp_path / "s.sock"),
        FileSourceConfig(name="f", path=tmp_path / "f.jsonl"),
    )
    assert s.hooks == (HookConfig(name="h", events=("x",), url="http://x"),)
    assert s.delivery == DeliveryConfig()
    assert s.admin == AdminConfig()


# --- schema and loader agree ------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_example_passes_the_raw_validator(example: Path) -> None:
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema()).iter_errors(data)]
    assert errors == []


SCHEMA_INVALID = [
    ("no-version", "hooks: []\n", "missing required key 'version'"),
    ("extra-key", "version: 1\nextra: 1\n", "unknown key 'extra'"),
    ("hook-without-url", "version: 1\nhooks: [{name: a, events: [x]}]\n", "missing required key 'url'"),
    ("file-source-without-path", "version: 1\nsources: [{name: f, type: file}]\n", "missing required key 'path'"),
    ("socket-with-start-at", "version: 1\nsources: [{name: s, type: socket, path: a, start_at: end}]\n", "unknown key"),
    ("bad-synchronous", "version: 1\nstorage: {synchronous: off}\n", "YAML reads yes/no/on/off"),
    (
        "too-many-attempts",
        "version: 1\nhooks: [{name: a, events: [x], url: u, retry: {max_attempts: 101}}]\n",
        "too large",
    ),
    ("negative-timeout", "version: 1\nhooks: [{name: a, events: [x], url: 'http://x', timeout: -1}]\n", "not valid"),
    ("size-zero", "version: 1\nsources: [{name: f, type: file, path: f, max_event_size: 0}]\n", "not valid"),
    ("long-name", "version: 1\nhooks: [{name: " + "n" * 65 + ", events: [x], url: 'http://x'}]\n", "not valid"),
]


@pytest.mark.parametrize(("text", "fragment"), [c[1:] for c in SCHEMA_INVALID], ids=[c[0] for c in SCHEMA_INVALID])
def test_schema_invalid_document_is_rejected_by_both(tmp_path: Path, text: str, fragment: str) -> None:
    raw_errors = list(jsonschema.Draft202012Validator(schema()).iter_errors(yaml.safe_load(text)))
    assert raw_errors, "the raw schema should reject this document"
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    result = check_config(path, env={})
    assert result.settings is None
    assert any(fragment in p.message for p in result.errors), "\n".join(map(str, result.problems))
