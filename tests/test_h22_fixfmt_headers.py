"""A header value holding half of a UTF-16 surrogate pair (issue 22 review): it has no UTF-8 form, so
it can be neither sent nor recorded; rendering refuses it as a render error naming the header, as it
refuses a CR or LF, where it used to pass and be sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.config.model import HookConfig
from hookd.events import event_from_object
from hookd.rendering import RequestRenderError, check_headers, render_request
from hookd.router import compile_hook
from tests.cli_helpers import hookd, plain

# A JSON literal in the template is the one way to make the character: events cannot hold it and
# from_json refuses it.
SURROGATE = '{{ data.note }} {{ `"\\udfff"` }}'


@pytest.mark.parametrize(
    ("value", "code", "at"), [("\ud800", "D800", 0), ("ok \udfff", "DFFF", 3), ("\ud83d", "D83D", 0)]
)
def test_check_headers_refuses_half_a_surrogate_pair(value: str, code: str, at: int) -> None:
    with pytest.raises(RequestRenderError) as caught:
        check_headers({"Content-Type": "application/json", "X-Note": value})
    assert str(caught.value) == (
        f"headers.X-Note: the value holds U+{code} at position {at}, half of a UTF-16 surrogate pair, which UTF-8 "
        "cannot carry; make the template leave it out"
    )


def test_a_whole_pair_is_one_character_and_is_sent() -> None:
    check_headers({"X-Note": "\U0001f600 é 中"})


def test_a_templated_header_with_one_is_a_render_error() -> None:
    config = HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", headers={"X-Note": SURROGATE})
    event = event_from_object({"id": "e1", "type": "t", "data": {"note": "hi"}})
    with pytest.raises(RequestRenderError) as caught:
        render_request(compile_hook(config), "dlv-1", event.id, 1, event.body, 0.0)
    message = str(caught.value)
    message.encode("utf-8")  # recorded as the delivery's error: nothing in it that cannot be stored
    assert message.startswith("headers.X-Note: the value holds U+DFFF at position 3, half of a UTF-16 surrogate pair")


async def test_hookd_test_shows_the_render_error(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: 'http://127.0.0.1:9/'\n"
        f"    headers: {{X-Note: '{SURROGATE}'}}\n",
        encoding="utf-8",
    )
    result = await hookd("test", "-c", str(path), "--type", "x", "--data", '{"note": "hi"}')
    out = plain(result.output).replace("\n    ", " ")
    assert result.exit_code == 1, out
    assert "cannot render the request: headers.X-Note: the value holds U+DFFF at position 3" in out
    assert "Traceback" not in out
