"""Payload and header templates: `{{ expr }}` with JMESPath over the event (pure).

A string that is exactly one `{{ expr }}` keeps the JSON type of the result (an array stays an
array); any other string renders as text, non-strings as compact JSON and null as "".

A render may be given an `escape` (a chat preset's: Slack's &, <, > as entities): it is applied to
each value a placeholder puts into text, never to the template's literal text, so markup the config
author wrote stays markup and the same characters from the event show as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jmespath.parser import ParsedResult

from hookd import jsonvalue
from hookd.config.paths import describe_path
from hookd.expressions import EvaluationError, ExpressionError, compile_expression, evaluate, lint_expression

# One `{{ expr }}` (hookd.urls splits a URL template by it too).
PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)

JsonPath = tuple[str | int, ...]
Escape = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    path: JsonPath  # where inside the template (relative to the template root)
    message: str
    severity: str = "error"


class TemplateError(Exception):
    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class RenderError(Exception):
    """A template cannot be rendered for one event: `path` is where inside the template (relative to
    its root), `reason` a sentence. Rendering raises this and nothing else for what an event holds."""

    def __init__(self, path: JsonPath, reason: str) -> None:
        super().__init__(f"{describe_path(path, None)}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


class _Node:
    __slots__ = ()

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        raise NotImplementedError


class _Const(_Node):
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        return self.value


@dataclass(frozen=True, slots=True)
class _Placeholder:
    """One `{{ expr }}`: compiled, with its text and place for the message when it fails on an event."""

    expr: ParsedResult
    text: str
    path: JsonPath

    def value(self, event: Mapping[str, object]) -> object:
        try:
            value = evaluate(self.expr, event)
        except EvaluationError as e:
            raise RenderError(self.path, f"{{{{ {self.text} }}}} could not be evaluated on this event: {e}") from None
        if type(value) is float and not math.isfinite(value):
            # Event data holds no such number (intake refuses one), but arithmetic on it can make one
            # (sum() of two 1e308), and JSON writers would send it as null without a word.
            what = "a number too large for JSON" if math.isinf(value) else "NaN, which is not a number JSON can carry"
            raise RenderError(self.path, f"{{{{ {self.text} }}}} gave {what} on this event")
        return value

    def text_value(self, event: Mapping[str, object]) -> str:
        value = self.value(event)
        try:
            return as_text(value)
        except (TypeError, ValueError) as e:  # jsonvalue: nested past what JSON writers take
            raise RenderError(self.path, f"{{{{ {self.text} }}}} gave a value that is not JSON: {e}") from None


class _Lone(_Node):
    __slots__ = ("placeholder",)

    def __init__(self, placeholder: _Placeholder) -> None:
        self.placeholder = placeholder

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        value = self.placeholder.value(event)
        # A string is text wherever it lands; an object or list keeps its shape (not text yet).
        return escape(value) if escape is not None and isinstance(value, str) else value


class _Text(_Node):
    __slots__ = ("parts",)

    def __init__(self, parts: list[str | _Placeholder]) -> None:
        self.parts = parts

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif escape is not None:
                out.append(escape(part.text_value(event)))
            else:
                out.append(part.text_value(event))
        return "".join(out)


class _Dict(_Node):
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, _Node]]) -> None:
        self.items = items

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        return {k: v.render(event, escape) for k, v in self.items}


class _List(_Node):
    __slots__ = ("items",)

    def __init__(self, items: list[_Node]) -> None:
        self.items = items

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        return [v.render(event, escape) for v in self.items]


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return jsonvalue.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template; `render(event)` returns plain JSON values."""

    root: _Node
    source: object

    def render(self, event: Mapping[str, object], escape: Escape | None = None) -> object:
        """Raises RenderError when a placeholder cannot be evaluated on this event. With `escape`,
        each string a placeholder gives (alone, or inside a string) is escaped; literal text is not."""
        return self.root.render(event, escape)

    def render_text(self, event: Mapping[str, object], escape: Escape | None = None) -> str:
        """The rendering as text (a header value, a preset's message). Raises RenderError. With
        `escape`, each placeholder's text is escaped (a lone one's whole value, as text)."""
        if escape is not None and isinstance(self.root, _Lone):
            return escape(self.root.placeholder.text_value(event))
        value = self.render(event, escape)
        try:
            return as_text(value)
        except (TypeError, ValueError) as e:
            raise RenderError((), f"the rendered value is not JSON: {e}") from None


def compile_template(source: object) -> Template:
    """Compile a template (any JSON value). Raises TemplateError listing every problem found."""
    problems: list[TemplateProblem] = []
    root = _compile(source, (), problems)
    if any(p.severity == "error" for p in problems):
        raise TemplateError(problems)
    return Template(root=root, source=source)


def lint_template(source: object, *, batch: bool = False) -> list[TemplateProblem]:
    """Every problem in a template, errors and warnings, without raising. `batch`: a batch's payload,
    rendered over {events, count} rather than over one event."""
    problems: list[TemplateProblem] = []
    _compile(source, (), problems, batch=batch)
    return problems


def _compile(value: object, path: JsonPath, problems: list[TemplateProblem], *, batch: bool = False) -> _Node:
    if isinstance(value, dict):
        return _Dict([(str(k), _compile(v, (*path, str(k)), problems, batch=batch)) for k, v in value.items()])
    if isinstance(value, list):
        return _List([_compile(v, (*path, i), problems, batch=batch) for i, v in enumerate(value)])
    if isinstance(value, str) and "{{" in value:
        return _compile_string(value, path, problems, batch=batch)
    if isinstance(value, str) and "}}" in value:
        problems.append(TemplateProblem(path, "'}}' without an opening '{{'; remove it or add the '{{ expr'"))
    return _Const(value)


def _compile_string(text: str, path: JsonPath, problems: list[TemplateProblem], *, batch: bool = False) -> _Node:
    parts: list[str | _Placeholder] = []
    pos = 0
    for m in PLACEHOLDER.finditer(text):
        literal = text[pos : m.start()]
        if "{{" in literal:
            break  # reported below as unclosed
        if literal:
            parts.append(literal)
        expression = m.group(1).strip()
        if not expression:
            problems.append(
                TemplateProblem(path, "empty '{{ }}'; put a JMESPath expression inside, like {{ data.id }}")
            )
            pos = m.end()
            continue
        try:
            parts.append(_Placeholder(compile_expression(expression), expression, path))
            for lint in lint_expression(expression, batch=batch):
                problems.append(TemplateProblem(path, f"in {{{{ {expression} }}}}: {lint.message}", lint.severity))
        except ExpressionError as e:
            problems.append(TemplateProblem(path, f"in {{{{ {expression} }}}}: {e.problem.message}"))
        pos = m.end()
    rest = text[pos:]
    if "{{" in rest:
        problems.append(TemplateProblem(path, "'{{' is never closed; end the expression with '}}'"))
    elif rest:
        parts.append(rest)
    if any(isinstance(part, str) and "}}" in part for part in parts):
        problems.append(TemplateProblem(path, "'}}' without an opening '{{'; remove it or add the '{{ expr'"))
    if len(parts) == 1 and not isinstance(parts[0], str) and PLACEHOLDER.fullmatch(text):
        return _Lone(parts[0])
    return _Text(parts)
