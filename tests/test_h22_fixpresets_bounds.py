"""What a preset builds from event data is bounded, and checked while it is built: zapier's flat body
(every field repeats the names above it, so a 1 MB event once made a body of gigabytes) and teams'
card (one TextBlock a line; Teams refuses a card over about 28 KB). Past a bound the delivery fails
with a sentence, as a template that cannot be rendered does."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from hookd.config.model import HookConfig
from hookd.events import event_from_object
from hookd.presets import PRESETS, PresetError
from hookd.presets.teams import MAX_CARD_BYTES
from hookd.presets.zapier import MAX_FIELDS, MAX_NAME_CHARS
from hookd.rendering import RequestRenderError, render_request
from hookd.router import compile_hook

ZAPIER = PRESETS["zapier"]
TEAMS = PRESETS["teams"]
EVENT: dict[str, object] = {"id": "e1", "type": "zap", "time": "2026-01-31T12:00:00Z", "source": "shop", "data": {}}
# The attacker's event: under 1 MB, one 30,000-character key over 80,000 members (a 2.4 GB body before).
LONG_KEY_EVENT: dict[str, object] = {**EVENT, "data": {"k" * 30_000: {str(i): 1 for i in range(80_000)}}}


def peak_bytes(build: Callable[[], object]) -> int:
    """The most memory `build` held at once, beyond what was held before it ran."""
    tracemalloc.start()
    try:
        build()
    except PresetError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def with_data(data: object) -> dict[str, object]:
    return {**EVENT, "data": data}


def test_the_attackers_long_key_event_is_refused_as_it_is_flattened() -> None:
    """1. One event of under 1 MB: a 30,000-character key over 80,000 members.
    2. The zapier preset builds its body.
    Result: refused with a sentence naming the bound, having held a few MB at most."""
    assert len(orjson.dumps(LONG_KEY_EVENT)) < 1_000_000
    with pytest.raises(PresetError, match=rf"field names of more than {MAX_NAME_CHARS:,} characters"):
        ZAPIER.body("m", {}, LONG_KEY_EVENT)
    assert peak_bytes(lambda: ZAPIER.body("m", {}, LONG_KEY_EVENT)) < 5_000_000


def test_the_attackers_event_fails_the_delivery_as_a_render_error() -> None:
    config = HookConfig(name="zap", events=("*",), url="http://127.0.0.1:9/h", preset="zapier", message="m")
    e = event_from_object(dict(LONG_KEY_EVENT))
    with pytest.raises(RequestRenderError, match=r"^preset zapier: the event's data flattens to field names"):
        render_request(compile_hook(config), "dlv-1", e.id, 1, e.body, 1_780_000_000.0)


def test_10000_fields_are_sent_and_one_more_refused() -> None:
    body = ZAPIER.body("m", {}, with_data({f"f{i}": i for i in range(MAX_FIELDS)}))
    assert isinstance(body, dict) and len(body) == MAX_FIELDS + 5  # message, id, type, time, source
    with pytest.raises(PresetError, match=r"^the event's data flattens to more than 10,000 fields"):
        ZAPIER.body("m", {}, with_data({f"f{i}": i for i in range(MAX_FIELDS + 1)}))


def test_the_fields_option_shares_the_bound() -> None:
    data = {f"f{i}": i for i in range(MAX_FIELDS)}
    with pytest.raises(PresetError, match=r"^preset_options.fields flattens to more than 10,000 fields"):
        ZAPIER.body("m", {"fields": {"extra": 1}}, with_data(data))


def test_names_up_to_the_bound_are_sent() -> None:
    # Two fields whose names ("data__" + key) come to exactly MAX_NAME_CHARS characters.
    half = MAX_NAME_CHARS // 2 - len("data__")
    body = ZAPIER.body("m", {}, with_data({"a" * half: 1, "b" * half: 2}))
    assert isinstance(body, dict) and body["data__" + "a" * half] == 1
    with pytest.raises(PresetError, match="use shorter keys"):
        ZAPIER.body("m", {}, with_data({"a" * half: 1, "b" * (half + 1): 2}))


def test_values_are_not_counted_against_the_names() -> None:
    body = ZAPIER.body("m", {}, with_data({"note": "x" * (MAX_NAME_CHARS * 2)}))
    assert isinstance(body, dict) and len(str(body["data__note"])) == MAX_NAME_CHARS * 2


# -- teams ------------------------------------------------------------------------------------------


def card_size(body: object) -> int:
    return len(orjson.dumps(body))


def test_the_attackers_1mb_of_short_lines_is_refused_before_it_becomes_blocks() -> None:
    """1. A message of 1 MB of "a\\n" (500,000 one-character lines, once 22 MB of TextBlocks).
    2. The teams preset builds its card.
    Result: refused with a sentence naming Teams' limit, having built no blocks."""
    message = "a\n" * 500_000
    with pytest.raises(PresetError, match=r"^the message alone is 1,000,000 characters; Teams refuses a card over"):
        TEAMS.body(message, {}, EVENT)
    assert peak_bytes(lambda: TEAMS.body(message, {}, EVENT)) < 1_000_000


def test_short_lines_that_make_too_many_blocks_are_refused_as_they_are_made() -> None:
    message = "a\n" * (MAX_CARD_BYTES // 4)  # well under the limit as text, far over it as blocks
    assert len(message) < MAX_CARD_BYTES
    with pytest.raises(PresetError, match=r"^the message's lines make text blocks of more than"):
        TEAMS.body(message, {}, EVENT)


def test_a_card_just_under_the_limit_is_sent() -> None:
    message = "x" * (MAX_CARD_BYTES - 1_000)
    body = TEAMS.body(message, {"title": "T"}, EVENT)
    assert card_size(body) <= MAX_CARD_BYTES


def test_facts_that_push_the_card_over_the_limit_are_refused() -> None:
    facts: dict[str, Any] = {f"fact {i}": "v" * 100 for i in range(300)}
    with pytest.raises(PresetError, match=r"^the card is [\d,]+ bytes; Teams refuses a card over about 28 KB"):
        TEAMS.body("short", {"facts": facts}, EVENT)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_no_preset_sends_a_body_much_larger_than_what_it_was_given(name: str) -> None:
    """Every preset, over an event of 500 nested members under a long key and a message of many lines:
    the body is refused, or no larger than a few times the message, options and event plus a fixed
    allowance (zapier's names, at most MAX_NAME_CHARS characters in MAX_FIELDS fields)."""
    data = {"k" * 1_000: {str(i): "v" for i in range(500)}}
    message = "line\n" * 300
    options = {"title": "t"} if name == "teams" else {}
    given = len(orjson.dumps(with_data(data))) + len(message)
    try:
        body = PRESETS[name].body(message, options, with_data(data))
    except PresetError:
        return
    assert card_size(body) < 3 * given + MAX_NAME_CHARS + 8 * MAX_FIELDS
