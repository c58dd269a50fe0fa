"""`format: form` over values the encoding cannot carry (issue 22 review): a lone surrogate or a value
nested past what JSON writers take fails the delivery as a render error naming the field (never an
internal error), and `hookd test` shows it as the daemon records it. Events cannot hold either, nor can
from_json make them (it reads by intake's rules); a JSON literal in the template can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.body_formats import FormatError, form_body
from hookd.config.model import HookConfig
from hookd.events import event_from_object
from hookd.rendering import RequestRenderError, render_request
from hookd.router import compile_hook
from tests.cli_helpers import hookd, plain


def literal(json_text: str) -> str:
    """A template giving the value of `json_text`, read as a JMESPath JSON literal (Python's json)."""
    return f"{{{{ `{json_text}` }}}}"


def render_error(payload: dict[str, Any]) -> str:
    config = HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", format="form", payload=payload)
    event = event_from_object({"id": "e1", "type": "t", "time": "2026-05-31T12:00:00Z", "data": {}})
    with pytest.raises(RequestRenderError) as caught:
        render_request(compile_hook(config), "dlv-1", event.id, 1, event.body, 0.0)
    message = str(caught.value)
    message.encode("utf-8")  # the error is stored and shown: it holds no lone surrogate itself
    return message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # a lone surrogate as the field's text, and as an item of a repeated field
        ("s", '"\\ud800"', "payload: form field 's': the value holds U+D800, which UTF-8 cannot carry"),
        ("s", '["a", "\\udfff"]', "payload: form field 's': the value holds U+DFFF"),
        # inside an object sent as its JSON text, beside an integer only the exact writer takes
        (
            "s",
            '{"n": 100000000000000000000000000000, "t": "\\ud800"}',
            "payload: form field 's': the value holds U+D800, which UTF-8 cannot carry",
        ),
        ("s", '{"t": "\\ud800"}', "payload: form field 's': the value cannot be written as JSON"),
        # nested past the 254 levels JSON writers take
        ("deep", "[" * 300 + "]" * 300, "payload: form field 'deep': the value is nested more than 254 levels deep"),
    ],
)
def test_a_field_the_form_cannot_carry_is_a_render_error_naming_it(field: str, value: str, expected: str) -> None:
    assert render_error({"ok": "fine", field: literal(value)}).startswith(expected)


def test_a_field_name_the_form_cannot_carry_names_the_field() -> None:
    with pytest.raises(FormatError, match=r"^form field '\\ud800': the field's name holds U\+D800"):
        form_body({"\ud800": "x"})


_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_TEXT = st.text(st.one_of(st.characters(), _SURROGATES), max_size=4)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=8
)


@given(st.dictionaries(_TEXT, _VALUES, max_size=4))
def test_form_body_raises_nothing_but_format_error(value: dict[str, object]) -> None:
    try:
        body = form_body(value)
    except FormatError as e:
        assert str(e).startswith("form field ")
        str(e).encode("utf-8")
    else:
        assert body.isascii()


async def test_hookd_test_shows_the_field_as_the_render_error(tmp_path: Path) -> None:
    for value, reason in [
        ('"\\ud800"', "form field 's': the value holds U+D800, which UTF-8 cannot carry"),
        ("[" * 300 + "]" * 300, "form field 's': the value is nested more than 254 levels deep"),
    ]:
        path = tmp_path / "hookd.yaml"
        path.write_text(
            "version: 1\nhooks:\n  - name: f\n    events: ['*']\n    url: 'http://127.0.0.1:9/'\n    format: form\n"
            f"    payload: {{s: '{literal(value)}'}}\n",
            encoding="utf-8",
        )
        result = await hookd("test", "-c", str(path), "--type", "x", "--data", "{}")
        out = plain(result.output).replace("\n    ", " ")
        assert result.exit_code == 1, out
        assert f"cannot render the request: payload: {reason}" in out
        assert "Traceback" not in out and "internal error" not in out
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("fmt", ["json", "form", "cloudevents", "cloudevents_binary", "text"])
@pytest.mark.parametrize(
    "value", ['"\\ud800"', '{"n": 100000000000000000000000000000, "t": ["\\ud800"]}', "[" * 300 + "]" * 300]
)
def test_every_format_fails_such_a_value_as_a_render_error(fmt: str, value: str) -> None:
    """The other encodings had no such gap: each turns the value into a render error too."""
    payload: object = literal(value) if fmt == "text" else {"s": literal(value)}
    config = HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", format=fmt, payload=payload)
    event = event_from_object({"id": "e1", "type": "t", "time": "2026-05-31T12:00:00Z", "data": {}})
    with pytest.raises(RequestRenderError) as caught:
        render_request(compile_hook(config), "dlv-1", event.id, 1, event.body, 0.0)
    str(caught.value).encode("utf-8")
    assert str(caught.value).startswith("payload")
