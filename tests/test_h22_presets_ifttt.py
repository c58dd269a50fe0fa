"""The ifttt preset: value1 from the message, value2 and value3 from the options (text, as IFTTT
reads them), and IFTTT's answers (200 "Congratulations!", 401 for a wrong key)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hookd.presets import PRESETS
from tests.h22_presets_receiver import Answers, answering

IFTTT = PRESETS["ifttt"]
EVENT: dict[str, object] = {"id": "e1", "type": "t", "time": "2026-01-31T12:00:00Z", "source": "s", "data": {}}


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def test_the_three_values() -> None:
    body = IFTTT.body("Door opened", {"value2": "garage", "value3": "21:04"}, EVENT)
    assert body == {"value1": "Door opened", "value2": "garage", "value3": "21:04"}


def test_values_that_are_not_text_are_sent_as_json_text() -> None:
    body = IFTTT.body("m", {"value2": 42.5, "value3": {"door": "garage"}}, EVENT)
    assert body == {"value1": "m", "value2": "42.5", "value3": '{"door": "garage"}'}


async def test_200_is_delivered(answer: Answers) -> None:
    outcome = IFTTT.classify(await answer(200, "Congratulations! You've fired the door_opened event"))
    assert outcome.ok


async def test_a_wrong_key_is_final_and_says_so(answer: Answers) -> None:
    outcome = IFTTT.classify(await answer(401, '{"errors":[{"message":"You sent an invalid key."}]}'))
    assert not outcome.ok and not outcome.retryable
    assert outcome.error == (
        "IFTTT answered 401 You sent an invalid key: the key in the URL is wrong; copy it from IFTTT's "
        "Webhooks settings"
    )


async def test_a_5xx_is_retried(answer: Answers) -> None:
    assert IFTTT.classify(await answer(503, "")).retryable
