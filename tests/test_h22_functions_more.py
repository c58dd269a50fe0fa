"""truncate() cuts a text to a character limit; `hookd validate` checks what an expression writes
literally (format_number's spec, format_time's format and zone, truncate's limit and suffix) with the
check the function makes on every event, names a "double-quoted" function argument as the field it
is, and says to drop the braces of a filter written as a {{ template }}."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.expressions import EvaluationError, compile_expression, evaluate, lint_expression
from tests.test_h22_functions_validate import HOOK, problems

EVENT = {
    "type": "order.paid",
    "time": "2024-12-31T23:30:00Z",
    "data": {"log": "disk full on db-1", "emoji": "🚀🔥💾", "none": None, "total": 1234.5, "spec": "0.2x"},
}

# The column where a `    filter: "` value's expression starts (1-based), so offset 0 is this column.
FILTER_COLUMN = 14


def run(expression: str, subject: object = EVENT) -> object:
    return evaluate(compile_expression(expression), subject)


def render_error(expression: str, subject: object = EVENT) -> str:
    with pytest.raises(EvaluationError) as raised:
        run(expression, subject)
    return str(raised.value)


def filter_problems(tmp_path: Path, expression: str) -> list[tuple[int | None, str, str]]:
    """The problems of a hook whose filter is `expression`, as (column, severity, message)."""
    escaped = expression.replace("\\", "\\\\").replace('"', '\\"')
    found = problems(tmp_path, HOOK + f'    filter: "{escaped}"\n')
    assert all(line == 6 for line, *_ in found), found
    return [(column, severity, message) for _, column, severity, message in found]


def payload_problems(tmp_path: Path, template: str) -> list[tuple[int, str, str]]:
    """The problems of a hook whose payload is {m: `template`}, as (line, severity, message)."""
    escaped = template.replace("\\", "\\\\").replace('"', '\\"')
    found = problems(tmp_path, HOOK + f'    payload:\n      m: "{escaped}"\n')
    return [(line, severity, message) for line, _, severity, message in found]


# truncate() on events


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("truncate(data.log, `8`)", "disk fu…"),  # 7 characters and the suffix: 8
        ("truncate(data.log, `17`)", "disk full on db-1"),  # exactly the limit: as it is
        ("truncate(data.log, `1900`)", "disk full on db-1"),
        ("truncate(data.log, `8`, '...')", "disk ..."),
        ("truncate(data.log, `4`, '')", "disk"),
        ("truncate(data.log, `4`, '....')", "...."),  # the suffix may fill the whole limit
        ("truncate(data.log, `8.0`)", "disk fu…"),  # a whole number written as a float
        ("truncate(data.emoji, `2`)", "🚀…"),  # an emoji beyond the BMP is one character, never cut in two
        ("truncate(data.emoji, `3`)", "🚀🔥💾"),
        ("truncate(data.emoji, `2`, '')", "🚀🔥"),
        ("truncate('', `1`)", ""),
    ],
)
def test_truncate(expression: str, result: str) -> None:
    assert run(expression) == result


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("truncate(data.log, `2`, '...')", "truncate(): the suffix '...' is 3 characters, longer than max_chars (2), "
         "and a cut text holds the suffix; raise max_chars or shorten the suffix"),
        ("truncate(data.log, `0`)", "truncate(): max_chars is 0, but it must be a whole number of at least 1, like "
         "`1900`"),
        ("truncate(data.log, `-5`)", "truncate(): max_chars is -5, but it must be a whole number of at least 1"),
        ("truncate(data.log, `2.5`)", "truncate(): max_chars is 2.5, but it must be a whole number of at least 1"),
        # A text that fits is still refused a limit that could never work, so the error does not wait for
        # the first long text.
        ("truncate('ok', `1`, '...')", "truncate(): the suffix '...' is 3 characters, longer than max_chars (1)"),
        # null text is refused like lower()'s and upper()'s; `data.none || ''` is the way to accept it.
        ("truncate(data.none, `10`)", "In function truncate(), invalid type for value: None, expected one of: "
         "['string'], received: \"null\""),
        ("truncate(data.log)", "truncate() takes 2 or 3 arguments, but is given 1"),
    ],
)  # fmt: skip
def test_truncate_refuses(expression: str, message: str) -> None:
    assert message in render_error(expression)


def test_truncate_of_a_missing_text_with_a_fallback() -> None:
    assert run("truncate(data.none || '', `10`)") == ""


@given(text=st.text(), max_chars=st.integers(min_value=1, max_value=40), suffix=st.text(max_size=3))
def test_truncate_keeps_to_the_limit_and_a_prefix(text: str, max_chars: int, suffix: str) -> None:
    if len(suffix) > max_chars:
        return  # refused, as above
    cut = run(f"truncate(text, `{max_chars}`, suffix)", {"text": text, "suffix": suffix})
    assert isinstance(cut, str)
    assert len(cut) <= max_chars
    if len(text) <= max_chars:
        assert cut == text
    else:
        assert cut == text[: max_chars - len(suffix)] + suffix


# Literal arguments checked by validate, with the function's own check


@pytest.mark.parametrize(
    ("expression", "offset", "message"),
    [
        ("format_number(data.total, '0.2x') == ''", 0, "format_number(): '0.2x' is not a number format hookd "
         "knows; use a Python format spec like '.2f'"),
        ('format_number(data.total, `"0.2x"`) == \'\'', 0, "format_number(): '0.2x' is not a number format"),
        ("format_number(data.total, '.2d') == ''", 0, "format_number(): '.2d' gives a precision to 'd', which has "
         "no decimals"),
        ("format_time(time, '%Y', 'Europe/Pariss') == ''", 0, "format_time(): 'Europe/Pariss' is not a time zone; "
         "did you mean 'Europe/Paris'?"),
        ("format_time(time, '%c') == ''", 0, "format_time(): '%c' is laid out by the host's locale"),
        ("format_time(time, '%-s') == ''", 0, "format_time(): '%-s' is %s with a flag the C library reads its own way"),
        ("truncate(data.log, `0`) == ''", 0, "truncate(): max_chars is 0, but it must be a whole number of at least 1"),
        ("truncate(data.log, `2`, '...') == ''", 0, "truncate(): the suffix '...' is 3 characters, longer than "
         "max_chars (2)"),
        # The check is at the place of the call it is about, the second of two calls of the same function.
        ("format_number(data.a, '.2f') == format_number(data.b, '0.2x')", 32, "format_number(): '0.2x' is not a "
         "number format"),
        # In a filter projection, whose parsed tree keeps the condition last.
        ("data.items[?format_time(at, '%Ey') == '24'].truncate(name, `0`) | length(@) > `0`", 12,
         "format_time(): '%Ey' asks for the host locale's alternative form; write it without the E"),
        ("data.items[?format_time(at, '%Ey') == '24'].truncate(name, `0`) | length(@) > `0`", 44,
         "truncate(): max_chars is 0"),
    ],
)  # fmt: skip
def test_a_literal_argument_the_function_refuses_is_an_error_at_the_call(
    tmp_path: Path, expression: str, offset: int, message: str
) -> None:
    found = filter_problems(tmp_path, expression)
    assert [(column, severity) for column, severity, text in found if text.startswith(message)] == [
        (FILTER_COLUMN + offset, "error")
    ], found


@pytest.mark.parametrize(
    ("expression", "event"),
    [
        ("format_number(data.total, '0.2x')", EVENT),
        ("format_time(time, '%Y', 'Europe/Pariss')", EVENT),
        ("format_time(time, '%c')", EVENT),
        ("truncate(data.log, `3`, '....')", EVENT),
    ],
)
def test_validate_says_what_the_function_says_on_an_event(tmp_path: Path, expression: str, event: object) -> None:
    found = payload_problems(tmp_path, "{{ " + expression + " }}")
    assert found == [(7, "error", f"in {{{{ {expression} }}}}: {render_error(expression, event)}")]


@pytest.mark.parametrize(
    "template",
    [
        "{{ format_number(data.total, ',.2f') }} {{ format_number(data.total, '') }}",
        "{{ format_number(data.total, data.spec) }}",  # known only on the event
        "{{ format_time(time, '%d.%m.%Y %H:%M %Z', 'Europe/Berlin') }} {{ format_time(time, '%s', `null`) }}",
        "{{ truncate(data.log, `1900`) }} {{ truncate(data.log, `3`, '...') }} {{ truncate(data.log, `1`, '') }}",
        "{{ truncate(data.log, `2`, data.suffix) }}",  # the suffix is known only on the event
    ],
)
def test_literal_arguments_the_functions_take_are_no_problem(tmp_path: Path, template: str) -> None:
    assert payload_problems(tmp_path, template) == []


def _validate_agrees_with_the_function(expression: str, function: str) -> None:
    """What validate says of a literal argument is what the function raises on an event, or nothing."""
    written = [p.message for p in lint_expression(expression) if p.message.startswith(f"{function}():")]
    try:
        run(expression)
    except EvaluationError as e:
        assert written == [str(e)]
    else:
        assert written == []


@given(spec=st.text(alphabet="0123456789.,_+- fd%xe>", max_size=7))
def test_validate_refuses_a_written_spec_exactly_when_the_function_does(spec: str) -> None:
    # A whole number, which every spec the function takes can format.
    _validate_agrees_with_the_function(f"format_number(`12`, '{spec}')", "format_number")


@given(fmt=st.text(alphabet="%YmdHMSZzscxXEOy-_:0 ^#", max_size=6))
def test_validate_refuses_a_written_time_format_exactly_when_the_function_does(fmt: str) -> None:
    _validate_agrees_with_the_function(f"format_time(`0`, '{fmt}')", "format_time")


# "Double-quoted" function arguments


@pytest.mark.parametrize(
    ("expression", "offset", "severity", "message"),
    [
        ("format_number(data.total, \".2f\") == ''", 26, "error", "\".2f\" in format_number() is a field name in "
         "JMESPath, not text; write the text in single quotes: '.2f'"),
        ("format_time(time, \"%Y\", \"Europe/Berlin\") == ''", 18, "error", "\"%Y\" in format_time() is a field "
         "name in JMESPath, not text; write the text in single quotes: '%Y'"),
        ("format_time(time, \"%Y\", \"Europe/Berlin\") == ''", 24, "error", "\"Europe/Berlin\" in format_time() is a "
         "field name in JMESPath, not text; write the text in single quotes: 'Europe/Berlin'"),
        ("default(data.note, \"it's none\") == ''", 19, "error", "\"it's none\" in default() is a field name in "
         "JMESPath, not text; write the text in single quotes: 'it\\'s none'"),
        # A name a CloudEvent's extension attribute could have: a warning, as for other unknown fields.
        ("contains(data.tags, \"urgent\")", 20, "warning", "\"urgent\" in contains() is a field name in JMESPath, "
         "not text (null unless the event is a CloudEvent carrying an attribute named urgent); write the text in "
         "single quotes: 'urgent'"),
    ],
)  # fmt: skip
def test_a_double_quoted_argument_is_named_as_a_field(
    tmp_path: Path, expression: str, offset: int, severity: str, message: str
) -> None:
    found = filter_problems(tmp_path, expression)
    assert (FILTER_COLUMN + offset, severity, message) in found, found
    assert not any("always null" in text or "did you mean" in text for _, _, text in found), found


def test_a_double_quoted_argument_in_a_template(tmp_path: Path) -> None:
    assert payload_problems(tmp_path, '{{ format_number(data.total, ",.2f") }}') == [
        (
            7,
            "error",
            'in {{ format_number(data.total, ",.2f") }}: ",.2f" in format_number() is a field name in JMESPath, '
            "not text; write the text in single quotes: ',.2f'",
        )
    ]


def test_a_double_quoted_argument_in_a_batch_payload(tmp_path: Path) -> None:
    text = (
        HOOK
        + '    batch:\n      max_events: 10\n      payload: {n: "{{ lower(\\"abc\\") }} {{ to_json(\\"count\\") }}"}\n'
    )
    found = problems(tmp_path, text)
    # "count" is a field a batch has; "abc" is not, and a batch carries no CloudEvent attributes.
    assert [(line, severity, message) for line, _, severity, message in found] == [
        (8, "error", 'in {{ lower("abc") }}: "abc" in lower() is a field name in JMESPath, not text; write the '
         "text in single quotes: 'abc'")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "template",
    [
        "{{ format_time(\"time\", '%Y') }}",  # the event's own field, quoted: a field is what is meant
        '{{ data.items[].lower("name") }}',  # a field of each item, not of the event
        '{{ lower("data".status) }}',  # a quoted name that starts a path
    ],
)
def test_double_quoted_fields_that_exist_are_no_problem(tmp_path: Path, template: str) -> None:
    assert payload_problems(tmp_path, template) == []


# A filter written as a {{ template }}


def test_a_filter_in_braces_says_to_drop_them(tmp_path: Path) -> None:
    assert filter_problems(tmp_path, "{{ data.total > `100` }}") == [
        (
            FILTER_COLUMN - 1,
            "error",
            "'{{ data.total > `100` }}' is written as a template, but filter is a JMESPath expression: write the "
            "JMESPath expression without {{ }}: data.total > `100`",
        )
    ]


def test_a_filter_in_braces_quotes_the_file_not_the_variable(tmp_path: Path) -> None:
    text = HOOK + '    filter: "{{ ${HOOK_FILTER} }}"\n'
    found = problems(tmp_path, text, env={"HOOK_FILTER": "data.token == 's3cr3t'"})
    assert [(line, severity) for line, _, severity, _ in found] == [(6, "error")], found
    message = found[0][3]
    assert "write the JMESPath expression without {{ }}: ${HOOK_FILTER}" in message
    assert "s3cr3t" not in message


def test_a_quoted_field_of_an_item_does_not_hide_the_same_name_misread_from_the_event(tmp_path: Path) -> None:
    # "name" is each item's field (no problem); the bare name after it is read from the event.
    found = filter_problems(tmp_path, 'contains(data.items[].lower("name"), name)')
    assert [(severity, message.split(":")[0]) for _, severity, message in found] == [
        ("warning", "name is always null")
    ], found


# Literal arguments of a type the function refuses


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ truncate(data.log, '1900') }}", "truncate() takes a number as argument 2, but is given the text '1900'; "
         "write the number in backticks: `1900`"),
        ("{{ format_number(data.total, `2`) }}", "format_number() takes text as argument 2, but is given the number "
         "`2`; write the text in single quotes: '2'"),
        ("{{ format_time(time, '%Y', `true`) }}", "format_time() takes text or null as argument 3, but is given the "
         "boolean `true`"),
        ("{{ length(`5`) }}", "length() takes text, an array or an object as argument 1, but is given the number `5`"),
        ("{{ max(`[1, \"a\"]`) }}", "max() takes an array of numbers or one of texts as argument 1, but is given the "
         "array `[1, \"a\"]`"),
        ("{{ upper(`null`) }}", "upper() takes text as argument 1, but is given null"),
    ],
)  # fmt: skip
def test_a_literal_of_a_type_the_function_refuses_is_an_error(tmp_path: Path, template: str, message: str) -> None:
    assert payload_problems(tmp_path, template) == [(7, "error", f"in {template}: {message}")]
    expression = template.removeprefix("{{ ").removesuffix(" }}")
    assert "invalid type for value" in render_error(expression)  # what the event would meet


def test_literals_of_the_types_functions_take_are_no_problem(tmp_path: Path) -> None:
    template = (
        "{{ join(', ', `[\"a\", \"b\"]`) }} {{ not_null(`null`, `1`, 'x') }}"
        " {{ format_time(`1714566600`, '%H', `null`) }} {{ max(`[1, 2]`) }} {{ merge(`{}`, data) }}"
        " {{ contains('abc', 'b') }} {{ to_json(`[1]`) }}"
    )
    assert payload_problems(tmp_path, template) == []


@pytest.mark.parametrize(
    ("time", "zone", "said"),
    [
        ("9999-12-31T23:00:00Z", "Pacific/Kiritimati", "'9999-12-31T23:00:00Z' in Pacific/Kiritimati falls outside"),
        ("0001-01-01T00:00:00+01:00", None, "'0001-01-01T00:00:00+01:00' in UTC falls outside"),
    ],
)
def test_format_time_at_the_ends_of_the_years_says_so(time: str, zone: str | None, said: str) -> None:
    from hookd.template_functions import FunctionArgumentError, format_time

    with pytest.raises(FunctionArgumentError, match=re.escape(said)):
        format_time(time, "%Y", zone)


def test_format_time_refuses_a_huge_width() -> None:
    from hookd.template_functions import FunctionArgumentError, format_time

    with pytest.raises(FunctionArgumentError, match="a width is at most 64"):
        format_time("2026-01-01T00:00:00Z", "%-99999999Y")
    assert format_time("2026-01-01T00:00:00Z", "%10Y") == "0000002026"


def test_a_template_filter_pipe_is_named(tmp_path: Path) -> None:
    """`data.name|upper` reads a field named upper (null on every event); `| format_number('.2f')` leaves
    the value out of the call. Both read as Jinja filters, and validate says what | is."""
    from tests.test_h20_guard_validate import validate

    text = (
        "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: http://127.0.0.1:9/x\n"
        "    payload: {b: '{{ data.name|upper }}', c: \"{{ data.total | format_number('.2f') }}\"}\n"
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert any(f"{path}:6:" in x and "| upper reads a field named upper (null here)" in x for x in lines), lines
    assert any("| is JMESPath's pipe, not a template filter, so the value before it is not an argument" in x
               for x in lines), lines  # fmt: skip
