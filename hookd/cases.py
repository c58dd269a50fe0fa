"""Config unit tests: a YAML file of cases, each one event and what the config must do with it.

```yaml
cases:
  - name: big paid order goes to shop-orders
    event: {type: sales_order.created, data: {id: 7, total: 250}}
    expect:
      match: [shop-orders]                 # exactly these hooks match, no other
      # match_at_least: [shop-orders]      # these match; others may too
      not_match: [accounting-payments]     # these do not
      body: {shop-orders: {order_id: 7}}   # the rendered JSON body contains this
      headers: {shop-orders: {X-Source: hookd}}
      assert: {shop-orders: ["body.order_id == `7`"]}   # JMESPath over {method, url, headers, body}
```

Cases run through `hookd.dryrun`, the path `hookd test` shows, so a case checks what the daemon
would send. Headers and URLs are checked as printed: secret ones read `***`. The file is read
like the config (positions for every value, `${VAR}` interpolation); any mistake in it, an unknown
key or a hook the config does not have, is a Problem at file:line.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from jmespath.parser import ParsedResult

from hookd.config.located import LocatedDocument, PathKey, load_located
from hookd.config.paths import describe_path
from hookd.dryrun import HookResult, InputEvent, dry_run, explain_false, json_text
from hookd.errors import EventError, HookdError, Problem
from hookd.events import Event, event_from_object
from hookd.expressions import EVALUATION_ERRORS, ExpressionError, compile_expression, is_truthy, search
from hookd.router import Router
from hookd.suggest import closest

_TOP_KEYS = ("cases",)
_CASE_KEYS = ("name", "event", "expect")
ListKind = Literal["match", "match_at_least", "not_match"]
CheckKind = Literal[ListKind, "body", "headers", "assert"]
_LIST_KEYS: tuple[ListKind, ...] = ("match", "match_at_least", "not_match")
_HOOK_KEYS = ("body", "headers", "assert")


class CasesFileError(HookdError):
    """The cases file cannot be used as it is; carries every problem found, with file:line."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    kind: CheckKind
    line: int
    hooks: tuple[str, ...] = ()  # match, match_at_least, not_match
    hook: str = ""  # body, headers, assert
    expected: object = None  # body: the subset; headers: name -> value; assert: the expression
    expression: ParsedResult | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    name: str
    line: int
    event: Event
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    line: int
    check: str  # "match", "body of shop-orders", "assert on shop-orders", ...
    message: str
    diff: str = ""  # unified diff, expected then actual


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    file: str
    name: str
    line: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


# -- loading --------------------------------------------------------------------------------------


