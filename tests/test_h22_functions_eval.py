"""hookd's template functions, evaluated as every filter and template is (hookd.expressions.evaluate):
the documented examples, the choices the README states (default on null only, to_json's key order,
rounding half away from zero, UTC by default), bad arguments as evaluation errors with a sentence, and
properties against Python's own formatting and urllib."""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.expressions import EvaluationError, compile_expression, evaluate

EVENT = {
    "id": "e1",
    "type": "order.paid",
    "time": "2024-12-31T23:30:00Z",
    "source": "shop",
    "data": {
        "total": 1234.5,
        "ratio": 0.125,
        "count": 3,
        "status": "Paid",
        "note": None,
        "empty": "",
        "items": [{"sku": "A-1", "qty": 2}],
        "meta": '{"vip": true, "tier": 2}',
        "q": "a b&c/d",
        "created": 1714566600,
    },
}


def run(expression: str, subject: object = EVENT) -> object:
    return evaluate(compile_expression(expression), subject)


def fails(expression: str, subject: object = EVENT) -> str:
    with pytest.raises(EvaluationError) as raised:
        run(expression, subject)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("format_number(data.total, '0.2f')", "1234.50"),
        ("format_number(data.total, ',.2f')", "1,234.50"),
        ("format_number(data.total, '_.1f')", "1_234.5"),
        ("format_number(data.ratio, '.0%')", "13%"),
        ("format_number(data.ratio, '.1%')", "12.5%"),
        ("format_number(data.count, '03d')", "003"),
        ("format_number(`1234567.0`, ',d')", "1,234,567"),
        ("format_number(data.count, '+.1f')", "+3.0"),
        ("format_number(data.total, '')", "1234.5"),
        ("format_number(`2.5`, 'f')", "2.500000"),
        ("format_number(`2.675`, '.2f')", "2.68"),
        ("format_number(`-2.5`, '.0f')", "-3"),
        ("format_number(`1e22`, ',.0f')", "10,000,000,000,000,000,000,000"),
    ],
)
def test_format_number(expression: str, result: str) -> None:
    assert run(expression) == result


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("format_number(data.total, '>10')", "'>10' is not a number format hookd knows; use a Python format spec"),
        ("format_number(data.total, '.2')", "'.2' is not a number format"),
        ("format_number(data.total, '.2e')", "'.2e' is not a number format"),
        ("format_number(data.total, '100.2f')", "'100.2f' is not a number format"),
        ("format_number(data.total, 'd')", "1234.5 is not a whole number, which 'd' needs; use '.0f'"),
        ("format_number(data.count, '.2d')", "gives a precision to 'd'"),
        ("format_number(to_number('1e999'), '.2f')", "cannot format inf, which is not a finite number"),
        ("format_number(data.status, '.2f')", "In function format_number(), invalid type for value: Paid"),
        ("format_number(data.missing, '.2f')", 'received: "null"'),
        ("format_number(data.total)", "Expected 2 arguments for function format_number(), received 1"),
    ],
)
def test_format_number_refuses(expression: str, fragment: str) -> None:
    assert fragment in fails(expression)


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("format_time(time, '%Y-%m-%d %H:%M')", "2024-12-31 23:30"),
        ("format_time(time, '%d.%m.%Y %H:%M %Z', 'Europe/Berlin')", "01.01.2025 00:30 CET"),
        ("format_time(time, '%H:%M', 'America/New_York')", "18:30"),
        ("format_time(time, '%H:%M %Z', null)", "23:30 UTC"),
        ("format_time(data.created, '%Y-%m-%dT%H:%M:%S%z')", "2024-05-01T12:30:00+0000"),
        ("format_time(`1714566600.5`, '%S.%f')", "00.500000"),
        ("format_time('2024-05-01T12:30:00+02:00', '%H:%M')", "10:30"),
        ("format_time('2024-05-01t12:30:00.250z', '%H:%M:%S.%f')", "12:30:00.250000"),
        ("format_time('2024-05-01 12:30:00', '%H:%M %Z')", "12:30 UTC"),
    ],
)
def test_format_time(expression: str, result: str) -> None:
    assert run(expression) == result


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("format_time('yesterday', '%Y')", "'yesterday' is not an RFC 3339 date-time like '2024-05-01T12:30:00Z'"),
        ("format_time(`1e300`, '%Y')", "1e+300 Unix seconds is outside the years a time can have"),
        ("format_time(time, '%Y', 'Europe/Berln')", "'Europe/Berln' is not a time zone; did you mean 'Europe/Berlin'?"),
        ("format_time(time, '%Y', '../../etc/passwd')", "is not a time zone; use an IANA name like 'Europe/Berlin'"),
        ("format_time(time, '%Y', `1`)", "In function format_time(), invalid type for value: 1"),
        ("format_time(`true`, '%Y')", "In function format_time(), invalid type for value: True"),
        ("format_time(time)", "format_time() takes 2 or 3 arguments, but is given 1"),
        ("format_time(time, '%Y', 'UTC', 'x')", "format_time() takes 2 or 3 arguments, but is given 4"),
    ],
)
def test_format_time_refuses(expression: str, fragment: str) -> None:
    assert fragment in fails(expression)


