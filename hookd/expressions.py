"""JMESPath, the one expression language of hookd (filters and {{ templates }}), with hookd's
template functions (hookd.template_functions) beside the built-in ones.


Compiles once, explains parse errors in terms a config author can act on, and catches the two
mistakes that JMESPath accepts silently or rejects cryptically: "double quotes" mean a field name,
and bare numbers are not literals.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import jmespath
from jmespath import exceptions as jmes_exc
from jmespath import lexer as jmes_lexer
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from hookd.config.expression_hints import dashed_name_hint
from hookd.events import REQUEST_KEY
from hookd.suggest import closest
from hookd.template_functions import (
    FUNCTION_TABLE,
    HOOKD_FUNCTION_NAMES,
    HOOKD_FUNCTIONS,
    TRUNCATE_SUFFIX,
    FunctionArgumentError,
    arity,
    check_max_chars,
    check_number_spec,
    check_suffix_fits,
    check_time_format,
    check_time_zone,
)

# What evaluating a compiled expression on an event can raise. Besides JMESPathError, jmespath lets
# plain Python errors through: `data.items[?price > `0`]` with a string price (TypeError), `merge()`
# of a non-object (TypeError), `ceil(to_number('1e999'))` (OverflowError), `floor(to_number('nan'))`
# (ValueError), `to_string()` of data nested deeper than the interpreter's stack (RecursionError).
EVALUATION_ERRORS = (jmes_exc.JMESPathError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError)
# An error message quotes the offending value, which may be a whole event: keep what is recorded short.
MAX_EVALUATION_ERROR_CHARS = 300

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COMPARATORS = frozenset({"eq", "ne", "lt", "gt", "lte", "gte"})
_BARE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a CloudEvents extension attribute may be called: lower-case letters and digits only.
_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ExpressionProblem:
    message: str
    offset: int  # 0-based character offset in the expression; -1 when unknown
    severity: Literal["error", "warning"] = "error"


# What an expression can reach at its top level: the envelope every event has, and the attributes a
# CloudEvent may carry beside it. Anything else at the top level is always null.
EVENT_FIELDS = ("id", "type", "time", "source", "data")
CLOUDEVENT_ATTRIBUTES = ("specversion", "datacontenttype", "dataschema", "subject", "data_base64")
# What a batch's `payload` template sees instead: {"events": [the rendered payloads], "count": n}.
BATCH_FIELDS = ("events", "count")


class ExpressionError(Exception):
    def __init__(self, problem: ExpressionProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class EvaluationError(Exception):
    """An expression could not be evaluated on one event; the message says why, in one line."""


class _Interpreter(TreeInterpreter):  # type: ignore[misc]  # jmespath ships no types
    """jmespath's interpreter, with ordering (`<`, `<=`, `>`, `>=`) null unless both sides are numbers or
    both are strings, as the JMESPath specification says: jmespath 1.1 raises TypeError for
    `'300' > `100``, which would turn an event with a string where a number was expected into an
    evaluation error instead of "not matched"."""

    def visit_comparator(self, node: dict[str, Any], value: object) -> object:
        if node["value"] in self._EQUALITY_OPS:
            return super().visit_comparator(node, value)
        left = self.visit(node["children"][0], value)
        right = self.visit(node["children"][1], value)
        if not (_is_number(left) and _is_number(right)) and not (isinstance(left, str) and isinstance(right, str)):
            return None
        return self.COMPARATOR_FUNC[node["value"]](left, right)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# The one interpreter every filter, {{ template }} and ordering_key is evaluated with (validate's and
# `hookd test`'s too), so each sees JMESPath's functions and hookd's.
_INTERPRETER = _Interpreter(jmespath.Options(custom_functions=HOOKD_FUNCTIONS))


def search(expression: ParsedResult, subject: object) -> object:
    """`expression` on `subject`, as every filter and template is evaluated; raises what jmespath raises."""
    return _INTERPRETER.visit(expression.parsed, subject)


def evaluate(expression: ParsedResult, subject: object) -> object:
    """`expression` on `subject`. Raises EvaluationError, and nothing else, when it cannot be evaluated."""
    try:
        return search(expression, subject)
    except RecursionError:
        raise EvaluationError("the event is nested too deeply to evaluate this expression") from None
    except EVALUATION_ERRORS as e:
        raise EvaluationError(describe_evaluation_error(e)) from None


def describe_evaluation_error(e: BaseException) -> str:
    """One line for an evaluation error: jmespath's own sentence, or the Python error it let through."""
    text = str(e) if isinstance(e, jmes_exc.JMESPathError) else f"{type(e).__name__}: {e}"
    # One line: a quoted value must not put a newline (or a terminal escape) into a log line or history.
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text) or type(e).__name__
    if len(text) > MAX_EVALUATION_ERROR_CHARS:
        text = text[: MAX_EVALUATION_ERROR_CHARS - 1] + "…"
    return text


