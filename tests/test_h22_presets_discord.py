"""The discord preset: Execute Webhook's JSON params (content up to 2000 characters, at most 10 embeds,
no pings from event data unless asked), and Discord's answers: 204, a 429 whose JSON retry_after is
kept (or its X-RateLimit-Reset-After without one), a failure that spent the bucket retried after its
refill, a 404 that is never retried."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookd.presets import PRESETS, PresetError
from tests.h22_presets_receiver import Answers, answering

DISCORD = PRESETS["discord"]
EVENT: dict[str, object] = {"id": "e1", "type": "deploy", "time": "2026-01-31T12:00:00Z", "source": "ci", "data": {}}
# Execute Webhook's JSON params (the multipart-only ones left out).
EXECUTE_WEBHOOK_PARAMS = {
    "content", "username", "avatar_url", "tts", "embeds", "allowed_mentions", "components", "flags",
    "thread_name", "applied_tags", "poll",
}  # fmt: skip
EMBED = {
    "title": "Deploy finished",
    "description": "web 1.4.2 is live",
    "url": "https://ci.example/runs/7",
    "color": 5763719,
    "timestamp": "2026-01-31T12:00:00Z",
    "fields": [{"name": "Duration", "value": "3m 12s", "inline": True}],
}


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def test_the_message_is_content_and_nothing_in_it_pings() -> None:
    assert DISCORD.body("@everyone deploy done", {}, EVENT) == {
        "content": "@everyone deploy done",
        "allowed_mentions": {"parse": []},
    }


def test_every_option_is_an_execute_webhook_param() -> None:
    options: dict[str, object] = {
        "username": "CI",
        "avatar_url": "https://ci.example/logo.png",
        "tts": False,
        "embeds": [EMBED],
        "allowed_mentions": {"parse": ["users"]},
    }
    body = DISCORD.body("Deploy finished", options, EVENT)
    assert body == {
        "content": "Deploy finished",
        "username": "CI",
        "avatar_url": "https://ci.example/logo.png",
        "tts": False,
        "embeds": [EMBED],
        "allowed_mentions": {"parse": ["users"]},
    }
    assert isinstance(body, dict) and set(body) <= EXECUTE_WEBHOOK_PARAMS


def test_2000_characters_are_sent_and_2001_refused_saying_so() -> None:
    assert DISCORD.body("x" * 2000, {}, EVENT) == {"content": "x" * 2000, "allowed_mentions": {"parse": []}}
    with pytest.raises(PresetError, match="is 2,001 characters; Discord takes at most 2,000"):
        DISCORD.body("x" * 2001, {}, EVENT)


def test_ten_embeds_are_sent_and_eleven_refused() -> None:
    assert DISCORD.body("", {"embeds": [EMBED] * 10}, EVENT)
    with pytest.raises(PresetError, match="embeds has 11 items; Discord takes at most 10"):
        DISCORD.body("m", {"embeds": [EMBED] * 11}, EVENT)


def test_an_empty_message_without_embeds_is_refused() -> None:
    with pytest.raises(PresetError, match="Discord refuses an empty message"):
        DISCORD.body("  ", {}, EVENT)


async def test_204_is_delivered(answer: Answers) -> None:
    outcome = DISCORD.classify(await answer(204))
    assert outcome.ok and outcome.status == 204


async def test_a_429_keeps_the_json_retry_after(answer: Answers) -> None:
    """1. A receiver answers as Discord does: 429, a JSON body with retry_after 64.57, no Retry-After.
    2. The sender records the answer; classify reads it.
    Result: retryable, waiting 64.57 s, and the error names the limit."""
    body = '{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}'
    recorded = await answer(429, body, {"Content-Type": "application/json"})
    assert recorded.retry_after_s is None  # the sender reads headers only
    outcome = DISCORD.classify(recorded)
    assert not outcome.ok and outcome.retryable
    assert outcome.retry_after_s == 64.57
    assert outcome.error == "Discord answered 429 You are being rate limited. (rate limited: this webhook)"


@pytest.mark.parametrize(("header", "json_wait", "kept"), [("65", 64.57, 65.0), ("1", 2.5, 2.5)])
async def test_a_429_with_both_waits_keeps_the_longer(
    answer: Answers, header: str, json_wait: float, kept: float
) -> None:
    body = f'{{"message": "You are being rate limited.", "retry_after": {json_wait}, "global": true}}'
    outcome = DISCORD.classify(await answer(429, body, {"Retry-After": header, "X-RateLimit-Scope": "global"}))
    assert outcome.retryable and outcome.retry_after_s == kept
    assert "(rate limited: global)" in outcome.error


async def test_a_429_without_json_keeps_retry_after(answer: Answers) -> None:
    outcome = DISCORD.classify(await answer(429, "error code: 1015", {"Retry-After": "30"}))
    assert outcome.retryable and outcome.retry_after_s == 30.0
    assert outcome.error.startswith("Discord answered 429 error code: 1015")


async def test_a_429_without_retry_after_waits_for_the_bucket(answer: Answers) -> None:
    """A 429 whose body has no retry_after and that has no Retry-After: X-RateLimit-Reset-After says
    when the bucket refills."""
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "3.5"}
    outcome = DISCORD.classify(await answer(429, '{"message": "You are being rate limited."}', spent))
    assert outcome.retryable and outcome.kind == "rate_limited" and outcome.retry_after_s == 3.5


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "wait"),
    [
        # A 500 that spent the bucket: its retry waits for the refill, not into a 429.
        (500, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}, True, 2.5),
        # With a Retry-After too, the longer wait is kept.
        (503, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5", "Retry-After": "7"}, True, 7.0),
        (500, {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset-After": "2.5"}, True, None),
        # A final failure has no retry to delay, yet the hook's other deliveries wait for the refill.
        (400, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}, False, 2.5),
    ],
)
async def test_a_failure_reads_the_rate_limit_headers_too(
    answer: Answers, status: int, headers: dict[str, str], retryable: bool, wait: float | None
) -> None:
    outcome = DISCORD.classify(await answer(status, '{"message": "oops", "code": 0}', headers))
    assert (outcome.ok, outcome.retryable, outcome.retry_after_s) == (False, retryable, wait)
    assert outcome.holds_lane == (wait is not None and headers["X-RateLimit-Remaining"] == "0")
    assert outcome.error.startswith(f"Discord answered {status} oops (code 0)")


async def test_unknown_webhook_404_is_never_retried(answer: Answers) -> None:
    outcome = DISCORD.classify(await answer(404, '{"message": "Unknown Webhook", "code": 10015}'))
    assert not outcome.ok and not outcome.retryable and outcome.retry_after_s is None
    assert outcome.error.startswith("Discord answered 404 Unknown Webhook (code 10015): the webhook was deleted")


async def test_an_invalid_form_body_is_final_with_discords_message(answer: Answers) -> None:
    body = (
        '{"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", '
        '"message": "Must be 256 or fewer in length."}]}}}}, "message": "Invalid Form Body"}'
    )
    outcome = DISCORD.classify(await answer(400, body))
    assert not outcome.ok and not outcome.retryable
    assert outcome.error == (
        "Discord answered 400 Invalid Form Body (code 50035): embeds.0.title: Must be 256 or fewer in length."
    )


async def test_a_502_is_retried(answer: Answers) -> None:
    outcome = DISCORD.classify(await answer(502, "<html>Bad Gateway</html>"))
    assert outcome.retryable and outcome.error == "Discord answered 502 <html>Bad Gateway</html>"
