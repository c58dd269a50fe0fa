"""Hints for an expression written in the template habit: `ordering_key: "{{ data.order_id }}"`.

Payload templates put expressions inside `{{ }}`; ordering_key (like filter) is a bare JMESPath
expression, where `{` starts a multiselect hash, so the parser's own message ("Expecting:
quoted_identifier, got: lbrace") does not say what to write instead.
"""

from __future__ import annotations

import re

_BRACED = re.compile(r"\s*\{\{\s*(?P<inner>.*?)\s*\}\}\s*", re.DOTALL)


def braced_expression_hint(key: str, expression: str) -> str | None:
    """The sentence for `key`'s value written as `{{ expr }}`, naming what to write; None otherwise."""
    m = _BRACED.fullmatch(expression)
    if m is None or not m.group("inner"):
        return None
    inner = m.group("inner")
    return (
        f"{expression!r} is written as a template, but {key} is a JMESPath expression: write the JMESPath "
        f"expression without {{{{ }}}}: {inner}"
    )


_DASHED = re.compile(r"(?<![\"\w])([A-Za-z_][\w]*(?:-[\w]+)+)")


def dashed_name_hint(expression: str) -> str | None:
    """For a parse error: a name with a dash (`x-github-event`) must be quoted, or JMESPath reads a
    minus sign; the sentence naming the quoted form, or None when there is no such name."""
    m = _DASHED.search(expression)
    if m is None:
        return None
    name = m.group(1)
    return f'a name with a dash needs double quotes in JMESPath: write "{name}", like request.headers."{name}"'
