"""The published JSON Schema, and its errors turned into sentences at YAML positions."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from hookd.config.located import LocatedDocument, PathKey
from hookd.config.paths import describe_path
from hookd.errors import Problem
from hookd.suggest import did_you_mean
from hookd.units import parse_rate

_TYPE_NAMES = {
    "object": "a mapping (key: value)",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}

# A def with `"x-parse": NAME` is explained by the parser hookd reads it with: its error says what
# was meant and how to write it (`5/S`: units are lower case; write 5/s), which a pattern cannot.
_PARSERS: dict[str, Callable[[str], object]] = {"rate": parse_rate}
# A node with `"x-reported-by": NAME` states for editors a mistake that validate's check NAME reports in
# its own words, naming what the hook holds (its preset, its format, its payload's kind); the schema's
# error for it would be the same mistake said twice, the second time worse, so validate leaves it out.
_REPORTED_BY_LINT = frozenset({"lint_format"})


@cache
def schema() -> dict[str, object]:
    text = resources.files("hookd.config").joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, object] = json.loads(text)
    return loaded


def schema_text() -> str:
    return resources.files("hookd.config").joinpath("schema.json").read_text(encoding="utf-8")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def value_kind(value: object) -> str:
    """A config value's type in the words validate's messages use (`a string`, `a mapping`, `empty`)."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return "a date"
    return type(value).__name__


def schema_problems(doc: LocatedDocument) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[PathKey, str]] = set()
    for error in sorted(_validator().iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))):
        if _reported_by_lint(error):
            continue
        for path, message, at_key in _explain(error, doc):
            if "propertyNames" in error.schema_path and isinstance(error.instance, str):
                path, at_key = (*path, error.instance), True  # a key that is no name: point at the key
            if (path, message) in seen or path in doc.unresolved:
                continue
            seen.add((path, message))
            mark = doc.mark(path, key=at_key)
            problems.append(
                Problem(
                    file=doc.file,
                    line=mark.line,
                    column=mark.column,
                    path=describe_path(path, doc.data),
                    message=message,
                )
            )
    return problems


def _reported_by_lint(error: jsonschema.ValidationError) -> bool:
    return isinstance(error.schema, dict) and error.schema.get("x-reported-by") in _REPORTED_BY_LINT