def compile_expression(expression: str) -> ParsedResult:
    """Compile `expression`, or raise ExpressionError with a sentence naming the column and the fix."""
    try:
        tokens = tokenize(expression)
    except jmes_exc.LexerError as e:
        # LexerError keeps its reason in .message; its .msg is the generic "Invalid jmespath expression".
        reason = str(e.message)
        hint = (
            "compare with == (two equals signs)"
            if e.lexer_value == "="
            else dashed_name_hint(expression)
            if e.lexer_value == "-"
            else None
        ) or "quote strings with single quotes ('paid') and numbers with backticks (`100`)"
        raise ExpressionError(
            ExpressionProblem(f"JMESPath syntax error at column {e.lex_position + 1}: {reason}; {hint}", e.lex_position)
        ) from None
    try:
        return compile_jmespath(expression)
    except jmes_exc.JMESPathError as e:
        pos = getattr(e, "lex_position", -1)
        pos = pos if isinstance(pos, int) else -1
        hint = _bare_number_hint(tokens) or (
            "the expression ends too early; check for an unclosed bracket or a dangling operator"
            if isinstance(e, jmes_exc.IncompleteExpressionError)
            else "check the JMESPath syntax (jmespath.org); strings go in single quotes, numbers in backticks"
        )
        where = f" at column {pos + 1}" if pos >= 0 else ""
        detail = str(getattr(e, "msg", "") or "").strip()
        detail = f" ({detail})" if detail and detail != jmes_exc.ParseError._ERROR_MESSAGE else ""
        raise ExpressionError(ExpressionProblem(f"JMESPath syntax error{where}{detail}: {hint}", pos)) from None


