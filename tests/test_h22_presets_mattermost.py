"""The mattermost preset: the incoming webhook's parameters, and its answers (200 `ok`; errors as JSON
whose `id` names the error)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookd.presets import PRESETS, PresetError
from tests.h22_presets_receiver import Answers, answering

MATTERMOST = PRESETS["mattermost"]
EVENT: dict[str, object] = {"id": "e1", "type": "t", "time": "2026-01-31T12:00:00Z", "source": "s", "data": {}}
# The incoming webhook's parameters.
WEBHOOK_PARAMS = {"text", "channel", "username", "icon_url", "icon_emoji", "attachments", "type", "props"}


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def test_the_message_is_text() -> None:
    assert MATTERMOST.body("#### Build passed", {}, EVENT) == {"text": "#### Build passed"}


def test_every_option_is_a_webhook_parameter() -> None:
    options: dict[str, object] = {
        "channel": "town-square",
        "username": "ci-bot",
        "icon_url": "https://ci.example/logo.png",
        "icon_emoji": ":white_check_mark:",
        "attachments": [{"fallback": "Build passed", "color": "#2eb886", "text": "web 1.4.2"}],
        "props": {"run": 7},
    }
    body = MATTERMOST.body("Build passed", options, EVENT)
    assert body == {"text": "Build passed", **options}
    assert isinstance(body, dict) and set(body) <= WEBHOOK_PARAMS


def test_props_may_not_set_what_mattermost_reserves() -> None:
    with pytest.raises(PresetError, match="may not set from_webhook, override_username"):
        MATTERMOST.body("m", {"props": {"override_username": "x", "from_webhook": "true"}}, EVENT)


def test_an_empty_message_without_attachments_is_refused() -> None:
    with pytest.raises(PresetError, match="No text specified"):
        MATTERMOST.body("", {}, EVENT)


async def test_200_ok_is_delivered(answer: Answers) -> None:
    assert MATTERMOST.classify(await answer(200, "ok", {"Content-Type": "text/plain"})).ok


async def test_an_error_shows_its_id_and_message(answer: Answers) -> None:
    body = (
        '{"id":"web.incoming_webhook.text.app_error","message":"No text specified.","detailed_error":"",'
        '"request_id":"4t9qk1","status_code":400}'
    )
    outcome = MATTERMOST.classify(await answer(400, body))
    assert not outcome.ok and not outcome.retryable
    assert outcome.error == "Mattermost answered 400 web.incoming_webhook.text.app_error (No text specified.)"


async def test_an_unknown_hook_is_final(answer: Answers) -> None:
    body = '{"id":"web.incoming_webhook.invalid.app_error","message":"Invalid webhook.","status_code":400}'
    outcome = MATTERMOST.classify(await answer(400, body))
    assert not outcome.retryable and "invalid.app_error" in outcome.error


async def test_a_503_is_retried(answer: Answers) -> None:
    outcome = MATTERMOST.classify(await answer(503, "Service Unavailable", {"Retry-After": "5"}))
    assert outcome.retryable and outcome.retry_after_s == 5.0
