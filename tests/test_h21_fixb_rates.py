"""What a rate may be: validate refuses what hookd could not run with (a rate past 100000/s broke
/status's JSON, one under 1/h its dates), names the bounds, refuses non-ASCII digits, and gives a rate
per day per hour; /status's JSON answers whatever it holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hookd.admin_http import json_response as _json
from hookd.config.schema import schema
from hookd.units import RATE_PATTERN, parse_rate
from tests.test_h20_guard_validate import validate
from tests.test_h21_rate_config import config, hook

BOUNDS = "a rate must be between 1/h and 100000/s"
UNITS = "units are /s, /min and /h only (or sec, second, m, minute, hour)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("99999999999999999999999/s", f"'99999999999999999999999/s' is faster than 100000/s; {BOUNDS}"),
        ("100001/s", f"'100001/s' is faster than 100000/s; {BOUNDS}"),
        ("0.000000000001/h", f"'0.000000000001/h' is slower than 1/h; {BOUNDS}"),
        ("59/hour", None),
        ("0.5/h", f"'0.5/h' is slower than 1/h; {BOUNDS}"),
        ("100/day", f"'100/day' is not a rate hookd takes: {UNITS}; write it per hour: 4.167/h"),
        ("48 / d", f"'48 / d' is not a rate hookd takes: {UNITS}; write it per hour: 2/h"),
        ("1/day", f"'1/day' is not a rate hookd takes: {UNITS}; this one is 0.04167/h, under 1/h, the slowest "
                  "rate hookd runs with: write 1/h if the receiver allows that"),
    ],
)  # fmt: skip
def test_validate_gives_one_error_naming_the_bounds_or_the_hourly_rate(
    tmp_path: Path, value: str, message: str | None
) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    if message is None:  # 59/hour is within bounds
        assert code == 0, lines
        return
    assert code == 1
    errors = [line for line in lines if ": error: " in line]
    assert errors == [f"{path}:6:17: error: hooks[0] (name='a').rate_limit: {message}"], lines


def test_a_group_rate_is_bounded_too(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: p\n"), groups="{p: 200000/s}")
    code, lines, _ = validate(tmp_path, text)
    assert code == 1
    assert any(f"delivery.rate_limit_groups.p: '200000/s' is faster than 100000/s; {BOUNDS}" in x for x in lines)


@pytest.mark.parametrize("value", ["\u0661\u0662/s", "\uff11\uff12/s", "1\u0662/min", "\u0968/h"])
def test_non_ascii_digits_are_not_a_count(tmp_path: Path, value: str) -> None:
    """Python's float() reads Arabic-Indic or fullwidth digits as numbers: the schema and parse_rate do not."""
    code, lines, path = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:6:17: error: hooks[0] (name='a').rate_limit: '{value}' is not a rate; write a count per unit, "
        "like 5/s, 100/min or 2000/hour (units s, sec, second, m, min, minute, h, hour, in lower case)"
    ], lines
    with pytest.raises(ValueError, match="is not a rate; write a count per unit"):
        parse_rate(value)


@pytest.mark.parametrize(
    ("value", "per_s"),
    [("0.5/s", 0.5), (" 100 / min ", 100 / 60), ("1/h", 1 / 3600), ("100000/s", 100000.0), ("2000/hour", 2000 / 3600),
     ("1/sec", 1.0), ("3/second", 3.0), ("6/m", 0.1), ("6/minute", 0.1), ("0.0166667/min", 0.0166667 / 60)],
)  # fmt: skip
def test_what_the_readme_says_is_accepted_is(tmp_path: Path, value: str, per_s: float) -> None:
    assert parse_rate(value).per_s == pytest.approx(per_s)
    code, lines, _ = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    assert code == 0, lines


@pytest.mark.parametrize("value", [".5/s", "1e3/s", "5/S", "5/Min", "5 /", "5/ms"])
def test_what_the_readme_says_is_refused_is(tmp_path: Path, value: str) -> None:
    code, lines, _ = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    assert code == 1
    assert len([line for line in lines if ": error: " in line]) == 1, lines


def test_the_schema_pattern_is_the_one_parse_rate_and_lint_use() -> None:
    defs = schema()["$defs"]
    assert isinstance(defs, dict)
    assert defs["rate"]["pattern"] == RATE_PATTERN
    # The published schema refuses what validate refuses: per day or week too (validate's error gives it per hour).
    assert re.match(RATE_PATTERN, "100/hour") and not re.match(RATE_PATTERN, "100/day")


def test_status_json_never_fails_on_a_big_integer() -> None:
    """orjson refuses integers past 64 bits: /status answers them as JSON numbers instead of a 500."""
    response = _json({"burst": 10**23, "limit": "99999999999999999999999/s"})
    assert response.status == 200
    assert isinstance(response.body, bytes)
    assert json.loads(response.body)["burst"] == 10**23