def compile_jmespath(expression: str) -> ParsedResult:
    """jmespath.compile, raising its own errors. `paid` (a backtick literal that is not JSON) compiles
    as a string with a PendingDeprecationWarning; lint_expression reports it to the author instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return jmespath.compile(expression)


def tokenize(expression: str) -> list[dict[str, object]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return list(jmes_lexer.Lexer().tokenize(expression))


def _bare_number_hint(tokens: list[dict[str, object]]) -> str | None:
    for prev, tok in itertools.pairwise(tokens):
        if tok["type"] == "number" and prev["type"] in _COMPARATORS:
            n = tok["value"]
            return f"a bare number like {n} is not a JMESPath literal; write it in backticks: `{n}`"
    return None


def lint_expression(expression: str, *, batch: bool = False) -> list[ExpressionProblem]:
    """Mistakes that compile but silently misbehave. Assumes `expression` compiles. `batch`: it is
    evaluated over a batch ({events, count}, BATCH_FIELDS), not over one event."""
    problems: list[ExpressionProblem] = []
    tokens = tokenize(expression)
    for i, tok in enumerate(tokens):
        if tok["type"] == "literal":
            problems.extend(_deprecated_literal(expression, tok))
        if tok["type"] != "quoted_identifier":
            continue
        name = str(tok["value"])
        # A quoted identifier that needs no quoting, compared against something, is almost always
        # meant as a string: `status != "draft"` compares with a (missing) field named draft.
        if not _BARE_IDENTIFIER.fullmatch(name):
            continue
        before = tokens[i - 1]["type"] if i > 0 else None
        after = tokens[i + 1]["type"] if i + 1 < len(tokens) else None
        if before in _COMPARATORS or after in _COMPARATORS:
            start = tok["start"]
            problems.append(
                ExpressionProblem(
                    f'"{name}" in double quotes is a field name in JMESPath, not a string, so this '
                    f"comparison is against a field called {name}; write '{name}' (single quotes) for "
                    "the string",
                    start if isinstance(start, int) else -1,
                )
            )
    problems.extend(_piped_function_names(tokens))
    calls = _call_sites(tokens)
    problems.extend(_function_problems(expression, tokens))
    problems.extend(_literal_argument_problems(calls))
    misquoted = _misquoted_arguments(expression, calls, batch=batch)
    problems.extend(_misquoted_problem(call, tok, batch=batch) for call, tok in misquoted)
    # A misquoted argument's name is reported once, as the quoting mistake it is, not again as a field.
    explained = {str(tok["value"]) for _, tok in misquoted}
    problems.extend(
        _batch_field_problems(expression, tokens, explained)
        if batch
        else _event_field_problems(expression, tokens, explained)
    )
    return problems


def _deprecated_literal(expression: str, tok: dict[str, object]) -> list[ExpressionProblem]:
    start = tok["start"]
    if not isinstance(start, int) or not expression.startswith("`", start):
        return []  # a 'raw string' is a literal token too
    # The lexer's "end" for a literal is not an offset: find the closing backtick (\` escapes one).
    end = start + 1
    while end < len(expression) and expression[end] != "`":
        end += 2 if expression[end] == "\\" else 1
    inner = expression[start + 1 : end].replace("\\`", "`")
    try:
        json.loads(inner)
    except ValueError:
        return [
            ExpressionProblem(
                f"`{inner}` is not a JSON literal, so JMESPath reads it as the string {inner!r} (a deprecated "
                f"form); write '{inner}' in single quotes",
                start,
                "warning",
            )
        ]
    return []


def _event_field_problems(
    expression: str, tokens: list[dict[str, object]], explained: set[str]
) -> list[ExpressionProblem]:
    """Top-level names that no event has (`total` for `data.total`, `Data`): always null, so a
    filter that needs them never matches. Warnings: a CloudEvents extension attribute is legal.
    `explained`: names already reported another way."""
    # `request`: an http source's event has it (events.Event.scope); any hook may hear one.
    known = (*EVENT_FIELDS, *CLOUDEVENT_ATTRIBUTES, REQUEST_KEY)
    problems: list[ExpressionProblem] = []
    reported = set(explained)
    for name, rest in _root_fields(compile_jmespath(expression).parsed, at_root=True):
        if name == REQUEST_KEY and rest and rest[0] not in REQUEST_FIELDS and name not in reported:
            reported.add(name)
            problems.append(request_field_problem(rest, tokens))
            continue
        if name in known or name in reported:
            continue
        reported.add(name)
        close = closest(name, EVENT_FIELDS)
        # `Data.total` and `dta.total` mistype `data`; a bare `date` or `total` is a field of data.
        fix = close if close is not None and (close != "data" or rest) else f"data.{name}"
        shown = ".".join((name, *rest))
        better = ".".join((fix, *rest))
        start = next(
            (
                t["start"]
                for t in tokens
                if t["type"] in ("unquoted_identifier", "quoted_identifier") and t["value"] == name
            ),
            -1,
        )
        problems.append(
            ExpressionProblem(
                f"{shown} is always null: events have no field {name!r} (only id, type, time, source and data, "
                f"plus a CloudEvent's attributes and, for an http source's events, request); did you mean {better}?",
                start if isinstance(start, int) else -1,
                "warning",
            )
        )
    return problems


# The fields of an http source's `request` (hookd.inbound.mapping.InboundMapper.stored_request).
REQUEST_FIELDS = ("method", "path", "headers", "query", "params", "remote_ip")


def request_field_problem(rest: tuple[str, ...], tokens: list[dict[str, object]]) -> ExpressionProblem:
    """`request.<rest>` whose first name is not one of the request's fields: always null."""
    name = rest[0]
    close = closest(name, REQUEST_FIELDS)
    hint = f"; did you mean request.{'.'.join((close, *rest[1:]))}?" if close is not None else ""
    start = next(
        (
            t["start"]
            for t in tokens
            if t["type"] in ("unquoted_identifier", "quoted_identifier") and t["value"] == name
        ),
        -1,
    )
    return ExpressionProblem(
        f"request.{'.'.join(rest)} is always null: the request has {', '.join(REQUEST_FIELDS)}{hint}",
        start if isinstance(start, int) else -1,
        "warning",
    )


