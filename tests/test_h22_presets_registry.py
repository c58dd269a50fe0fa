"""The presets registry: six services by name, each with the Preset interface, and classify() leaving
an attempt that got no answer as the sender recorded it."""

from __future__ import annotations

from typing import get_args

import pytest

from hookd.presets import PRESETS, Preset, PresetError, values
from hookd.presets.base import OptionKind
from hookd.senders.base import Outcome

NO_ANSWER = Outcome(status=None, ok=False, retryable=True, duration_s=0.1, error="connection refused")


def test_the_six_presets_are_registered_by_name() -> None:
    assert sorted(PRESETS) == ["discord", "ifttt", "mattermost", "slack", "teams", "zapier"]
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert set(preset.options.values()) <= set(get_args(OptionKind))


SAMPLES: dict[str, object] = {"text": "x", "flag": True, "object": {"k": "v"}, "objects": [{"k": "v"}], "number": 3}
ACCEPTS = {"text": {"text"}, "flag": {"flag"}, "object": {"object"}, "objects": {"objects"}}


@pytest.mark.parametrize(("name", "option"), [(n, o) for n in sorted(PRESETS) for o in sorted(PRESETS[n].options)])
def test_each_option_is_read_as_the_kind_the_preset_declares(name: str, option: str) -> None:
    """Validate trusts `options`' kinds (it tries a body with a stand-in of the kind for a templated
    option): the body must accept exactly the values of the declared kind."""
    preset = PRESETS[name]
    kind = preset.options[option]
    extra = {"link_url": "https://x.example/"} if option == "link_title" else {}
    for sample_kind, sample in SAMPLES.items():
        try:
            preset.body("m", {option: sample, **extra}, {"data": {}})
        except PresetError as e:
            assert e.option == option, e
            accepted = False
        else:
            accepted = True
        assert accepted == (kind == "any" or sample_kind in ACCEPTS[kind]), (kind, sample_kind)
        assert values.fits(name, kind, option, sample) == accepted
    preset.body("m", {option: values.stand_in(kind), **extra}, {"data": {}})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_no_answer_is_left_as_the_sender_recorded_it(name: str) -> None:
    preset: Preset = PRESETS[name]
    assert preset.classify(NO_ANSWER) == NO_ANSWER


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_an_option_the_preset_does_not_take_is_refused_with_a_suggestion(name: str) -> None:
    preset = PRESETS[name]
    some = sorted(preset.options)[0]
    with pytest.raises(PresetError, match=rf"takes no option '{some}x'.*did you mean '{some}'"):
        preset.body("hi", {some + "x": "v"}, {"id": "e1", "type": "t", "data": {}})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_null_option_is_left_out_as_if_not_written(name: str) -> None:
    preset = PRESETS[name]
    event: dict[str, object] = {"id": "e1", "type": "t", "time": None, "source": None, "data": {}}
    given = preset.body("hi", dict.fromkeys(preset.options), event)
    assert given == preset.body("hi", {}, event)
