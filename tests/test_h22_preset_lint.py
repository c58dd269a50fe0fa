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
    said = "warning: hooks[0] (name='h').url: a Slack webhook url is its own credential"
    assert lines[0].startswith(f"{path}:3:") and said in lines[0] and '"${SLACK_WEBHOOK_URL}"' in lines[0], lines


def test_a_url_brought_in_by_a_reference_is_not_warned_about(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/tok")
    code, lines, _ = validate(tmp_path, HOOK % ('"${DISCORD_WEBHOOK_URL}"', "discord", ""))
    assert code == 0 and not any("credential" in line for line in lines), lines


def test_ifttt_says_message_is_value1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IFTTT_URL", "https://maker.ifttt.com/trigger/e/with/key/k")
    code, lines, _ = validate(tmp_path, HOOK % ('"${IFTTT_URL}"', "ifttt", ", preset_options: {value1: x}"))
    assert code == 1
    said = "preset ifttt has no option 'value1'; message is what goes out as value1, so write that text there"
    assert said in lines[0], lines


@pytest.mark.parametrize(
    ("url", "service", "variable"),
    [
        ("https://discord.com/api/webhooks/123/tokentokentoken", "a Discord", "DISCORD_WEBHOOK_URL"),
        ("https://hooks.slack.com/services/T0/B0/sEcReTtOkEn", "a Slack", "SLACK_WEBHOOK_URL"),
        ("https://prod-1.westus.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=sEcReTsIg",
         "a Teams Workflows", "TEAMS_WORKFLOW_URL"),
        ("https://maker.ifttt.com/trigger/e/with/key/sEcReTkEy", "an IFTTT", "IFTTT_WEBHOOK_URL"),
    ],
)  # fmt: skip
async def test_a_chat_webhook_url_without_a_preset_is_warned_about_and_hidden(
    tmp_path: Path, url: str, service: str, variable: str
) -> None:
    """A hook that shapes the service's body itself (no preset) has the same credential in its url."""
    from tests.cli_helpers import hookd

    text = f"version: 1\nhooks:\n  - {{name: h, events: ['*'], url: '{url}', payload: {{text: hi}}}}\n"
    code, lines, _ = validate(tmp_path, text)
    assert code == 0 and f"url: {service} webhook url is its own credential" in lines[0], lines
    assert f'"${{{variable}}}"' in lines[0] and "sEcReT" not in "\n".join(lines)
    (tmp_path / "e.jsonl").write_text('{"type": "t", "data": {}}\n', encoding="utf-8")
    shown = await hookd("test", "-c", str(tmp_path / "hookd.yaml"), str(tmp_path / "e.jsonl"))
    assert shown.exit_code == 0 and "sEcReT" not in shown.output and "tokentoken" not in shown.output, shown.output