def request_field_problems(expression: str) -> list[ExpressionProblem]:
    """For an http source's event_type and event_id: `request.X` where X is not a request field."""
    parsed = compile_jmespath(expression).parsed
    tokens = list(jmes_lexer.Lexer().tokenize(expression))
    return [
        request_field_problem(rest, tokens)
        for name, rest in _root_fields(parsed, at_root=True)
        if name == REQUEST_KEY and rest and rest[0] not in REQUEST_FIELDS
    ][:1]


def _batch_field_problems(
    expression: str, tokens: list[dict[str, object]], explained: set[str]
) -> list[ExpressionProblem]:
    """Top-level names a batch has not (`data.id`, `event`): always null in a batch's payload.
    `explained`: names already reported another way."""
    problems: list[ExpressionProblem] = []
    reported = set(explained)
    for name, rest in _root_fields(compile_jmespath(expression).parsed, at_root=True):
        if name in BATCH_FIELDS or name in reported:
            continue
        reported.add(name)
        shown = ".".join((name, *rest))
        close = closest(name, BATCH_FIELDS)
        if close is not None:
            better = ".".join((close, *rest))
        else:  # a field of each event: the list of them
            better = f"events[].{shown}" if name in EVENT_FIELDS else f"events[].data.{shown}"
        start = next((t["start"] for t in tokens if t["type"] in ("unquoted_identifier", "quoted_identifier")
                      and t["value"] == name), -1)  # fmt: skip
        problems.append(
            ExpressionProblem(
                f"{shown} is always null: a batch's payload sees only events (the batch's payloads, oldest first) "
                f"and count; did you mean {better}?",
                start if isinstance(start, int) else -1,
                "warning",
            )
        )
    return problems


# Node types whose first child is evaluated where the node is, and the rest on what it produced.
_CHAINS = frozenset(
    {"subexpression", "index_expression", "projection", "filter_projection", "value_projection", "flatten", "pipe"}
)
# Node types whose children are all evaluated where the node is.
_SAME_PLACE = frozenset(
    {"comparator", "and_expression", "or_expression", "not_expression", "multi_select_list", "multi_select_dict",
     "key_val_pair", "function_expression"}
)  # fmt: skip


