"""The slack preset: the body Slack's incoming webhooks document, and Slack's plain-text answers read
as Slack means them (200 `ok` only is a success; 404/410 codes are final; 429 waits Retry-After)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookd.presets import PRESETS, PresetError
from tests.h22_presets_receiver import Answers, answering

SLACK = PRESETS["slack"]
EVENT: dict[str, object] = {
    "id": "e1",
    "type": "order.paid",
    "time": "2026-01-31T12:00:00Z",
    "source": "shop",
    "data": {},
}
# What an app's incoming webhook reads (channel, username and icon come from the app and cannot be set).
WEBHOOK_FIELDS = {"text", "blocks", "attachments", "thread_ts", "mrkdwn", "unfurl_links", "unfurl_media"}
BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Order paid"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Order 1001* paid: 42.50 EUR"}},
]


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def test_the_message_is_text() -> None:
    assert SLACK.body("Order 1001 paid", {}, EVENT) == {"text": "Order 1001 paid"}


def test_blocks_and_the_message_fields_are_sent_with_text_as_the_fallback() -> None:
    options: dict[str, object] = {
        "blocks": BLOCKS,
        "thread_ts": "1503435956.000247",
        "unfurl_links": False,
        "unfurl_media": False,
        "mrkdwn": True,
    }
    assert SLACK.body("Order 1001 paid", options, EVENT) == {
        "text": "Order 1001 paid",
        "blocks": BLOCKS,
        "thread_ts": "1503435956.000247",
        "unfurl_links": False,
        "unfurl_media": False,
        "mrkdwn": True,
    }


def test_every_option_is_a_field_an_incoming_webhook_reads() -> None:
    assert set(SLACK.options) | {"text"} == WEBHOOK_FIELDS
    options: dict[str, object] = {
        "blocks": BLOCKS,
        "attachments": [{"fallback": "Order paid", "color": "#36a64f", "text": "42.50 EUR"}],
        "thread_ts": "1503435956.000247",
        "unfurl_links": True,
        "unfurl_media": True,
        "mrkdwn": False,
    }
    body = SLACK.body("m", options, EVENT)
    assert isinstance(body, dict) and set(body) == WEBHOOK_FIELDS


def test_blocks_only_with_an_empty_message_is_allowed_but_nothing_at_all_is_refused() -> None:
    assert SLACK.body("", {"blocks": BLOCKS}, EVENT) == {"text": "", "blocks": BLOCKS}
    with pytest.raises(PresetError, match="missing_text_or_fallback_or_attachments"):
        SLACK.body("", {}, EVENT)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"blocks": {"type": "divider"}}, "blocks must be a list of objects, not an object"),
        ({"blocks": ["divider"]}, r"blocks\[0\] must be an object, not a string"),
        ({"blocks": [{"type": "divider"}] * 51}, "blocks has 51 items; Slack takes at most 50"),
        ({"thread_ts": 1503435956.000247}, "thread_ts must be a string, not a number"),
        ({"unfurl_links": "false"}, "unfurl_links must be true or false, not a string"),
    ],
)
def test_an_option_of_the_wrong_shape_fails_the_delivery(options: dict[str, object], says: str) -> None:
    with pytest.raises(PresetError, match=says):
        SLACK.body("m", options, EVENT)


async def test_200_ok_is_delivered(answer: Answers) -> None:
    outcome = SLACK.classify(await answer(200, "ok", {"Content-Type": "text/html"}))
    assert outcome.ok and outcome.error == ""


async def test_200_with_another_body_is_a_failure_in_slacks_words(answer: Answers) -> None:
    outcome = SLACK.classify(await answer(200, "invalid_blocks"))
    assert not outcome.ok and not outcome.retryable
    assert outcome.error == "Slack answered 200 invalid_blocks"


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (404, "channel_not_found", "no longer exists"),
        (410, "channel_is_archived", "archived"),
        (404, "no_service", "removed or its app uninstalled"),
        (403, "invalid_token", "no longer valid"),
        (400, "invalid_payload", "could not read"),
        (400, "missing_text_or_fallback_or_attachments", ""),
    ],
)
async def test_a_refusal_is_final_and_named(answer: Answers, status: int, code: str, hint: str) -> None:
    outcome = SLACK.classify(await answer(status, code))
    assert not outcome.ok and not outcome.retryable and outcome.retry_after_s is None
    assert outcome.error.startswith(f"Slack answered {status} {code}")
    assert hint in outcome.error


async def test_429_waits_what_retry_after_says(answer: Answers) -> None:
    outcome = SLACK.classify(await answer(429, '{"ok":false,"error":"rate_limited"}', {"Retry-After": "30"}))
    assert not outcome.ok and outcome.retryable
    assert outcome.retry_after_s == 30.0
    assert outcome.error.startswith("Slack answered 429")


async def test_500_rollup_error_is_retried(answer: Answers) -> None:
    outcome = SLACK.classify(await answer(500, "rollup_error"))
    assert outcome.retryable and outcome.error == "Slack answered 500 rollup_error"
