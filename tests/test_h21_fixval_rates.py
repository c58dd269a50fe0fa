"""A rate validate refuses says why and writes the rate as meant (issue 21, new-user review finding 11):
a unit in upper case, a count like .5 or 1e3, per day or week (per hour, or under 1/h, the least).
The published schema refuses the same rates."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from hookd.config.schema import schema
from tests.test_h20_guard_validate import validate
from tests.test_h21_rate_config import config, hook

UNITS = "units are /s, /min and /h only (or sec, second, m, minute, hour)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5/S", "'5/S' is not a rate: units are lower case; write 5/s"),
        ("5/Min", "'5/Min' is not a rate: units are lower case; write 5/min"),
        (".5/s", "'.5/s' is not a rate: a count is plain digits; write 0.5/s"),
        ("1e3/s", "'1e3/s' is not a rate: a count is plain digits; write 1000/s"),
        ("1E3/S", "'1E3/S' is not a rate: a count is plain digits and units are lower case; write 1000/s"),
        ("100/day", f"'100/day' is not a rate hookd takes: {UNITS}; write it per hour: 4.167/h"),
        ("100/week", f"'100/week' is not a rate hookd takes: {UNITS}; this one is 0.5952/h, under 1/h, the slowest "
                     "rate hookd runs with: write 1/h if the receiver allows that"),
        ("500/DAY", "'500/DAY' is not a rate: units are lower case, and per day or week is not taken; write it per "
                    "hour: 20.83/h"),
    ],
)  # fmt: skip
def test_a_refused_rate_says_why_where_and_how_to_write_it(tmp_path: Path, value: str, message: str) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:6:17: error: hooks[0] (name='a').rate_limit: {message}"
    ], lines


def test_a_group_rate_per_week_says_so_at_the_group(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: partner\n"), groups="{partner: 100/week}")
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert lines[0] == (
        f"{path}:3:32: error: delivery.rate_limit_groups.partner: '100/week' is not a rate hookd takes: {UNITS}; "
        "this one is 0.5952/h, under 1/h, the slowest rate hookd runs with: write 1/h if the receiver allows that"
    ), lines


@pytest.mark.parametrize("value", ["100/week", "100/day", "5/S", ".5/s", "1e3/s"])
def test_the_published_schema_refuses_the_same_rates(value: str) -> None:
    document = yaml.safe_load(config(hook("a", f"    rate_limit: '{value}'\n")))
    assert list(jsonschema.Draft202012Validator(schema()).iter_errors(document)), value


@pytest.mark.parametrize("value", ["100/min", "5/s", "2000/h", "0.5/s", "1/sec", "3/second", "6/m", "1/hour"])
def test_the_published_schema_takes_every_rate_validate_takes(tmp_path: Path, value: str) -> None:
    text = config(hook("a", f"    rate_limit: '{value}'\n"))
    assert not list(jsonschema.Draft202012Validator(schema()).iter_errors(yaml.safe_load(text)))
    code, lines, _ = validate(tmp_path, text)
    assert code == 0, lines