def _root_fields(node: object, *, at_root: bool) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each field read from the event itself, with the field names chained right after it (for
    `Data.total`: ("Data", ("total",))). Fields inside projections, filters and &expressions are
    read from other values, so they are not yielded."""
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    children = node.get("children") or []
    if kind == "field":
        if at_root:
            yield str(node.get("value")), ()
        return
    if kind == "subexpression" and at_root and children:
        names = []
        for child in children:
            if not (isinstance(child, dict) and child.get("type") == "field"):
                break
            names.append(str(child.get("value")))
        if names:
            yield names[0], tuple(names[1:])
            return
        if isinstance(children[0], dict) and children[0].get("type") == "current":
            yield from _root_fields({"type": "subexpression", "children": children[1:]}, at_root=True)
            return
    if kind in _CHAINS and children:
        yield from _root_fields(children[0], at_root=at_root)
        for child in children[1:]:
            yield from _root_fields(child, at_root=False)
        return
    same = kind in _SAME_PLACE
    for child in children:
        if isinstance(child, dict) and child.get("type") == "expref":
            yield from _root_fields(child, at_root=False)
        else:
            yield from _root_fields(child, at_root=at_root and same)


def _piped_function_names(tokens: list[dict[str, object]]) -> Iterator[ExpressionProblem]:
    """`data.name | upper`, written as a template filter: JMESPath reads a field named upper of the value
    before the pipe, null on every event."""
    end: list[dict[str, object]] = [{"type": "eof"}]
    for before, tok, after in zip(tokens, tokens[1:], [*tokens[2:], *end], strict=False):
        if before["type"] != "pipe" or tok["type"] != "unquoted_identifier" or after["type"] == "lparen":
            continue
        name = str(tok["value"])
        if name in FUNCTION_TABLE:
            start = tok["start"]
            yield ExpressionProblem(
                f"| {name} reads a field named {name} (null here), not the function: | is JMESPath's pipe, not a "
                f"template filter; call it with the value as its argument, like {name}(data.name)",
                start if isinstance(start, int) else -1,
            )


def _function_problems(expression: str, tokens: list[dict[str, object]]) -> list[ExpressionProblem]:
    """Unknown functions and wrong argument counts: JMESPath only notices them when evaluating."""
    starts: dict[str, int] = {}
    problems: list[ExpressionProblem] = []
    for tok, after in itertools.pairwise(tokens):
        if tok["type"] != "unquoted_identifier" or after["type"] != "lparen":
            continue
        name = str(tok["value"])
        start = tok["start"] if isinstance(tok["start"], int) else -1
        starts.setdefault(name, start)
    piped = {str(tok["value"]) for before, tok in itertools.pairwise(tokens) if before["type"] == "pipe"}
    reported: set[str] = set()
    for name, given in _calls(compile_jmespath(expression).parsed):
        counts = arity(name)
        if counts is None:
            if name not in reported:
                reported.add(name)
                problems.append(ExpressionProblem(_unknown_function(name), starts.get(name, -1)))
            continue
        fewest, most = counts
        if given < fewest or (most is not None and given > most):
            if most is None:
                wanted = f"at least {fewest} argument(s)"
            elif fewest == most:
                wanted = f"{fewest} argument(s)"
            else:
                wanted = f"{fewest} or {most} arguments" if most == fewest + 1 else f"{fewest} to {most} arguments"
            said = f"{name}() takes {wanted}, but is given {given}"
            if name in piped and given < fewest:
                said += (
                    f"; | is JMESPath's pipe, not a template filter, so the value before it is not an argument: "
                    f"write {name}(value, ...)"
                )
            problems.append(ExpressionProblem(said, starts.get(name, -1)))
    return problems


@dataclass(slots=True)
class _CallSite:
    """One function call as written: its name, the offset of the name, and each argument's tokens. A
    bracket or call nested in an argument shows there as its opening token only, so an argument of
    one token is that token alone: a literal, or a field name."""

    name: str
    start: int
    arguments: list[list[dict[str, object]]]


_OPENERS = frozenset({"lparen", "lbracket", "lbrace", "filter"})
_CLOSERS = frozenset({"rparen", "rbracket", "rbrace"})


def _call_sites(tokens: list[dict[str, object]]) -> list[_CallSite]:
    """Each function call in `tokens` (of an expression that compiles). From the tokens, not the parsed
    tree, because only tokens know where they are and whether a name was written in double quotes."""
    open_brackets: list[_CallSite | None] = []  # None: a bracket that does not hold a call's arguments
    calls: list[_CallSite] = []
    previous: dict[str, object] | None = None
    for tok in tokens:
        kind = tok["type"]
        innermost = open_brackets[-1] if open_brackets else None
        if kind in _CLOSERS:
            closed = open_brackets.pop()
            if closed is not None:
                if closed.arguments == [[]]:  # `f()`
                    closed.arguments = []
                calls.append(closed)
        elif kind == "comma" and innermost is not None:
            innermost.arguments.append([])
        else:
            if innermost is not None and kind != "eof":
                innermost.arguments[-1].append(tok)
            if kind in _OPENERS:
                open_brackets.append(_call_opened(previous) if kind == "lparen" else None)
        previous = tok
    return calls


def _call_opened(before_paren: dict[str, object] | None) -> _CallSite | None:
    """The call a `(` after `before_paren` opens: the parser makes a call of every `name(`, and of no
    other `(` (a grouping)."""
    if before_paren is None or before_paren["type"] != "unquoted_identifier":
        return None
    start = before_paren["start"]
    return _CallSite(str(before_paren["value"]), start if isinstance(start, int) else -1, [[]])


def _literal_argument_problems(calls: list[_CallSite]) -> list[ExpressionProblem]:
    """A spec, format, zone or length written in the expression itself that the function would refuse
    on every event: found now, by the check the function makes when it runs, at the function's place."""
    problems: list[ExpressionProblem] = []
    for call in calls:
        literals = [
            argument[0]["value"] if len(argument) == 1 and argument[0]["type"] == "literal" else _NOT_WRITTEN
            for argument in call.arguments
        ]
        counts = arity(call.name)
        if counts is not None and len(literals) < counts[0]:
            # An argument is missing (`| format_number('.2f')` leaves out the value), so each literal
            # stands where the function takes another; the count is reported alone, by
            # _function_problems.
            continue
        wrong_type = _literal_type_problem(call.name, literals)
        if wrong_type is not None:
            problems.append(ExpressionProblem(wrong_type, call.start))
            continue
        try:
            _check_written_arguments(call.name, literals)
        except FunctionArgumentError as e:
            problems.append(ExpressionProblem(str(e), call.start))
    return problems


