"""Chat hooks and what an event or a config can leak (issue 22). Mattermost notifies whoever a message
mentions and has no escaping: a mention in event data gets a zero-width space, so it notifies no one,
while the config's own mentions work. A chat webhook URL written in the config holds its token in the
path: `hookd test`, validate and history show it as its origin and ***."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hookd.presets.mattermost import escape
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, db_rows, event_line, running_daemon, send_lines, wait_db
from tests.test_h22_fixpresets_escape import sent
from tests.test_serve import basic_config

ZWSP = "\u200b"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("@channel line 3 down", f"@{ZWSP}channel line 3 down"),
        ("ping @all and @here", f"ping @{ZWSP}all and @{ZWSP}here"),
        ("(@ann)", f"(@{ZWSP}ann)"),
        ("x @@here", f"x @{ZWSP}@{ZWSP}here"),
        ("a_@here", f"a_@{ZWSP}here"),
        ("<!channel> via Slack's syntax", f"<{ZWSP}!channel> via Slack's syntax"),
        ("ann@shop.example", "ann@shop.example"),  # an address is not a mention: left as it is
        ("no mention", "no mention"),
    ],
)
def test_a_mention_in_a_value_gets_a_zero_width_space(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_mattermost_event_data_notifies_no_one_and_the_configs_mention_does() -> None:
    body = sent("mattermost", "@oncall {{ data.note }} ({{ data.tags[0] }})", {"username": "{{ data.note }}"})
    assert body["text"].startswith("@oncall ")  # written in the config: notifies as meant
    assert f"<{ZWSP}!channel>" in body["text"] and f"<{ZWSP}!everyone>" in body["text"]
    assert "<!channel>" not in body["text"] and "<!everyone>" not in body["text"]
    assert body["username"].startswith(f"<{ZWSP}!channel>")


SLACK_TOKEN = "sEcReTtOkEn0123456789ab"
LITERAL = f"""\
version: 1
hooks:
  - name: chat
    events: ['*']
    url: https://hooks.slack.com/services/T0000/B0000/{SLACK_TOKEN}
    preset: slack
    message: 'order {{{{ data.id }}}}'
"""


async def test_hookd_test_shows_a_literal_chat_url_as_its_origin(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(LITERAL, encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "e1", "type": "order.paid", "data": {"id": 7}}\n', encoding="utf-8")
    shown = await hookd("test", "-c", str(cfg), str(events))
    assert shown.exit_code == 0, shown.output
    assert "POST https://hooks.slack.com/***" in plain(shown.output)
    as_json = await hookd("test", "-c", str(cfg), "--json", str(events))
    assert as_json.exit_code == 0, as_json.output
    for output in (shown.output, as_json.output):
        assert SLACK_TOKEN not in output and "T0000/B0000" not in output
    checked = await hookd("validate", "-c", str(cfg))
    assert "its own credential" in checked.output and SLACK_TOKEN not in checked.output


async def test_history_keeps_a_literal_chat_urls_path_hidden(short_dir: Path, receiver: Receiver) -> None:
    """A preset hook whose url (a receiver standing in for the chat service) is written out: the attempt's
    recorded URL, and history's view of it, show the origin and *** only."""
    path = f"/services/T0000/B0000/{SLACK_TOKEN}"
    hooks = f'  - {{name: chat, events: ["*"], url: "{receiver.url(path)}", preset: mattermost, message: hi}}'
    cfg = basic_config(short_dir, receiver, hooks)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        acks = await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        assert acks[0]["ok"]
        await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
    assert len(receiver.at(path)) == 1  # sent to the real URL
    [(request,)] = db_rows(db, "SELECT request FROM attempts")
    assert json.loads(request)["url"] == receiver.url("/***")
    shown = await hookd("history", "-c", str(cfg), "show", "e1")
    assert SLACK_TOKEN not in shown.output and "/***" in shown.output, shown.output


def _rendered(preset: str, message: str, data: dict[str, object]) -> dict[str, object]:
    body = sent(preset, message, event={"id": "e1", "type": "t", "data": data})
    assert isinstance(body, dict)
    return body


def test_two_values_cannot_make_a_mattermost_channel_mention_between_them() -> None:
    """A `<` ending one value and `!channel>` starting the next made <!channel>, which Mattermost reads as
    @channel: each half is escaped on its own side."""
    text = _rendered("mattermost", "{{ data.a }}{{ data.b }} assigned", {"a": "<", "b": "!channel>"})["text"]
    assert isinstance(text, str) and "<!" not in text and text.replace(ZWSP, "") == "<!channel> assigned"


def test_a_url_value_goes_to_slack_as_it_is() -> None:
    """A value that is one URL can make no markup: its query's & stays as written (a block's image_url)."""
    url = "https://cdn.example/img.png?w=100&h=50"
    assert _rendered("slack", "{{ data.url }}", {"url": url})["text"] == url
    assert _rendered("slack", "see {{ data.url }}", {"url": url})["text"] == f"see {url}"
    assert _rendered("slack", "{{ data.t }}", {"t": f"see {url}"})["text"] == f"see {url.replace('&', '&amp;')}"


@pytest.mark.parametrize(
    ("preset", "message", "warned"),
    [
        ("slack", "'<{{ data.url }}|details>'", True),
        ("slack", "'<@{{ data.user }}> paid'", True),
        ("slack", "'<https://shop.example/o/{{ data.id }}|Order {{ data.id }}>'", False),
        ("mattermost", "'assigned to @{{ data.user }}'", True),
        ("mattermost", "'mail {{ data.user }}@shop.example'", False),
        ("mattermost", "'@oncall: {{ data.note }}'", False),
    ],
)
def test_markup_written_right_before_a_value_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset: str, message: str, warned: bool
) -> None:
    from tests.test_h20_guard_validate import validate

    monkeypatch.setenv("CHAT_URL", "https://chat.example/hooks/abcdefghijkl")
    hook = f"{{name: h, events: ['*'], url: '${{CHAT_URL}}', preset: {preset}, message: {message}}}"
    text = f"version: 1\nhooks:\n  - {hook}\n"
    code, lines, _ = validate(tmp_path, text)
    assert code == 0, lines
    said = [line for line in lines if "warning:" in line and ("mention" in line)]
    assert bool(said) == warned, lines