def test_case_and_default() -> None:
    assert run("lower(data.status)") == "paid"
    assert run("upper(data.status)") == "PAID"
    assert run("default(data.note, 'none')") == "none"
    assert run("default(data.missing, `0`)") == 0
    # Null only, like a JSON default: an empty string, zero or false is a value the event chose.
    assert run("default(data.empty, 'none')") == ""
    assert run("default(`false`, `true`)") is False
    assert run("default(data.count, `0`)") == 3
    assert "In function lower(), invalid type for value: None" in fails("lower(data.note)")


def test_json_text_both_ways() -> None:
    assert run("to_json(data.items)") == '[{"sku":"A-1","qty":2}]'
    # Keys in the event's order, compact, non-ASCII as itself; a string becomes a JSON string.
    assert run("to_json({b: `1`, a: 'é'})") == '{"b":1,"a":"é"}'
    assert run("to_json(data.status)") == '"Paid"'
    assert run("to_json(data.note)") == "null"
    assert run("from_json(data.meta).tier") == 2
    assert run("from_json(to_json(data))") == EVENT["data"]
    assert fails("from_json('{')") == (
        "from_json(): the text is not JSON: Expecting property name enclosed in double quotes at character 2"
    )
    assert fails("from_json('NaN')") == "from_json(): the text is not JSON: NaN is not a JSON value"
    assert fails("from_json(data.deep)", {"data": {"deep": "[" * 100_000}}).startswith(
        "from_json(): the text is nested more than 64 levels deep"
    )


def test_url_encode() -> None:
    assert run("url_encode(data.q)") == "a%20b%26c%2Fd"
    assert run("url_encode('ü ~._-')") == "%C3%BC%20~._-"
    assert run("url_encode(data.count)") == "3"
    assert "In function url_encode(), invalid type" in fails("url_encode(data.items)")


def test_built_in_functions_are_still_there() -> None:
    assert run("length(data.items)") == 1
    assert run("join(', ', [upper(data.status), lower(data.status)])") == "PAID, paid"


def test_a_filter_with_a_function_that_fails_is_an_evaluation_error() -> None:
    # The router's path: evaluate raises EvaluationError (and nothing else), the delivery records why.
    message = fails("format_number(data.status, '.2f') == '1'")
    assert message.startswith("In function format_number()")


finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)


@given(number=finite, precision=st.integers(min_value=0, max_value=6), grouping=st.sampled_from(["", ","]))
def test_format_number_is_the_number_rounded(number: float, precision: int, grouping: str) -> None:
    text = run(f"format_number(`{json.dumps(number)}`, '{grouping}.{precision}f')")
    assert isinstance(text, str)
    written = Decimal(repr(number))
    shown = Decimal(text.replace(",", ""))
    # Half away from zero on the number as written: at most half a unit of the last place away.
    assert abs(shown - written) <= Decimal(1).scaleb(-precision) / 2
    # Python formats the float's binary value, which differs from the decimal the event wrote only in a
    # tie (2.675 is 2.67499999...) or past float's 15 to 17 significant digits: elsewhere, the same text.
    if abs(shown - written) != Decimal(1).scaleb(-precision) / 2 and abs(number) < 1e9:
        assert text == format(number, f"{grouping}.{precision}f")


@given(number=st.integers(min_value=-(10**30), max_value=10**30))
def test_format_number_d_matches_python(number: int) -> None:
    assert run(f"format_number(`{number}`, ',d')") == format(number, ",d")


@given(number=finite)
def test_format_number_percent_is_a_hundred_times(number: float) -> None:
    text = run(f"format_number(`{json.dumps(number)}`, '.2%')")
    assert isinstance(text, str) and text.endswith("%")
    assert math.isclose(float(text[:-1]), number * 100, rel_tol=1e-9, abs_tol=0.005 + 1e-9)


@given(text=st.text())
def test_url_encode_is_urllib_quote_of_everything_but_unreserved(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate is no event text: JSON events are valid Unicode
    encoded = run("url_encode(@)", text)
    assert encoded == urllib.parse.quote(text, safe="")
    assert isinstance(encoded, str) and urllib.parse.unquote(encoded) == text
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=json_values)
def test_from_json_inverts_to_json(value: object) -> None:
    text = run("to_json(@)", value)
    assert isinstance(text, str) and "\n" not in text
    assert run("from_json(@)", text) == value


def test_the_readme_table_examples_give_their_results() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Template functions") : readme.index("## CLI reference")]
    example = re.search(r"the event\s+`(\{.*?\})`\.", section, re.S)
    assert example is not None
    event = json.loads(example.group(1).replace("\n", " "))
    rows = re.findall(r"^\| (?:`\w+`)? *\|[^|]*\| (``?)(.+?)\1 \| `(.+)` \|$", section, re.M)
    assert len(rows) >= 13
    for _, expression, result in rows:
        assert run(expression, event) == json.loads(result), expression
