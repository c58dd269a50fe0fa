"""validate on preset hooks (issue 22, new user's and attacker's findings): a chat webhook URL written in
the config is its credential (a warning saying to bring it in by ${VAR}); one brought in is not warned
about; IFTTT's value1 is the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_h20_guard_validate import validate

HOOK = "version: 1\nhooks:\n  - {name: h, events: ['*'], url: %s, preset: %s, message: hi%s}\n"


def test_a_literal_chat_webhook_url_is_a_warning_saying_to_bring_it_in(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, HOOK % ("'https://hooks.slack.com/services/T0/B0/sEcReTtOkEn'", "slack", ""))
    assert code == 0, lines
    said = "warning: hooks[0] (name='h').url: the url of a slack webhook is its credential"
    assert lines[0].startswith(f"{path}:3:") and said in lines[0] and '"${SLACK_WEBHOOK_URL}"' in lines[0], lines


def test_a_url_brought_in_by_a_reference_is_not_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/tok")
    code, lines, _ = validate(tmp_path, HOOK % ('"${DISCORD_WEBHOOK_URL}"', "discord", ""))
    assert code == 0 and not any("credential" in line for line in lines), lines


def test_ifttt_says_message_is_value1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IFTTT_URL", "https://maker.ifttt.com/trigger/e/with/key/k")
    code, lines, _ = validate(tmp_path, HOOK % ('"${IFTTT_URL}"', "ifttt", ", preset_options: {value1: x}"))
    assert code == 1
    assert "preset ifttt has no option 'value1'; message is sent as value1 (write it there)" in lines[0], lines
