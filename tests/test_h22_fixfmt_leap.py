"""format_time over a leap second (issue 22, a new user's finding): intake accepts `…T23:59:60Z` as an
event time and keeps it as sent, so format_time (as in the bundled manufacturing example's
`format_time(time, '%H:%M', 'Europe/Berlin')`) formats it, as the last second before it (`:59`)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.events import event_from_object
from hookd.expressions import EvaluationError, compile_expression, evaluate
from tests.cli_helpers import hookd

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "manufacturing-alerts" / "hookd.yaml"


def run(expression: str, subject: object) -> object:
    return evaluate(compile_expression(expression), subject)


def fails(expression: str) -> str:
    with pytest.raises(EvaluationError) as raised:
        run(expression, {})
    return str(raised.value)


@pytest.mark.parametrize(
    ("moment", "fmt", "zone", "shown"),
    [
        ("2016-12-31T23:59:60Z", "%Y-%m-%d %H:%M:%S", "UTC", "2016-12-31 23:59:59"),
        ("2016-12-31T23:59:60Z", "%H:%M:%S %Z", "Europe/Berlin", "00:59:59 CET"),
        ("2016-12-31T23:59:60.250Z", "%S.%f %s", "UTC", "59.250000 1483228799"),
        ("2016-12-31t23:59:60z", "%H:%M:%S", "UTC", "23:59:59"),
        ("2017-01-01T05:29:60+05:30", "%H:%M:%S", "UTC", "23:59:59"),
    ],
)
def test_a_leap_second_is_the_last_second_before_it(moment: str, fmt: str, zone: str, shown: str) -> None:
    assert run(f"format_time('{moment}', '{fmt}', '{zone}')", {}) == shown


def test_minute_sixty_is_still_no_time() -> None:
    assert "is not an RFC 3339 date-time" in fails("format_time('2016-12-31T23:60:00Z', '%H')")
    assert "is not an RFC 3339 date-time" in fails("format_time('2016-12-31T23:59:61Z', '%H')")


async def test_the_manufacturing_example_formats_an_alert_sent_in_a_leap_second(tmp_path: Path) -> None:
    alert = {
        "id": "alert-1", "type": "machine.alert.overheat", "time": "2016-12-31T23:59:60Z",
        "data": {"machine": "press-7", "line": 3, "severity": "warning", "temperature_c": 91.26, "text": "hot"},
    }  # fmt: skip
    (tmp_path / "events.jsonl").write_text(json.dumps(alert) + "\n", encoding="utf-8")
    result = await hookd("test", "-c", str(EXAMPLE), "--json", str(tmp_path / "events.jsonl"))
    assert result.exit_code == 0, result.output
    (event,) = json.loads(result.output)["events"]
    assert event["event"]["time"] == "2016-12-31T23:59:60Z"  # intake keeps it as sent
    (teams,) = [hook for hook in event["hooks"] if hook["hook"] == "shift-teams"]
    assert '"Since"' in json.dumps(teams["request"]["body"]) and '"00:59"' in json.dumps(teams["request"]["body"])


_TIMES = st.builds(
    lambda d, h, m, s, frac, zone: f"{d.isoformat()}T{h:02d}:{m:02d}:{s:02d}{frac}{zone}",
    st.dates(min_value=datetime(1, 1, 2).date(), max_value=datetime(9999, 12, 30).date()),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 60),
    st.sampled_from(["", ".5", ".123456789"]),
    st.sampled_from(["Z", "z", "+00:00", "-05:00", "+14:00", "+05:45"]),
)


@given(moment=_TIMES)
def test_every_event_time_intake_takes_can_be_formatted(moment: str) -> None:
    event = event_from_object({"id": "e1", "type": "t", "time": moment, "data": {}})
    shown = run("format_time(time, '%Y-%m-%dT%H:%M:%S%z')", {"time": event.time})
    assert isinstance(shown, str) and shown.endswith("+0000")
