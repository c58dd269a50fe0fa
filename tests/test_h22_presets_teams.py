"""The teams preset: a Workflows `message` with one Adaptive Card 1.4, checked against the structure
Microsoft documents for it, and Teams' answers (Workflows 202, legacy connectors 200 `1` or a 200
carrying a 429)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jsonschema
import pytest

from hookd.presets import PRESETS, PresetError
from tests.h22_presets_receiver import Answers, answering

TEAMS = PRESETS["teams"]
EVENT: dict[str, object] = {"id": "e1", "type": "alert", "time": "2026-01-31T12:00:00Z", "source": "plant", "data": {}}

# What Teams requires of a webhook's card message: type "message"; attachments of the Adaptive Card
# content type with the card as `content`; a card of a version Teams renders (up to 1.5); TextBlocks
# with text, FactSets of title/value strings; and of the actions only those a webhook card may carry
# (Action.Submit is not one).
_TEXT_BLOCK = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"const": "TextBlock"},
        "text": {"type": "string", "minLength": 1},
        "wrap": {"type": "boolean"},
        "weight": {"enum": ["Default", "Lighter", "Bolder"]},
        "size": {"enum": ["Default", "Small", "Medium", "Large", "ExtraLarge"]},
        "spacing": {"enum": ["None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"]},
    },
    "additionalProperties": False,
}
_FACT_SET = {
    "type": "object",
    "required": ["type", "facts"],
    "properties": {
        "type": {"const": "FactSet"},
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title", "value"],
                "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
WORKFLOWS_MESSAGE = {
    "type": "object",
    "required": ["type", "attachments"],
    "properties": {
        "type": {"const": "message"},
        "attachments": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["contentType", "content"],
                "properties": {
                    "contentType": {"const": "application/vnd.microsoft.card.adaptive"},
                    "contentUrl": {"type": "null"},
                    "content": {
                        "type": "object",
                        "required": ["type", "version", "body"],
                        "properties": {
                            "$schema": {"const": "http://adaptivecards.io/schemas/adaptive-card.json"},
                            "type": {"const": "AdaptiveCard"},
                            "version": {"enum": ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]},
                            "body": {"type": "array", "minItems": 1, "items": {"anyOf": [_TEXT_BLOCK, _FACT_SET]}},
                            "actions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["type", "url"],
                                    "properties": {
                                        "type": {"enum": ["Action.OpenUrl"]},
                                        "title": {"type": "string"},
                                        "url": {"type": "string"},
                                    },
                                },
                            },
                        },
                        "additionalProperties": False,
                    },
                },
            },
        },
    },
    "additionalProperties": False,
}


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def card(body: object) -> dict[str, object]:
    assert isinstance(body, dict)
    content = body["attachments"][0]["content"]
    assert isinstance(content, dict)
    return content


def test_the_message_is_an_adaptive_card_14_in_a_message() -> None:
    body = TEAMS.body("Line 3 stopped", {}, EVENT)
    assert body == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [{"type": "TextBlock", "text": "Line 3 stopped", "wrap": True}],
                },
            }
        ],
    }
    jsonschema.validate(body, WORKFLOWS_MESSAGE)


def test_title_facts_and_link_make_the_full_card() -> None:
    options: dict[str, object] = {
        "title": "Line 3 stopped",
        "facts": {"Plant": "Linz", "Temperature": 81.5, "Acknowledged": False, "Operator": None},
        "link_url": "https://plant.example/lines/3",
        "link_title": "Open the line",
    }
    body = TEAMS.body("Motor overheated.\nCooling started.\n\nNext check at 14:00.", options, EVENT)
    jsonschema.validate(body, WORKFLOWS_MESSAGE)
    assert card(body)["body"] == [
        {"type": "TextBlock", "text": "Line 3 stopped", "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": "Motor overheated.", "wrap": True},
        {"type": "TextBlock", "text": "Cooling started.", "wrap": True},
        {"type": "TextBlock", "text": "Next check at 14:00.", "wrap": True, "spacing": "Medium"},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Plant", "value": "Linz"},
                {"title": "Temperature", "value": "81.5"},
                {"title": "Acknowledged", "value": "false"},
            ],  # Operator rendered null: left out
        },
    ]
    assert card(body)["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the line", "url": "https://plant.example/lines/3"}
    ]


def test_a_link_without_a_title_reads_open() -> None:
    body = TEAMS.body("m", {"link_url": "https://plant.example"}, EVENT)
    assert card(body)["actions"] == [{"type": "Action.OpenUrl", "title": "Open", "url": "https://plant.example"}]


@pytest.mark.parametrize(
    ("message", "options", "says"),
    [
        ("", {}, "the card would be blank"),
        ("m", {"link_title": "Open"}, "link_title is given without link_url"),
        ("m", {"facts": [["Plant", "Linz"]]}, "facts must be an object, not a list"),
        ("m", {"title": 3}, "title must be a string, not a number"),
    ],
)
def test_a_card_teams_could_not_show_fails_the_delivery(message: str, options: dict[str, object], says: str) -> None:
    with pytest.raises(PresetError, match=says):
        TEAMS.body(message, options, EVENT)


def test_a_title_alone_is_a_card() -> None:
    jsonschema.validate(TEAMS.body("", {"title": "Line 3 stopped"}, EVENT), WORKFLOWS_MESSAGE)


async def test_workflows_202_is_delivered(answer: Answers) -> None:
    outcome = TEAMS.classify(await answer(202))
    assert outcome.ok and outcome.status == 202


async def test_a_legacy_connectors_200_1_is_delivered(answer: Answers) -> None:
    assert TEAMS.classify(await answer(200, "1")).ok


@pytest.mark.parametrize(
    "said",
    [
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with "
        "ContextId tcid=0,server=msgapi-canary-eus2-0,cv=deadbeef.0..",
        "429",
    ],
)
async def test_a_200_carrying_a_429_is_retried(answer: Answers, said: str) -> None:
    outcome = TEAMS.classify(await answer(200, said))
    assert not outcome.ok and outcome.retryable
    assert outcome.error.startswith("Teams answered 200 ") and outcome.error.endswith("(throttled)")


async def test_a_200_saying_delivery_failed_otherwise_is_final(answer: Answers) -> None:
    said = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413"
    outcome = TEAMS.classify(await answer(200, said))
    assert not outcome.ok and not outcome.retryable
    assert "HTTP error 413" in outcome.error


async def test_a_turned_off_flow_is_final_and_says_where_to_look(answer: Answers) -> None:
    body = '{"error":{"code":"WorkflowTriggerIsNotEnabled","message":"Could not find a trigger."}}'
    outcome = TEAMS.classify(await answer(404, body))
    assert not outcome.ok and not outcome.retryable
    assert outcome.error.startswith("Teams answered 404 {")
    assert "WorkflowTriggerIsNotEnabled" in outcome.error and "Power Automate" in outcome.error


async def test_a_real_429_waits_retry_after(answer: Answers) -> None:
    outcome = TEAMS.classify(await answer(429, "", {"Retry-After": "12"}))
    assert outcome.retryable and outcome.retry_after_s == 12.0
