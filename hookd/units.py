"""Durations (`30s`, `1h30m`), sizes (`10MB`) and rates (`100/min`), parsed once into numbers."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"

_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}  # fmt: skip

_RATE_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
             "h": 3600.0, "hour": 3600.0}  # fmt: skip
# Units people write that hookd does not take: the error gives the rate per hour instead.
_RATE_LONG = {"d": 86400.0, "day": 86400.0, "days": 86400.0, "w": 604800.0, "week": 604800.0}
# A count (ASCII digits, an optional decimal part), `/`, a unit hookd takes; spaces around the `/` and
# at either end. [0-9], not \d: float() reads Arabic-Indic or fullwidth digits as numbers. The
# schema's `rate` pattern is this one (a test holds them equal), so the published schema refuses what
# validate refuses; validate explains a refused one with parse_rate's error (per day: per hour).
RATE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$"
_UNITS_TAKEN = "units are /s, /min and /h only (or sec, second, m, minute, hour)"
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*/\s*([a-z]+)")
# What people write for a count that is no count here: `.5`, `1e3`, `1_000` (ASCII, so float() reads
# it as the number meant, and the error can write it out).
_LOOSE_RATE = re.compile(r"([0-9._eE+-]+)\s*/\s*([A-Za-z]+)")
# What a rate may be: slower could not be told from a stopped hook (and a token's wait overflows
# what a date can hold); faster is more than one hook could send, and a burst past a 64-bit count.
MIN_RATE_PER_S = 1 / 3600
MAX_RATE_PER_S = 100_000.0
RATE_BOUNDS = "between 1/h and 100000/s"


def parse_duration(value: str | float) -> float:
    """Seconds in `value`: a number of seconds, or text like `500ms`, `30s`, `1h30m`, `90d`."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration; give a finite number of seconds, or text like 30s")
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration must be 0 or more")
        return float(value)
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} is not a duration; write text like 30s, or a number of seconds")
    text = value.strip()
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(
            f"{value!r} is not a duration; write a number with a unit, like 500ms, 30s, 5m, 2h, 90d or 1h30m"
        )
    return sum(float(n) * _DURATION_UNITS_S[u] for n, u in _DURATION_PART.findall(text))


def parse_duration_text(text: str) -> float:
    """A duration typed on the command line: `60` is 60 seconds there too, as it is in the config
    (where YAML hands a bare number over as a number, not as text)."""
    stripped = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", stripped):
        return parse_duration(float(stripped))
    return parse_duration(stripped)


def parse_size(value: str | int) -> int:
    """Bytes in `value`: a number of bytes, or text like `10MB`, `512KiB`."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a size must be 0 or more")
        return value
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} is not a size; write text like 10MB, or a whole number of bytes")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgG][iI]?)?[bB]", value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a size; write a number with a unit, like 512KB, 10MB or 1GiB")
    unit = ((m.group(2) or "") + "b").lower()
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate such as `100/min`, kept as events per second."""

    per_s: float
    text: str
    unit_s: float = 1.0  # seconds in the unit it was written with (60 for 100/min): how a receiver counts

    def __str__(self) -> str:
        return self.text


def parse_rate(value: str | float) -> Rate:
    """`100/min`, `5/s`, `2000/hour`, or a bare number meaning per second."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a rate")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{value!r} is not a positive rate")
        return Rate(_bounded(float(value), value), f"{value}/s")
    if not isinstance(value, str):
        raise TypeError(f"{type(value).__name__} is not a rate; write text like 100/min, or a number per second")
    text = value.strip()
    m = _RATE.fullmatch(text)
    if m and m.group(2) in _RATE_LONG:
        raise ValueError(f"{value!r} is not a rate hookd takes: {_UNITS_TAKEN}; {_per_hour(m.group(1), m.group(2))}")
    if not m or m.group(2) not in _RATE_PER:
        raise ValueError(f"{value!r} is not a rate{_rate_fix(text)}")
    count = float(m.group(1))
    if count <= 0:
        raise ValueError(f"{value!r} would never send anything; give a count above 0, like 100/min")
    unit_s = _RATE_PER[m.group(2)]
    return Rate(_bounded(count / unit_s, value), text, unit_s)


def _per_hour(count: str, unit: str) -> str:
    """How to write `count` per `unit` (a day or a week) as the rate per hour it is."""
    per_h = float(count) * 3600 / _RATE_LONG[unit]
    if per_h >= 1:
        return f"write it per hour: {per_h:.4g}/h"
    least = "under 1/h, the slowest rate hookd runs with: write 1/h if the receiver allows that"
    return f"this one is {per_h:.4g}/h, {least}"


def _rate_fix(text: str) -> str:
    """Why `text` is no rate and how to write it: the rate meant, in the form hookd takes, when it can
    tell which one that was (a unit in upper case, a count like .5 or 1e3), else the form itself."""
    loose = _LOOSE_RATE.fullmatch(text)
    if loose is not None and loose.group(1).isascii():
        written_count, written_unit = loose.groups()
        unit = written_unit.lower()
        try:
            count = float(written_count)
        except ValueError:
            count = math.nan
        if unit in _RATE_PER | _RATE_LONG and math.isfinite(count) and count >= 0:
            digits = f"{count:f}".rstrip("0").rstrip(".") or "0"
            why = [] if digits == written_count else ["a count is plain digits"]
            why += [] if unit == written_unit else ["units are lower case"]
            if unit in _RATE_LONG:
                return f": {' and '.join(why)}, and per day or week is not taken; {_per_hour(digits, unit)}"
            return f": {' and '.join(why)}; write {digits}/{unit}"
    return (
        "; write a count per unit, like 5/s, 100/min or 2000/hour (units s, sec, second, m, min, minute, h, hour, "
        "in lower case)"
    )


def _bounded(per_s: float, value: object) -> float:
    # A hair of tolerance: 0.0166667/min is 1/h as written, whatever the float division makes of it.
    if per_s < MIN_RATE_PER_S * (1 - 1e-6):
        raise ValueError(f"{value!r} is slower than 1/h; a rate must be {RATE_BOUNDS}")
    if per_s > MAX_RATE_PER_S:
        raise ValueError(f"{value!r} is faster than 100000/s; a rate must be {RATE_BOUNDS}")
    return per_s


def format_duration(seconds: float) -> str:
    """A short human form: 0.25s, 30s, 5m, 2h, 3d."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    # A measured time (how long a hook has failed) is rarely a whole unit: one decimal of the largest
    # unit it has twice (3d 8s is 3.0d, not 4320.1m; 8.01303s is 8s).
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f}{unit}"
    return f"{round(seconds, 1):g}s"


def format_size(size: int) -> str:
    """The shortest exact form in the units parse_size reads: 10MB, 512KiB, 1500B."""
    for unit in ("GB", "GiB", "MB", "MiB", "KB", "KiB"):
        factor = _SIZE_UNITS[unit.lower()]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