def load_cases(path: Path, hook_names: Sequence[str], *, now: float | None = None) -> list[Case]:
    """The cases in `path`, checked against the config's hook names. Raises CasesFileError."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CasesFileError([_whole_file(file, "the cases file does not exist")]) from None
    except IsADirectoryError:
        raise CasesFileError([_whole_file(file, "is a directory; pass the cases file itself")]) from None
    except OSError as e:
        raise CasesFileError([_whole_file(file, f"cannot read the cases file: {e.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        problem = Problem(file=file, line=line, column=0, path="", message="not UTF-8 text; save it as UTF-8")
        raise CasesFileError([problem]) from None
    doc = load_located(text, file, base_dir=path.parent.absolute())
    loader = _Loader(doc, tuple(hook_names), now)
    cases = loader.load()
    problems = sorted([*doc.problems, *loader.problems], key=lambda p: (p.line, p.column))
    if problems:
        raise CasesFileError(problems)
    return cases


def _whole_file(file: str, message: str) -> Problem:
    return Problem(file=file, line=0, column=0, path="", message=message)


class _Loader:
    def __init__(self, doc: LocatedDocument, hooks: tuple[str, ...], now: float | None) -> None:
        self.doc = doc
        self.hooks = hooks
        self.now = now
        self.problems: list[Problem] = []

    def add(self, path: PathKey, message: str, *, key: bool = False) -> None:
        if path in self.doc.unresolved:
            return  # its ${...} is reported already
        mark = self.doc.mark(path, key=key)
        self.problems.append(
            Problem(
                file=self.doc.file,
                line=mark.line,
                column=mark.column,
                path=describe_path(path, self.doc.data),
                message=message,
            )
        )

    def line(self, path: PathKey) -> int:
        return self.doc.mark(path).line

    def known_keys(self, value: Mapping[str, object], path: PathKey, allowed: tuple[str, ...]) -> None:
        for key in value:
            if key not in allowed:
                close = closest(key, allowed)
                hint = f"did you mean {close!r}?" if close else f"allowed here: {', '.join(allowed)}"
                self.add((*path, key), f"unknown key {key!r}; {hint}", key=True)

    def load(self) -> list[Case]:
        data = self.doc.data
        if data is None:
            if not self.doc.problems:
                self.add((), "the file holds no cases; start it with `cases:` and a list of cases")
            return []
        if not isinstance(data, dict):
            self.add((), "the top level must be a mapping with a `cases:` list")
            return []
        self.known_keys(data, (), _TOP_KEYS)
        raw_cases = data.get("cases")
        if not isinstance(raw_cases, list) or not raw_cases:
            what = "is missing" if raw_cases is None else "must be a list with at least one case"
            self.add(("cases",), f"`cases` {what}; each case has a name, an event and what to expect")
            return []
        cases = []
        for i, raw in enumerate(raw_cases):
            case = self.case(raw, ("cases", i))
            if case is not None:
                cases.append(case)
        return cases

    def case(self, raw: object, path: PathKey) -> Case | None:
        if not isinstance(raw, dict):
            self.add(path, "a case must be a mapping with name, event and expect")
            return None
        self.known_keys(raw, path, _CASE_KEYS)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.add((*path, "name") if "name" in raw else path, "every case needs a `name`: a short sentence")
        event = self.event(raw.get("event"), (*path, "event"), present="event" in raw)
        checks = self.expect(raw.get("expect"), (*path, "expect"), present="expect" in raw)
        if not isinstance(name, str) or event is None or checks is None:
            return None
        return Case(name=name, line=self.line(path), event=event, checks=checks)

    def event(self, raw: object, path: PathKey, *, present: bool) -> Event | None:
        if not isinstance(raw, dict):
            what = "must be a mapping" if present else "is missing"
            self.add(
                path if present else path[:-1],
                f"`event` {what}; write it like {{type: order.created, data: {{id: 7}}}}",
            )
            return None
        if self.not_json(raw, path):
            return None
        try:
            return event_from_object(raw, now=self.now)
        except EventError as e:
            self.add(path, f"not a valid event: {e}")
            return None

    def not_json(self, value: object, path: PathKey) -> bool:
        found = False
        for where, message in _non_json(value, path):
            self.add(where, message)
            found = True
        return found

    def hook_name(self, name: object, path: PathKey, *, key: bool = False) -> str | None:
        if not isinstance(name, str):
            self.add(path, "must be a hook name (a string)", key=key)
            return None
        if name not in self.hooks:
            close = closest(name, self.hooks)
            hint = f"did you mean {close!r}?" if close else f"the config has: {', '.join(self.hooks) or 'no hooks'}"
            self.add(path, f"no hook named {name!r} in the config; {hint}", key=key)
            return None
        return name

    def expect(self, raw: object, path: PathKey, *, present: bool) -> tuple[Check, ...] | None:
        if not isinstance(raw, dict) or not raw:
            keys = ", ".join(_LIST_KEYS + _HOOK_KEYS)
            what = "`expect` must be a mapping" if present else "this case has no `expect`; add one"
            self.add(
                path if present else path[:-1],
                f"{what} that says what should happen, using one or more of: {keys} "
                "(like `expect: {match: [orders]}`)",
            )
            return None
        self.known_keys(raw, path, _LIST_KEYS + _HOOK_KEYS)
        ok = True
        if "match" in raw and "match_at_least" in raw:
            self.add((*path, "match_at_least"), "give `match` (exactly these) or `match_at_least`, not both", key=True)
            ok = False
        checks: list[Check] = []
        lists: dict[str, tuple[str, ...]] = {}
        for kind in _LIST_KEYS:
            if kind not in raw:
                continue
            names = self.hook_list(raw[kind], (*path, kind))
            if names is None:
                ok = False
                continue
            lists[kind] = names
            checks.append(Check(kind=kind, line=self.line((*path, kind)), hooks=names))
        positive = set(lists.get("match", ())) | set(lists.get("match_at_least", ()))
        for name in lists.get("not_match", ()):
            if name in positive:
                self.add((*path, "not_match"), f"{name!r} is expected both to match and not to match")
                ok = False
        for section in _HOOK_KEYS:
            if section not in raw:
                continue
            by_hook = raw[section]
            if not isinstance(by_hook, dict) or not by_hook:
                self.add((*path, section), f"`{section}` must be a mapping from hook name to what to check")
                ok = False
                continue
            for hook, expected in by_hook.items():
                at: PathKey = (*path, section, hook)
                if self.hook_name(hook, at, key=True) is None:
                    ok = False
                    continue
                if hook in lists.get("not_match", ()) or ("match" in lists and hook not in lists["match"]):
                    self.add(at, f"{hook!r} is expected not to match, so it sends no request to check", key=True)
                    ok = False
                    continue
                new = self.hook_checks(section, hook, expected, at)
                if new is None:
                    ok = False
                else:
                    checks.extend(new)
        return tuple(checks) if ok else None

    def hook_list(self, raw: object, path: PathKey) -> tuple[str, ...] | None:
        if not isinstance(raw, list):
            shown = f" (write [{raw}] for a list of one)" if isinstance(raw, str) else ""
            self.add(path, f"must be a list of hook names{shown}")
            return None
        names = [self.hook_name(item, (*path, i)) for i, item in enumerate(raw)]
        if any(n is None for n in names):
            return None
        return tuple(n for n in names if n is not None)

    def hook_checks(self, kind: str, hook: str, expected: object, path: PathKey) -> list[Check] | None:
        line = self.line(path)
        if kind == "body":
            if self.not_json(expected, path):
                return None
            return [Check(kind="body", line=line, hook=hook, expected=expected)]
        if kind == "headers":
            if not isinstance(expected, dict) or not expected:
                self.add(path, "must be a mapping of header names to values, like {X-Source: hookd}")
                return None
            bad = [name for name, value in expected.items() if not isinstance(value, str)]
            for name in bad:
                self.add((*path, name), "a header value is text; quote it")
            return None if bad else [Check(kind="headers", line=line, hook=hook, expected=expected)]
        items = expected if isinstance(expected, list) else [expected]
        checks = []
        for i, text in enumerate(items):
            at = (*path, i) if isinstance(expected, list) else path
            if not isinstance(text, str) or not text.strip():
                self.add(at, "an assertion is a JMESPath expression over {method, url, headers, body}, as a string")
                continue
            try:
                compiled = compile_expression(text)
            except ExpressionError as e:
                self.add(at, e.problem.message)
                continue
            checks.append(Check(kind="assert", line=self.line(at), hook=hook, expected=text, expression=compiled))
        return checks if len(checks) == len(items) else None


def _non_json(value: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Values YAML makes that JSON has no form for (dates above all), where they are."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _non_json(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_json(item, (*path, i))
    elif isinstance(value, datetime.date):
        yield path, "YAML reads this as a date, which JSON has no form for; quote it to keep it as text"
    elif value is not None and not isinstance(value, bool | int | float | str):
        yield path, f"YAML reads this as {type(value).__name__}, which JSON has no form for; quote it"


# -- running --------------------------------------------------------------------------------------


def run_cases(cases: Sequence[Case], router: Router, *, file: str, now: float) -> list[CaseResult]:
    results = []
    for case in cases:
        outcome = dry_run(router, InputEvent(case.event, f"{file}:{case.line}"), now=now)
        # Checks see the request as `hookd test` prints it (secrets as their ${VAR}); the net below
        # catches a secret that a message or diff would still quote.
        failures = [
            replace(f, message=router.redactor.text(f.message), diff=router.redactor.text(f.diff))
            for check in case.checks
            for f in _verify(check, case.event, outcome.hooks, router)
        ]
        results.append(CaseResult(file=file, name=case.name, line=case.line, failures=tuple(failures)))
    return results


def _verify(check: Check, event: Event, hooks: Sequence[HookResult], router: Router) -> Iterator[Failure]:
    by_hook = {h.hook: h for h in hooks}
    matched = [name for name, h in by_hook.items() if h.matched]
    if check.kind in ("match", "match_at_least"):
        exact = check.kind == "match"
        missing = [name for name in check.hooks if name not in matched]
        extra = [name for name in matched if name not in check.hooks] if exact else []
        if not missing and not extra:
            return
        lines = [f"{name} did not match: {by_hook[name].reason}" for name in missing]
        lines += [f"{name} matched, but is not in the list" for name in extra]
        expected = [name for name in by_hook if name in check.hooks]
        actual = matched if exact else [name for name in matched if name in check.hooks]
        names = difflib.unified_diff(expected, actual, "expected", "actual", lineterm="")
        yield Failure(line=check.line, check=check.kind, message="; ".join(lines), diff="\n".join(names))
        return
    if check.kind == "not_match":
        for name in check.hooks:
            if by_hook[name].filter_error:  # not sent, but a failed delivery in the daemon: not a pass
                yield Failure(line=check.line, check="not_match", message=f"{name}: {by_hook[name].filter_error}")
            if name in matched:
                config = router.by_name[name].config
                why = f"its filter {config.filter} is true" if config.filter else "it has no filter"
                globs = ", ".join(config.events)
                message = f"{name} matched, but should not: type {event.type!r} is in its events ({globs}) and {why}"
                yield Failure(line=check.line, check="not_match", message=message)
        return
    result = by_hook[check.hook]
    what = f"{check.kind} of {check.hook}" if check.kind != "assert" else f"assert on {check.hook}"
    if not result.matched:
        yield Failure(line=check.line, check=what, message=f"{check.hook} did not match: {result.reason}")
        return
    shown = result.shown_request()
    if shown is None:
        yield Failure(line=check.line, check=what, message=f"{check.hook}: {result.render_error}")
        return
    if check.kind == "body":
        # A form body is compared as its fields, decoded: {order: '7'} against order=7&who=...
        body = shown.get("form", shown["body"])
        if not contains(check.expected, body):
            said = "the form's fields do not" if "form" in shown else "the body does not"
            yield Failure(line=check.line, check=what, message=f"{said} contain the expected values",
                          diff=diff(check.expected, project(body, check.expected)))  # fmt: skip
        return
    if check.kind == "headers":
        assert isinstance(check.expected, dict)
        headers = shown["headers"]
        assert isinstance(headers, dict)
        lower = {str(k).lower(): v for k, v in headers.items()}
        found = {name: lower.get(str(name).lower()) for name in check.expected}
        if found != check.expected:
            yield Failure(line=check.line, check=what, message="the headers differ (secret ones show as ***)",
                          diff=diff(check.expected, {k: v for k, v in found.items() if v is not None}))  # fmt: skip
        return
    assert check.expression is not None and isinstance(check.expected, str)
    try:
        value = search(check.expression, shown)  # as filters are evaluated
    except EVALUATION_ERRORS as e:
        yield Failure(line=check.line, check=what, message=f"{check.expected} could not be evaluated: {e}")
        return
    if not is_truthy(value):
        parts = explain_false(check.expected, shown)
        message = "; ".join(p.describe() for p in parts)
        if [p.expression for p in parts] != [check.expected]:
            message = f"{check.expected} is {json_text(value)}: {message}"
        yield Failure(line=check.line, check=what, message=message)


def contains(expected: object, actual: object) -> bool:
    """`actual` has every key of `expected` with a value that contains its value; other values equal.

    Lists must have the same length and contain item by item. `true` is not `1`, as in JSON.
    """
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return expected == actual


def project(actual: object, expected: object) -> object:
    """`actual` cut down to the shape of `expected`, so a diff shows only what the check looked at."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(actual[k], v) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [project(a, e) for a, e in zip(actual, expected, strict=True)]
    return actual


def diff(expected: object, actual: object) -> str:
    """A unified diff, one line per value (`path: JSON`), so only the values that differ show."""
    return "\n".join(
        difflib.unified_diff(list(_lines(expected)), list(_lines(actual)), "expected", "actual", lineterm="")
    )


def _lines(value: object, path: str = "") -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _lines(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _lines(item, f"{path}[{i}]")
    else:
        yield f"{path}: {json_text(value)}" if path else json_text(value)
