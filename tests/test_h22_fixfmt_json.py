"""from_json reads JSON text by the rules intake reads events by (issue 22 review): a number that
overflows a double (1e400) is refused naming it, where it was read as infinity and sent as null; so
are nesting past hookd's limit and half of a surrogate pair, which no event can hold either."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd import jsonvalue
from hookd.config.model import HookConfig
from hookd.events import event_from_object
from hookd.expressions import EvaluationError, compile_expression, evaluate
from hookd.rendering import RequestRenderError, render_request
from hookd.router import compile_hook

OVERFLOW = (
    "which overflows a 64-bit float (the largest is about 1.8e308); send it as a string, or as an integer without an "
    "exponent"
)


def from_json(text: str) -> object:
    return evaluate(compile_expression("from_json(@)"), text)


def refusal(text: str) -> str:
    with pytest.raises(EvaluationError) as raised:
        from_json(text)
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"amount": 1e400}', f"from_json(): in the text, amount is 1e400, {OVERFLOW}"),
        ("-1E+999", f"from_json(): in the text, the value is -1E+999, {OVERFLOW}"),
        ('[1, {"a b": [2.5e308]}]', f'from_json(): in the text, [1]["a b"][0] is 2.5e308, {OVERFLOW}'),
        ('"\\ud800"', "from_json(): the text is not JSON: a \\u escape is half of a UTF-16 surrogate pair"),
        ("[Infinity]", "from_json(): the text is not JSON: Infinity is not a JSON value"),
        ('{"a": 1} {"b": 2}', "from_json(): the text is not JSON: Extra data at character 10"),
        ("  ", "from_json(): the text is not JSON: Expecting value at character 3"),
        ("[" * 65 + "]" * 65, "from_json(): the text is nested more than 64 levels deep (arrays and objects, "
                              "counting the outermost), over hookd's nesting limit of 64; flatten the data or send its "
                              "deep part as a JSON string"),
    ],
)  # fmt: skip
def test_what_intake_refuses_from_json_refuses_with_a_sentence(text: str, message: str) -> None:
    assert refusal(text) == message


def test_what_intake_keeps_from_json_keeps() -> None:
    assert from_json(' {"n": 123456789012345678901234567890, "x": 1e-400, "y": 1.5e308}\n') == {
        "n": 123456789012345678901234567890, "x": 0.0, "y": 1.5e308,
    }  # fmt: skip
    assert from_json("[" * 64 + "]" * 64) is not None  # the nesting limit itself
    assert from_json('{"a": 1, "a": 2}') == {"a": 2}  # the last wins, as in event data below the top
    assert from_json('"\\ud83d\\ude00 \\u00e9"') == "😀 é"  # a whole surrogate pair is one character


def test_a_payload_over_an_overflowing_number_is_a_render_error_not_null() -> None:
    config = HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", payload={"x": "{{ from_json(data.s) }}"})
    event = event_from_object({"id": "e1", "type": "t", "data": {"s": '{"amount": 1e400}'}})
    with pytest.raises(RequestRenderError) as caught:
        render_request(compile_hook(config), "dlv-1", event.id, 1, event.body, 0.0)
    assert str(caught.value) == (
        f"payload.x: {{{{ from_json(data.s) }}}} could not be evaluated on this event: from_json(): in the text, "
        f"amount is 1e400, {OVERFLOW}"
    )


_NUMBERS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(-99, 99), st.integers(-500, 500)),
)
_TEXTS = st.recursive(
    _NUMBERS | st.sampled_from(["true", "null", '"a"', '"\\ud800"', '"\\ud83d\\ude00"']),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2).map(
            lambda d: "{" + ",".join(f'"{k}":{v}' for k, v in d.items()) + "}"
        )
    ),
    max_leaves=6,
)


@given(_TEXTS)
def test_from_json_takes_what_intake_takes_and_reads_it_the_same(text: str) -> None:
    try:
        intake = jsonvalue.loads(text)
    except jsonvalue.JsonValueError:
        with pytest.raises(EvaluationError):
            from_json(text)
        return
    value = from_json(text)
    assert value == intake and json.dumps(value) == json.dumps(intake)  # the same types: 1 and 1.0 apart