def _literal_type_problem(name: str, literals: list[object]) -> str | None:
    """A literal argument of a type function `name` refuses there (`truncate(data.log, '1900')`), by
    the type check the function makes when it runs; None when each literal's type fits."""
    spec = FUNCTION_TABLE.get(name)
    if spec is None:
        return None  # reported as an unknown function
    signature: tuple[dict[str, Any], ...] = spec["signature"]
    for index, value in enumerate(literals):
        if value is _NOT_WRITTEN:
            continue
        if index >= len(signature) and not (signature and signature[-1].get("variadic")):
            return None  # one argument too many: reported with the function's arity
        types = signature[min(index, len(signature) - 1)]["types"]
        if not types:
            continue
        try:
            HOOKD_FUNCTIONS._type_check_single(value, types, name)
        except jmes_exc.JMESPathTypeError:
            expected = _TYPE_WORDS.get(" ".join(sorted(types))) or " or ".join(_TYPE_WORDS.get(t, t) for t in types)
            return (
                f"{name}() takes {expected} as argument {index + 1}, but is given {_literal_words(value)}"
                f"{_type_fix(value, types)}"
            )
    return None


# JMESPath's type names, and the lists of them its functions take, in words (a list's names sorted).
_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
    "expref": "an &expression",
    "array-number": "an array of numbers",
    "array-string": "an array of texts",
    "null string": "text or null",
    "number string": "text or a number",
    "array-number array-string": "an array of numbers or one of texts",
    "array string": "an array or text",
    "array object string": "text, an array or an object",
}


def _literal_words(value: object) -> str:
    """A literal argument in words, as the expression writes it: text in single quotes, the rest as
    JSON in backticks."""
    if isinstance(value, str):
        return "the text '" + value.replace("'", "\\'") + "'"
    if value is None:
        return "null"
    kind = (
        "the boolean" if isinstance(value, bool)
        else "the number" if _is_number(value)
        else "the array" if isinstance(value, list)
        else "the object"
    )  # fmt: skip
    return f"{kind} `{json.dumps(value)}`"


def _type_fix(value: object, expected: list[str]) -> str:
    """How to write `value` as the type expected, where the mistake is only in the quoting."""
    if isinstance(value, str) and "number" in expected:
        try:
            number = json.loads(value)
        except ValueError:
            return ""
        if isinstance(number, int | float) and not isinstance(number, bool):
            return f"; write the number in backticks: `{value}`"
    if _is_number(value) and "string" in expected and not any(t.startswith("array") for t in expected):
        return f"; write the text in single quotes: '{json.dumps(value)}'"
    return ""


# An argument whose value is known only on an event: a field, a call, anything but a literal.
_NOT_WRITTEN = object()