def _explain(error: jsonschema.ValidationError, doc: LocatedDocument) -> Iterator[tuple[PathKey, str, bool]]:
    path: PathKey = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    kind = error.validator
    expected: Any = error.validator_value
    custom = sub.get("x-error")
    if kind == "pattern" and isinstance(instance, str) and (reason := _parse_error(sub, instance)) is not None:
        yield path, reason, False
    elif kind == "additionalProperties" and isinstance(instance, dict):
        known = sorted(sub.get("properties", {}))
        for key in instance:
            if key not in known:
                yield (
                    (*path, key),
                    f"unknown key {key!r}{did_you_mean(key, known)}"
                    + ("" if did_you_mean(key, known) else f" (allowed here: {', '.join(known)})"),
                    True,
                )
    elif kind in ("type", "pattern") and (takes := sub.get("x-kind")):
        # A value of one kind or a template (a string with {{ }}): a wrong type and a string without {{ }}
        # are the same mistake, said the same way.
        yield path, f"must be {takes}, not {_kind_written(doc, path, instance, sub)}", False
    elif kind == "required":
        missing = [k for k in expected if isinstance(instance, dict) and k not in instance]
        for key in missing:
            yield path, f"missing required key {key!r}", False
    elif kind == "type":
        want = expected
        wants = [want] if isinstance(want, str) else list(want)
        # An empty value beside another type is the key left unset (a preset option read as not
        # given): not a choice to offer, and the preset's own check says "must be a string" alone.
        named = [w for w in wants if w != "null"] or wants
        names = " or ".join(_TYPE_NAMES.get(w, w) for w in named)
        hint = ""
        if "string" in wants and isinstance(instance, bool):
            hint = " (YAML reads yes/no/on/off as true/false; quote the value)"
        elif "array" in wants and isinstance(instance, str):
            hint = _list_hint(doc.interpolated.get(path, instance))
        elif "string" in wants and isinstance(instance, int | float | datetime.date) and not custom:
            hint = " (quote it to keep it as text)"
        if custom and not ("array" in wants and isinstance(instance, str)):  # the list to write says it all
            hint += f"; {custom}"
        yield path, f"must be {names}, not {value_kind(instance)}{hint}", False
    elif kind == "enum":
        options = [str(o) for o in expected]
        dym = did_you_mean(str(instance), options) if isinstance(instance, str) else ""
        if isinstance(instance, bool):
            dym = " (YAML reads yes/no/on/off as true/false; quote the value)"
        yield path, f"{doc.shown(path, instance)} is not one of: {', '.join(options)}{dym}", False
    elif kind == "const":
        yield path, f"must be {expected!r}, not {doc.shown(path, instance)}", False
    elif kind in ("anyOf", "oneOf", "pattern") and custom:
        if isinstance(instance, dict):
            yield path, custom, False  # the whole mapping is the problem; quoting it helps nobody
        elif isinstance(instance, list):
            yield path, f"a list is not valid here: {custom}", False
        else:
            yield path, f"{doc.shown(path, instance)} is not valid: {custom}", False
    elif kind == "not" and custom:
        # A key that may not stand beside another (dependentSchemas): its presence is the problem.
        yield path, custom, True
    elif kind == "pattern":
        yield path, f"{doc.shown(path, instance)} does not match the pattern {expected}", False
    elif kind == "minItems":
        what = "is empty" if expected == 1 else f"needs at least {expected} items"
        yield path, f"{what}; {custom}" if custom else f"{what}; list at least {expected}, or remove the key", False
    elif kind == "maxItems":  # not the list itself: it can be long, which is the problem
        count = len(instance) if isinstance(instance, list) else "too many"
        yield path, f"has {count} items, over the limit of {expected}; remove some", False
    elif kind == "minLength":
        if expected == 1:
            fix = custom or (
                "give it a value, or remove the item" if path and isinstance(path[-1], int) else "give it a value"
            )
            yield path, f"must not be empty; {fix}", False
        else:
            yield path, f"must be at least {expected} characters long", False
    elif kind == "maxLength":
        yield path, f"must be at most {expected} characters", False
    elif kind in ("minimum", "exclusiveMinimum"):
        yield path, f"{doc.shown(path, instance)} is too small; the minimum is {expected}", False
    elif kind in ("maximum", "exclusiveMaximum"):
        bound = custom or f"the maximum is {expected}"  # x-error: the bound in the units people write
        yield path, f"{doc.shown(path, instance)} is too large; {bound}", False
    else:
        yield path, str(error.message), False


def _kind_written(doc: LocatedDocument, path: PathKey, instance: object, sub: dict[str, Any]) -> str:
    """What a value of the wrong kind is, for `must be X, not ...`: a string is quoted (it has no {{ }}, so it
    is sent as written), with the fix when it is a quoted true/false where true or false belongs."""
    if not isinstance(instance, str):
        return value_kind(instance)
    says_flag = "boolean" in sub.get("type", ()) and instance.strip().lower() in ("true", "false")
    if (reference := doc.interpolated.get(path)) is not None:
        # A quoted ${VAR} stays text whatever its value; unquoted, `true` in it reads as YAML's true.
        return f"the text {reference} gives" + (f" (unquoted, {reference} reads as true or false)" if says_flag else "")
    shown = f"the text {doc.shown(path, instance)}, which has no {{{{ }}}} and so is sent as written"
    return shown + (f" (write {instance.strip().lower()} without quotes)" if says_flag else "")


def _parse_error(sub: dict[str, Any], value: str) -> str | None:
    """What the parser named by the def's x-parse says of `value`, or None (no parser, or it takes it)."""
    parse = _PARSERS.get(str(sub.get("x-parse")))
    if parse is None:
        return None
    try:
        parse(value)
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _list_hint(text: str) -> str:
    """How to write `text`, a string where a list belongs, as the list it most likely means: the items
    it separates with commas (`"5s, 1m"`), or a list of one."""
    items = [item.strip() for item in text.split(",")]
    if len(items) > 1 and all(items):
        return f" (write [{', '.join(items)}] without quotes, for a list of {len(items)})"
    return f" (write [{text}] for a list of one)"
