"""format_time gives the same text on every host (issue 22 review): `%s` is the Unix time computed by
hookd (the C library's reads the time as the host's local time), the codes the host's locale lays out
(%c, %x, %X, the E and O forms) and a NUL are refused with a sentence, a zone name longer than any
IANA name is refused without being searched or echoed, and a leap second (which intake accepts as an
event time) is formatted as the last second before it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.expressions import EvaluationError, compile_expression, evaluate

EVENT = {"time": "2024-12-31T23:30:00Z", "data": {}}


def run(expression: str, subject: object = EVENT) -> object:
    return evaluate(compile_expression(expression), subject)


def fails(expression: str, subject: object = EVENT) -> str:
    with pytest.raises(EvaluationError) as raised:
        run(expression, subject)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to one five hours behind UTC, as a host's TZ would."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("host_in_new_york")
def test_unix_seconds_do_not_depend_on_the_hosts_zone() -> None:
    assert run("format_time(`0`, '%s')") == "0"
    assert run("format_time(time, '%s')") == "1735687800"
    assert run("format_time(time, '%s', 'Asia/Tokyo')") == "1735687800"  # the zone shown changes nothing
    assert run("format_time('2024-12-31T18:30:00-05:00', '%s %H')") == "1735687800 23"  # shown in UTC


@given(
    seconds=st.integers(min_value=-(10**10), max_value=10**10),
    fraction=st.integers(min_value=0, max_value=999_999),
    offset_minutes=st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_percent_s_is_the_whole_unix_seconds_of_any_time(seconds: int, fraction: int, offset_minutes: int) -> None:
    offset = timedelta(minutes=offset_minutes)
    hours, minutes = divmod(abs(offset_minutes), 60)
    when = datetime.fromtimestamp(seconds, UTC) + offset
    text = f"{when:%Y-%m-%dT%H:%M:%S}.{fraction:06d}{'-' if offset_minutes < 0 else '+'}{hours:02d}:{minutes:02d}"
    assert run("format_time(@, '%s')", text) == str(seconds)  # floor, as Unix time counts whole seconds
    assert run(f"format_time(`{seconds}`, '%s')") == str(seconds)


def test_percent_percent_s_is_the_literal_text() -> None:
    assert run("format_time(`0`, '%%s|%%%s|%s%Y')") == "%s|%0|01970"


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [
        ("%c", "'%c' is laid out by the host's locale, so it would read differently on another machine; write the "
               "parts you want, like '%a %b %d %H:%M:%S %Y'"),
        ("%x", "'%x' is laid out by the host's locale"),
        ("at %X", "'%X' is laid out by the host's locale, so it would read differently on another machine; write the "
                  "parts you want, like '%H:%M:%S'"),
        ("%Ec", "'%Ec' is laid out by the host's locale"),
        ("%Ey", "'%Ey' asks for the host locale's alternative form; write it without the E"),
        ("%OH", "'%OH' asks for the host locale's alternative form; write it without the O"),
        ("%-s", "'%-s' is %s with a flag the C library reads its own way; write %s"),
    ],
)  # fmt: skip
def test_codes_the_host_decides_are_refused(fmt: str, fragment: str) -> None:
    assert f"format_time(): {fragment}" in fails(f"format_time(time, '{fmt}')")


def test_literal_percent_before_a_locale_letter_is_text() -> None:
    assert run("format_time(time, '%%c %%x %%X')") == "%c %x %X"


def test_a_nul_in_the_format_is_refused_not_cut_at() -> None:
    message = fails("format_time(time, data.f)", {**EVENT, "data": {"f": "a\0%Y"}})
    assert message == (
        "format_time(): the format holds a NUL character (U+0000) at character 2, where strftime would stop; remove it"
    )


def test_a_zone_name_longer_than_any_is_refused_without_echoing_it() -> None:
    for name in ("a" * 1_000_000, "Europe/" * 150_000, "x" * 65):
        message = fails("format_time(time, '%Y', data.z)", {**EVENT, "data": {"z": name}})
        assert message == (
            f"format_time(): the time zone name is {len(name)} characters long, longer than any IANA name (at most "
            "64); use a name like 'Europe/Berlin' or 'UTC'"
        )
    assert run("format_time(time, '%Z', 'America/Argentina/ComodRivadavia')") == "-03"  # the longest name


def test_a_long_time_text_is_cut_in_the_message() -> None:
    message = fails("format_time(data.t, '%Y')", {**EVENT, "data": {"t": "x" * 100_000}})
    assert message.startswith("format_time(): 'xxxx") and "… (100000 characters) is not an RFC 3339" in message
    assert len(message) < 300