def _check_written_arguments(name: str, literals: list[object]) -> None:
    """Raises FunctionArgumentError for an argument of function `name` written as a literal (the rest
    are _NOT_WRITTEN) that the function cannot use. A literal of the wrong type is left to the
    function's own type check on the event."""

    def written(index: int) -> object:
        return literals[index] if index < len(literals) else _NOT_WRITTEN

    if name == "format_number" and isinstance(spec := written(1), str):
        check_number_spec(spec)
    elif name == "format_time":
        if isinstance(fmt := written(1), str):
            check_time_format(fmt)
        if isinstance(zone := written(2), str):
            check_time_zone(zone)
    elif name == "truncate":
        max_chars = written(1)
        if isinstance(max_chars, int | float) and not isinstance(max_chars, bool):
            limit = check_max_chars(max_chars)
            suffix = written(2) if len(literals) > 2 else TRUNCATE_SUFFIX
            if isinstance(suffix, str):
                check_suffix_fits(limit, suffix)


def _misquoted_arguments(
    expression: str, calls: list[_CallSite], *, batch: bool
) -> list[tuple[_CallSite, dict[str, object]]]:
    """Each argument written as one "double-quoted" name that the event (or batch) has not, with its
    call: `format_number(data.total, ".2f")`, where JMESPath reads ".2f" as a field name, so the
    function gets the missing field's null, not the text. A quoted name of a field that exists, or
    one read from a projected value, is what JMESPath allows, and is left alone."""
    known = BATCH_FIELDS if batch else EVENT_FIELDS + CLOUDEVENT_ATTRIBUTES
    return [
        (call, argument[0])
        for call in calls
        for argument in call.arguments
        if len(argument) == 1
        and argument[0]["type"] == "quoted_identifier"
        and str(argument[0]["value"]) not in known
        and _read_from_the_top(expression, argument[0])
    ]


# A field name no expression has (JSON's escape for NUL): standing in for one quoted name, it shows
# where that name is read.
_STAND_IN = '"\\u0000hookd"'


def _read_from_the_top(expression: str, quoted: dict[str, object]) -> bool:
    """Whether the quoted name `quoted` is a field of the event (or batch) itself, not of a value a
    projection or filter goes through. The parsed tree does not say which node a token made, so the
    name is swapped for a stand-in no other field has, and the stand-in looked for."""
    start, length = quoted["start"], quoted["end"]  # a quoted identifier's "end" is its length
    if not isinstance(start, int) or not isinstance(length, int):
        return False
    swapped = expression[:start] + _STAND_IN + expression[start + length :]
    stand_in = json.loads(_STAND_IN)
    return any(name == stand_in for name, _ in _root_fields(compile_jmespath(swapped).parsed, at_root=True))


def _misquoted_problem(call: _CallSite, tok: dict[str, object], *, batch: bool) -> ExpressionProblem:
    """An error when no event can have the field; a warning when a CloudEvent could carry an extension
    attribute of that name, as for other unknown top-level fields."""
    name = str(tok["value"])
    as_text = "'" + name.replace("'", "\\'") + "'"  # a raw string escapes only its quote
    maybe_attribute = not batch and _ATTRIBUTE_NAME.fullmatch(name) is not None
    unless = f" (null unless the event is a CloudEvent carrying an attribute named {name})" if maybe_attribute else ""
    start = tok["start"]
    return ExpressionProblem(
        f'"{name}" in {call.name}() is a field name in JMESPath, not text{unless}; write the text in single '
        f"quotes: {as_text}",
        start if isinstance(start, int) else -1,
        "warning" if maybe_attribute else "error",
    )


def _unknown_function(name: str) -> str:
    close = closest(name, sorted(FUNCTION_TABLE))
    if close is not None:
        return f"{name}() is not a JMESPath function; did you mean {close}()?"
    return (
        f"{name}() is not a JMESPath function; see jmespath.org for the built-in functions, and hookd adds "
        + ", ".join(f"{n}()" for n in sorted(HOOKD_FUNCTION_NAMES))
    )


def called_functions(expression: str) -> frozenset[str]:
    """The names of the functions `expression` calls. Assumes it compiles."""
    return frozenset(name for name, _ in _calls(compile_jmespath(expression).parsed))


def _calls(node: object) -> Iterator[tuple[str, int]]:
    if not isinstance(node, dict):
        return
    children = node.get("children") or []
    if node.get("type") == "function_expression":
        yield str(node.get("value")), len(children)
    for child in children:
        yield from _calls(child)


def is_truthy(value: object) -> bool:
    """JMESPath truthiness: false, null, '', [] and {} are false; every number (0 too) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
