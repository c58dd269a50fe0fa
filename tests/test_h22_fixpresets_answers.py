"""A preset's classify never raises, whatever the receiver answers (a body nested thousands of levels
deep in under 4 KB, a retry_after too big for a float), and the outcome's kind says what classify decided.
Real answers from a loopback receiver, recorded by hookd's own sender."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookd.presets import PRESETS
from hookd.senders.http import RESPONSE_EXCERPT_BYTES
from tests.h22_presets_receiver import Answers, answering

# Deeper than Python's recursion limit and orjson's, in under the 4 KB excerpt the sender keeps.
DEEP_ARRAYS = '{"message": ' + "[" * 2000 + "]" * 2000 + "}"
# Within every parser's limits but far past hookd's nesting limit: Discord's error walker would recurse.
DEEP_ERRORS = '{"message": "x", "code": 50035, "errors": ' + '{"a":' * 600 + "{}" + "}" * 600 + "}"
HUGE_RETRY_AFTER = '{"message": "You are being rate limited.", "retry_after": ' + "9" * 400 + ', "global": false}'
HOSTILE = [DEEP_ARRAYS, DEEP_ERRORS, HUGE_RETRY_AFTER, '{"retry_after": 1e400}', '{"code": ' + "7" * 4000 + "}"]
JSON_READERS = ["discord", "ifttt", "mattermost", "zapier"]


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def test_the_hostile_bodies_fit_the_excerpt() -> None:
    assert all(len(body.encode()) <= RESPONSE_EXCERPT_BYTES for body in HOSTILE)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("status", [200, 400, 404, 429, 503])
async def test_classify_reads_a_hostile_body_without_raising(answer: Answers, name: str, status: int) -> None:
    """1. A receiver answers `status` with each hostile body in turn.
    2. The preset classifies the recorded outcome.
    Result: an outcome, never an exception; a failure keeps the status's retryability."""
    for body in HOSTILE:
        recorded = await answer(status, body, {"Content-Type": "application/json"})
        assert not recorded.response_truncated
        outcome = PRESETS[name].classify(recorded)
        assert outcome.status == status
        if status in (429, 503):
            assert outcome.retryable and not outcome.ok
        if status in (400, 404):
            assert not outcome.ok


@pytest.mark.parametrize("name", JSON_READERS)
async def test_a_body_nested_too_deep_is_read_as_text(answer: Answers, name: str) -> None:
    outcome = PRESETS[name].classify(await answer(400, DEEP_ARRAYS))
    assert not outcome.ok and not outcome.retryable
    assert ' answered 400 {"message": [[[[' in outcome.error  # the body's start, as text


async def test_discords_deep_field_errors_are_not_walked(answer: Answers) -> None:
    outcome = PRESETS["discord"].classify(await answer(400, DEEP_ERRORS))
    assert not outcome.ok and outcome.error.startswith('Discord answered 400 {"message": "x"')


async def test_a_retry_after_too_big_for_a_float_is_ignored(answer: Answers) -> None:
    """1. Discord-like 429 whose retry_after is a 400-digit integer, with a Retry-After of 30.
    2. classify reads it.
    Result: retryable, waiting the header's 30 s; the JSON wait is ignored as a NaN would be."""
    outcome = PRESETS["discord"].classify(await answer(429, HUGE_RETRY_AFTER, {"Retry-After": "30"}))
    assert outcome.retryable and outcome.retry_after_s == 30.0
    assert outcome.error == "Discord answered 429 You are being rate limited. (rate limited: this webhook)"


@pytest.mark.parametrize("wait", ["1e400", "-1", "1e308"])
async def test_a_retry_after_that_is_no_finite_wait_is_ignored_or_kept(answer: Answers, wait: str) -> None:
    outcome = PRESETS["discord"].classify(await answer(429, f'{{"retry_after": {wait}}}'))
    assert outcome.retryable
    assert outcome.retry_after_s == (1e308 if wait == "1e308" else None)


async def test_an_empty_discord_message_has_no_double_space(answer: Answers) -> None:
    outcome = PRESETS["discord"].classify(await answer(429, '{"retry_after": 2.5}'))
    assert outcome.error == "Discord answered 429 (rate limited: this webhook)"
    assert outcome.retry_after_s == 2.5


async def test_a_slack_200_that_is_not_ok_is_no_delivery(answer: Answers) -> None:
    recorded = await answer(200, "invalid_payload")
    assert recorded.kind == "delivered"
    outcome = PRESETS["slack"].classify(recorded)
    assert (outcome.ok, outcome.kind) == (False, "http_status")


@pytest.mark.parametrize(
    ("name", "status", "body", "kind"),
    [
        ("slack", 200, "ok", "delivered"),
        ("slack", 404, "channel_not_found", "http_status"),
        ("teams", 200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429",
         "rate_limited"),
        ("teams", 200, "Webhook message delivery failed with error: the card is not valid", "http_status"),
        ("teams", 202, "", "delivered"),
        ("zapier", 200, '{"status": "failure"}', "http_status"),
        ("zapier", 200, '{"status": "success"}', "delivered"),
        ("discord", 204, "", "delivered"),
        ("discord", 429, '{"retry_after": 1}', "rate_limited"),
        ("slack", 429, "rate_limited", "rate_limited"),
    ],
)  # fmt: skip
async def test_the_kind_is_what_classify_decided(answer: Answers, name: str, status: int, body: str, kind: str) -> None:
    outcome = PRESETS[name].classify(await answer(status, body))
    assert outcome.kind == kind and outcome.ok == (kind == "delivered")
