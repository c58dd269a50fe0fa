"""Slack's escaping of event data: each value a `{{ }}` puts into the message or an option has &, < and >
sent as &amp;, &lt; and &gt; (so an event cannot ping <!channel> or show a link under another
address's text), while the markup the config author wrote (<!here>, <https://x|y>) stays markup.
Rendered through hookd.rendering, as the daemon and `hookd test` send it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from hookd.config.model import HookConfig
from hookd.events import event_from_object
from hookd.presets import PRESETS
from hookd.presets.slack import escape
from hookd.rendering import render_request
from hookd.router import compile_hook
from hookd.templates import compile_template

HOSTILE_NOTE = "<!channel> <!everyone> refund at <https://evil.example|https://shop.example/refund> & more"
EVENT: dict[str, object] = {
    "id": "evt-1",
    "type": "order.paid",
    "time": "2026-05-31T12:00:00Z",
    "source": "shop",
    "data": {"id": 7, "note": HOSTILE_NOTE, "tags": ["<@U1>", "a&b"], "n": 3, "nested": {"x": "<b>"}},
}


def sent(
    preset: Any, message: str, options: Mapping[str, object] | None = None, event: Mapping[str, object] = EVENT
) -> Any:
    config = HookConfig(
        name="chat", events=("*",), url="http://127.0.0.1:9/h", preset=preset, message=message,
        preset_options=MappingProxyType(dict(options or {})),
    )  # fmt: skip
    e = event_from_object(dict(event))
    return orjson.loads(render_request(compile_hook(config), "dlv-1", e.id, 1, e.body, 1_780_000_000.0).body)


def test_slack_escape_is_the_three_entities_ampersand_first() -> None:
    assert escape("a & b < c > d &amp;") == "a &amp; b &lt; c &gt; d &amp;amp;"
    assert escape("plain text") == "plain text"


def test_the_attackers_note_shows_as_text_in_slack() -> None:
    """1. A slack hook: message "Order {{ data.id }}: {{ data.note }}", as in the finding.
    2. An event whose note holds <!channel>, <!everyone> and a disguised link.
    Result: the note's &, < and > are entities: no mention, no link; the literal text is as written."""
    body = sent("slack", "Order {{ data.id }}: {{ data.note }}")
    assert body["text"] == (
        "Order 7: &lt;!channel&gt; &lt;!everyone&gt; refund at "
        "&lt;https://evil.example|https://shop.example/refund&gt; &amp; more"
    )


def test_the_config_authors_markup_stays_markup() -> None:
    body = sent("slack", "<!here> order <https://shop.example/orders/{{ data.id }}|{{ data.id }}> & {{ data.note }}")
    assert body["text"].startswith("<!here> order <https://shop.example/orders/7|7> & &lt;!channel&gt;")


def test_a_lone_placeholder_is_escaped_whatever_its_type_as_text() -> None:
    assert sent("slack", "{{ data.note }}")["text"].startswith("&lt;!channel&gt;")
    assert sent("slack", "{{ data.tags }}")["text"] == '["&lt;@U1&gt;","a&amp;b"]'
    assert sent("slack", "{{ data.n }}")["text"] == "3"


def test_options_are_escaped_where_event_data_becomes_text() -> None:
    """A block's text from a lone placeholder and from a mixed string are escaped; the author's
    literal markup in a block is not; a number or boolean keeps its type."""
    options = {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "{{ data.note }}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "<!here> *{{ data.nested.x }}*"}},
        ],
        "unfurl_links": "{{ `false` }}",
    }
    body = sent("slack", "Order {{ data.id }}", options)
    assert body["blocks"][0]["text"]["text"].startswith("&lt;!channel&gt; &lt;!everyone&gt;")
    assert body["blocks"][1]["text"]["text"] == "<!here> *&lt;b&gt;*"
    assert body["unfurl_links"] is False


def test_an_object_taken_whole_from_the_event_keeps_its_shape() -> None:
    """A lone placeholder giving an object or list is not text yet: it is sent as the event holds it
    (the README says so: such blocks are the event's own markup)."""
    options = {"attachments": "{{ [data.nested] }}"}
    assert sent("slack", "m", options)["attachments"] == [{"x": "<b>"}]


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {"slack", "mattermost"}))
def test_no_other_preset_escapes(preset: str) -> None:
    """Discord stops pings with allowed_mentions instead; Teams, Zapier and IFTTT send event data as it
    is (the README says what that exposes). Mattermost's own escaping: tests/test_h22_chat_safety.py."""
    assert PRESETS[preset].escape_value is None
    body = sent(preset, "Note: {{ data.note }}", {"title": "t"} if preset == "teams" else None)
    assert HOSTILE_NOTE in orjson.dumps(body).decode()


def test_a_template_without_escape_renders_as_before() -> None:
    template = compile_template("a < {{ data.note }}")
    assert template.render_text(EVENT) == f"a < {HOSTILE_NOTE}"
    assert template.render_text(EVENT, escape) == f"a < {escape(HOSTILE_NOTE)}"
    assert compile_template("<!here>").render_text(EVENT, escape) == "<!here>"
    assert compile_template({"k": ["{{ data.nested.x }}", 1]}).render(EVENT, escape) == {"k": ["&lt;b&gt;", 1]}
