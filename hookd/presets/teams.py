"""Microsoft Teams Workflows webhooks: a `message` carrying one Adaptive Card.

Office 365 connectors (and their MessageCard) are retired; a Teams channel takes webhooks through a
Workflows flow ("When a Teams webhook request is received"), which posts the card in
attachments[0].content. Workflows take Adaptive Cards only. The card is version 1.4, which every
Teams client renders; the message becomes one TextBlock per line, so its line breaks show as written
(a TextBlock's markdown runs single line breaks together), with a wider gap after a blank line.

Teams refuses a message over about 28 KB (HTTP 413), and the card is built from event data, one
TextBlock per line: a message of many short lines would make a card far larger than the message. The
blocks are counted as they are made and the whole body is measured before it is sent; a body over
MAX_CARD_BYTES fails the delivery with a sentence instead of reaching Teams.

A Workflows URL answers 202 (the flow was started; whether it posted is the flow's own run history).
A legacy connector URL answers 200 `1`, and when throttled it may answer 200 with the 429 in the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import NoReturn

from hookd import jsonvalue
from hookd.presets import answers, values
from hookd.presets.base import OptionKind, PresetError
from hookd.senders.base import Outcome

CARD_VERSION = "1.4"
MAX_CARD_BYTES = 28_000  # of the whole body as JSON: Teams' limit is "about 28 KB"
# A TextBlock's JSON around its text: {"type":"TextBlock","text":"","wrap":true,"spacing":"Medium"},
BLOCK_BYTES = 64
_THROTTLED = re.compile(r"\bHTTP error 429\b|^429\b")


class Teams:
    name = "teams"
    options: Mapping[str, OptionKind] = {"title": "text", "facts": "object", "link_url": "text", "link_title": "text"}
    escape_value = None

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        card_body: list[object] = []
        title = values.text(self.name, options, "title")
        if title:
            card_body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True})
        card_body.extend(_text_blocks(message, MAX_CARD_BYTES - len(title or "")))
        facts = values.mapping(self.name, options, "facts")
        # A fact whose value rendered null or empty (an alert without a temperature) is left out: a row
        # with a title and nothing beside it says nothing.
        shown = [(k, _fact_text(v)) for k, v in (facts or {}).items() if v is not None]
        shown = [(k, text) for k, text in shown if text.strip()]
        if shown:
            card_body.append({"type": "FactSet", "facts": [{"title": str(k), "value": text} for k, text in shown]})
        if not card_body:
            raise PresetError("the message rendered empty and no title or facts were given: the card would be blank")
        card: dict[str, object] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "body": card_body,
        }
        link_url = values.text(self.name, options, "link_url")
        link_title = values.text(self.name, options, "link_title")
        if link_url:
            card["actions"] = [{"type": "Action.OpenUrl", "title": link_title or "Open", "url": link_url}]
        elif link_title:
            raise PresetError(
                "preset_options.link_title is given without link_url: the button would lead nowhere; add link_url, "
                "or remove link_title",
                option="link_title",
            )
        body = {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }
        _check_size(body)
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        said = answers.body_text(outcome)
        if outcome.ok:
            if _THROTTLED.search(said):
                # A legacy connector's throttling: HTTP 200 with the 429 in the text.
                return answers.failed(
                    outcome, answers.answered("Teams", outcome, f"{said!r} (throttled)"), retryable=True, throttled=True
                )
            if said.startswith("Webhook message delivery failed"):
                return answers.failed(outcome, answers.answered("Teams", outcome, repr(said)), retryable=False)
            return answers.succeeded(outcome)
        hint = ""
        if outcome.status == 413:
            hint = "the card is too large for Teams (about 28 KB); send a shorter message"
        elif outcome.status in (401, 403, 404):
            hint = "the flow was turned off, deleted or its URL changed; check it in Power Automate"
        return answers.with_reason("Teams", outcome, said, hint)


def _text_blocks(message: str, room: int) -> list[object]:
    """One TextBlock per line of the message; PresetError once the blocks would take more than
    `room` bytes (counted as they are made, so an over-long message is never built into a card)."""
    if len(message) > room:  # every character is at least a byte
        _too_large(f"the message alone is {len(message):,} characters")
    blocks: list[object] = []
    gap = False
    used = 0
    for line in message.splitlines():
        if not line.strip():
            gap = bool(blocks)
            continue
        used += len(line.encode("utf-8", "surrogatepass")) + BLOCK_BYTES
        if used > room:
            _too_large(f"the message's lines make text blocks of more than {room:,} bytes (one block a line)")
        block: dict[str, object] = {"type": "TextBlock", "text": line, "wrap": True}
        if gap:
            block["spacing"] = "Medium"
            gap = False
        blocks.append(block)
    return blocks


def _check_size(body: object) -> None:
    """Refuse a body (title, facts and link included) over MAX_CARD_BYTES as JSON."""
    try:
        size = len(jsonvalue.dumps(body))
    except ValueError:
        return  # not JSON at all: the body's own encoding says so, naming the preset
    if size > MAX_CARD_BYTES:
        _too_large(f"the card is {size:,} bytes")


def _too_large(why: str) -> NoReturn:
    raise PresetError(
        f"{why}; Teams refuses a card over about 28 KB (HTTP 413), and the teams preset sends at most "
        f"{MAX_CARD_BYTES:,} bytes: send a shorter message, fewer facts or a link to the details"
    )


def _fact_text(value: object) -> str:
    """An Adaptive Card fact's value is text: a string as it is, null as empty, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


TEAMS = Teams()
