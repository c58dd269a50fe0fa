"""validate tries each preset hook's body with what the config writes out (issue 22): what the service
would refuse whatever the event is an error at the key's file:line, said once, not a failed delivery
later. A templated option stands in as a value of its kind, so it is never the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_h20_guard_validate import validate

HOOK = "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: '${CHAT_URL}'\n    preset: %s\n    message: %s\n"


@pytest.fixture(autouse=True)
def chat_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_URL", "https://chat.example/hooks/abcdefghijkl")


@pytest.mark.parametrize(
    ("preset", "options", "line", "said"),
    [
        ("teams", "{link_title: Open order}", 8,
         "hooks[0] (name='h').preset_options.link_title: preset teams: preset_options.link_title is given without "
         "link_url: the button would lead nowhere; add link_url, or remove link_title"),
        ("discord", "{embeds: [{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}", 8,
         "hooks[0] (name='h').preset_options.embeds: preset discord: preset_options.embeds has 11 items; Discord takes "
         "at most 10"),
        ("mattermost", "{props: {from_webhook: 'true'}}", 8,
         "hooks[0] (name='h').preset_options.props: preset mattermost: preset_options.props may not set from_webhook"),
        ("slack", "{blocks: [" + ", ".join(["{type: divider}"] * 51) + "]}", 8,
         "hooks[0] (name='h').preset_options.blocks: preset slack: preset_options.blocks has 51 items; Slack takes at "
         "most 50"),
    ],
)  # fmt: skip
def test_what_the_service_would_refuse_is_an_error_at_the_option(
    tmp_path: Path, preset: str, options: str, line: int, said: str
) -> None:
    code, lines, path = validate(tmp_path, HOOK % (preset, "hi") + f"    preset_options: {options}\n")
    assert code == 1, lines
    errors = [x for x in lines if ": error: " in x]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{line}:") and said in errors[0], lines


def test_a_written_discord_message_over_2000_characters_is_an_error_at_the_message(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, HOOK % ("discord", "'" + "x" * 2001 + "'"))
    assert code == 1, lines
    [error] = [x for x in lines if ": error: " in x]
    assert error.startswith(f"{path}:7:")
    assert "hooks[0] (name='h').message: preset discord: the message is 2,001" in error
    assert "truncate()" in error


@pytest.mark.parametrize(
    ("preset", "message", "options"),
    [
        ("teams", "hi", "{link_title: Open order, link_url: '{{ data.url }}'}"),  # the url comes with the event
        ("discord", "hi", "{tts: '{{ data.loud }}', embeds: '{{ data.embeds }}'}"),  # any kind once rendered
        ("discord", "'{{ data.log }}'", "{username: shop}"),  # a templated message is known only once rendered
        ("mattermost", "' '", "{attachments: '{{ data.cards }}'}"),  # a blank text with attachments to come
        ("zapier", "hi", "{fields: {a: 1, b: {c: '{{ data.c }}'}}}"),
        ("ifttt", "hi", "{value2: [1, 2], value3: '{{ data.x }}'}"),
    ],
)
def test_what_only_the_event_can_decide_is_no_problem(tmp_path: Path, preset: str, message: str, options: str) -> None:
    code, lines, _ = validate(tmp_path, HOOK % (preset, message) + f"    preset_options: {options}\n")
    assert code == 0 and not any(": error: " in x for x in lines), lines


def test_an_option_of_the_wrong_kind_is_said_once(tmp_path: Path) -> None:
    """The schema says a wrong kind (its own sentence); the body trial takes it as one of the right kind
    and finds nothing more to say about it."""
    code, lines, path = validate(tmp_path, HOOK % ("discord", "hi") + "    preset_options: {tts: 'yes'}\n")
    assert code == 1
    errors = [x for x in lines if ": error: " in x]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:8:") and "tts: must be true or false" in errors[0], lines
