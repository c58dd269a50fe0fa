"""JMESPath, the one expression language of hookd (filters and {{ templates }}).

Compiles once, explains parse errors in terms a config author can act on, and catches the two
mistakes that JMESPath accepts silently or rejects cryptically: "double quotes" mean a field name,
and bare numbers are not literals.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import jmespath
from jmespath import exceptions as jmes_exc
from jmespath import lexer as jmes_lexer
from jmespath.parser import ParsedResult

_COMPARATORS = frozenset({"eq", "ne", "lt", "gt", "lte", "gte"})
_BARE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class ExpressionProblem:
    message: str
    offset: int  # 0-based character offset in the expression; -1 when unknown


class ExpressionError(Exception):
    def __init__(self, problem: ExpressionProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def compile_expression(expression: str) -> ParsedResult:
    """Compile `expression`, or raise ExpressionError with a sentence naming the column and the fix."""
    try:
        tokens = list(jmes_lexer.Lexer().tokenize(expression))
    except jmes_exc.LexerError as e:
        raise ExpressionError(
            ExpressionProblem(
                f"JMESPath syntax error at column {e.lex_position + 1}: {e.msg}. "
                "Quote strings with single quotes ('paid') and numbers with backticks (`100`)",
                e.lex_position,
            )
        ) from None
    try:
        return jmespath.compile(expression)
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
        detail = f" ({detail})" if detail else ""
        raise ExpressionError(ExpressionProblem(f"JMESPath syntax error{where}{detail}: {hint}", pos)) from None


def _bare_number_hint(tokens: list[dict[str, object]]) -> str | None:
    for prev, tok in itertools.pairwise(tokens):
        if tok["type"] == "number" and prev["type"] in _COMPARATORS:
            n = tok["value"]
            return f"a bare number like {n} is not a JMESPath literal; write it in backticks: `{n}`"
    return None


def lint_expression(expression: str) -> list[ExpressionProblem]:
    """Mistakes that compile but silently misbehave. Assumes `expression` compiles."""
    problems: list[ExpressionProblem] = []
    tokens = list(jmes_lexer.Lexer().tokenize(expression))
    for i, tok in enumerate(tokens):
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
    return problems


def is_truthy(value: object) -> bool:
    """JMESPath truthiness: false, null, '', [] and {} are false; every number (0 too) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
