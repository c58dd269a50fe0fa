"""The functions hookd adds to JMESPath for filters and {{ templates }}: formatting numbers and times,
changing case, cutting text to a length, defaults, JSON text and URL encoding.

They are JMESPath custom functions: HookdFunctions keeps every built-in and adds these, and
hookd.expressions evaluates every expression with it. A bad argument raises FunctionArgumentError, a
JMESPathError, so it reaches the author as an evaluation error with its sentence, never a traceback.
"""

from __future__ import annotations

import decimal
import json
import math
import re
import urllib.parse
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar, cast

from jmespath import exceptions as jmes_exc
from jmespath import functions as jmes_functions

from hookd import jsonvalue
from hookd.suggest import closest

_F = TypeVar("_F", bound=Callable[..., Any])


def _signature(*arguments: dict[str, object]) -> Callable[[_F], _F]:
    """jmespath's @signature, typed. An argument marked "optional" may be left off (trailing only);
    jmespath itself knows only fixed and variadic arguments, so HookdFunctions checks the count."""
    return cast(Callable[[_F], _F], jmes_functions.signature(*arguments))


class FunctionArgumentError(jmes_exc.JMESPathError):  # type: ignore[misc]  # jmespath ships no types
    """A function was given a value it cannot work with; the message is a sentence naming the function."""


# The format_number spec: Python's format-spec mini-language without fill, alignment or the alternate
# form, and with width and precision kept to two digits so a spec cannot ask for a huge string.
_NUMBER_SPEC = re.compile(
    r"(?P<sign>[+\- ])?(?P<zero>0)?(?P<width>[1-9][0-9]?)?(?P<group>[,_])?(?:\.(?P<precision>[0-9]{1,2})(?=[fd%]))?"
    r"(?P<type>[fd%])?"
)
_NUMBER_SPEC_HELP = (
    "use a Python format spec like '.2f' (2 decimals), ',.2f' (thousands separators), '.0%' (percent), "
    "'d' (a whole number), with an optional sign (+), zero padding and width ('08.2f')"
)
_ZONES: frozenset[str] | None = None
# The longest IANA name is 32 characters (America/Argentina/ComodRivadavia); a longer one is refused
# before the zone database or the "did you mean" search reads it.
_MAX_ZONE_NAME = 64
# What truncate puts where it cut, so a reader sees the text goes on.
TRUNCATE_SUFFIX = "\u2026"  # …


class HookdFunctions(jmes_functions.Functions):  # type: ignore[misc]  # jmespath ships no types
    """JMESPath's built-in functions plus hookd's. Pass an instance as Options(custom_functions=...)."""

    def _validate_arguments(
        self, args: list[object], signature: tuple[dict[str, Any], ...], function_name: str
    ) -> None:
        required = sum(1 for argument in signature if not argument.get("optional"))
        if required == len(signature):  # fixed and variadic signatures: jmespath's own check and message
            jmes_functions.Functions._validate_arguments(self, args, signature, function_name)
            return
        if not required <= len(args) <= len(signature):
            raise FunctionArgumentError(
                f"{function_name}() takes {required} to {len(signature)} arguments, but is given {len(args)}"
                if len(signature) > required + 1
                else f"{function_name}() takes {required} or {len(signature)} arguments, but is given {len(args)}"
            )
        for value, argument in zip(args, signature, strict=False):
            if argument["types"]:
                self._type_check_single(value, argument["types"], function_name)

    @_signature({"types": ["number"]}, {"types": ["string"]})
    def _func_format_number(self, number: int | float, spec: str) -> str:
        return format_number(number, spec)

    @_signature({"types": ["string", "number"]}, {"types": ["string"]}, {"types": ["string", "null"], "optional": True})
    def _func_format_time(self, time: str | int | float, fmt: str, zone: str | None = None) -> str:
        return format_time(time, fmt, zone)

    @_signature({"types": ["string"]}, {"types": ["number"]}, {"types": ["string"], "optional": True})
    def _func_truncate(self, text: str, max_chars: int | float, suffix: str = TRUNCATE_SUFFIX) -> str:
        return truncate(text, max_chars, suffix)

    @_signature({"types": ["string"]})
    def _func_lower(self, text: str) -> str:
        return text.lower()

    @_signature({"types": ["string"]})
    def _func_upper(self, text: str) -> str:
        return text.upper()

    @_signature({"types": []}, {"types": []})
    def _func_default(self, value: object, fallback: object) -> object:
        return fallback if value is None else value

    @_signature({"types": []})
    def _func_to_json(self, value: object) -> str:
        return to_json(value)

    @_signature({"types": ["string"]})
    def _func_from_json(self, text: str) -> object:
        return from_json(text)

    @_signature({"types": ["string", "number"]})
    def _func_url_encode(self, value: str | int | float) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        return urllib.parse.quote(text, safe="")


HOOKD_FUNCTIONS = HookdFunctions()
FUNCTION_TABLE: dict[str, dict[str, Any]] = HookdFunctions.FUNCTION_TABLE
# The names hookd adds; the rest of FUNCTION_TABLE is JMESPath's own.
HOOKD_FUNCTION_NAMES = frozenset(FUNCTION_TABLE) - frozenset(jmes_functions.Functions.FUNCTION_TABLE)


def arity(name: str) -> tuple[int, int | None] | None:
    """How many arguments function `name` takes: (fewest, most; None for no limit), or None when there is
    no such function."""
    spec = FUNCTION_TABLE.get(name)
    if spec is None:
        return None
    signature: tuple[dict[str, Any], ...] = spec["signature"]
    if signature and signature[-1].get("variadic"):
        return len(signature), None
    return sum(1 for argument in signature if not argument.get("optional")), len(signature)


def format_number(number: int | float, spec: str) -> str:
    """`number` formatted by `spec`, a subset of Python's format specs. Rounding is half away from zero
    on the number as the event wrote it (2.675 to 2 decimals is 2.68), as money is rounded; Python's
    own float formatting would round the binary value (2.67)."""
    match = _number_spec(spec)
    if isinstance(number, float) and not math.isfinite(number):
        raise FunctionArgumentError(f"format_number(): cannot format {number}, which is not a finite number")
    kind = match["type"]
    if kind == "d":
        if number != int(number):
            raise FunctionArgumentError(
                f"format_number(): {number} is not a whole number, which 'd' needs; use '.0f' to round it"
            )
        return format(int(number), spec)
    if kind is None and match["precision"] is None:
        return format(number, spec)  # as Python writes the number itself
    value = decimal.Decimal(repr(number)) if isinstance(number, float) else decimal.Decimal(number)
    if match["precision"] is None and kind is not None:
        # Python's default precision for f and %, which Decimal would otherwise leave exact.
        spec = spec[: -len(kind)] + ".6" + kind
    underscores = match["group"] == "_"  # Decimal groups with commas only
    if underscores:
        spec = spec.replace("_", ",", 1)
    with decimal.localcontext() as context:
        context.rounding = decimal.ROUND_HALF_UP
        context.prec = 200
        text = format(value, spec)
    return text.replace(",", "_") if underscores else text


def check_number_spec(spec: str) -> None:
    """Raises FunctionArgumentError when format_number cannot use `spec` whatever the number; validate
    calls it for a spec written in the expression."""
    _number_spec(spec)


def _number_spec(spec: str) -> re.Match[str]:
    match = _NUMBER_SPEC.fullmatch(spec)
    if match is None:
        raise FunctionArgumentError(
            f"format_number(): {spec!r} is not a number format hookd knows; {_NUMBER_SPEC_HELP}"
        )
    if match["type"] == "d" and match["precision"] is not None:
        raise FunctionArgumentError(f"format_number(): {spec!r} gives a precision to 'd', which has no decimals")
    return match


def format_time(time: str | int | float, fmt: str, zone: str | None = None) -> str:
    """`time` (an RFC 3339 date-time, or Unix seconds) in `zone` (an IANA name; UTC when left off),
    formatted by strftime's `fmt`. A date-time without an offset is read as UTC; a leap second
    (`23:59:60`) as the last second before it (`23:59:59`), as intake checks it. `%s` is the Unix time
    (whole seconds, the same on every host); the codes that follow the host's locale are refused."""
    when = _parse_time(time)
    try:
        local = when.astimezone(_zone(zone))
    except OverflowError:  # 9999-12-31T23:00:00Z in a zone east of UTC is past the last year
        raise FunctionArgumentError(
            f"format_time(): {_shown(str(time))} in {zone or 'UTC'} falls outside the years 1 to 9999 a time can have"
        ) from None
    return _strftime(local, fmt)


def check_time_format(fmt: str) -> None:
    """Raises FunctionArgumentError when format_time cannot use `fmt`; validate calls it for a format
    written in the expression. Whether strftime takes a format does not depend on the time, so one
    time stands for all."""
    _strftime(_EPOCH, fmt)


def check_time_zone(zone: str | None) -> None:
    """Raises FunctionArgumentError (with "did you mean") when `zone` is not a time zone format_time
    knows; validate calls it for a zone written in the expression."""
    _zone(zone)


def _strftime(when: datetime, fmt: str) -> str:
    host_free = _host_free_format(fmt, when)
    try:
        return when.strftime(host_free)
    except ValueError as e:  # an unencodable character, or a directive the platform refuses
        raise FunctionArgumentError(f"format_time(): {_shown(fmt)} is not a format strftime can use ({e})") from None


# One strftime code: `%`, glibc's flags and width, an E or O (the locale's alternative) and the letter.
_MAX_WIDTH = 64
_DIRECTIVE = re.compile(r"%([_\-0^#]*[0-9]*[EO]?)(.?)", re.DOTALL)
# The codes whose text depends on the host's locale (its C library and LC_TIME), and a layout that
# says the same on every host.
_LOCALE_CODES = {"c": "'%a %b %d %H:%M:%S %Y'", "x": "'%Y-%m-%d' or '%m/%d/%y'", "X": "'%H:%M:%S'"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _host_free_format(fmt: str, when: datetime) -> str:
    """`fmt` with `%s` replaced by the Unix time of `when`, computed here: the C library's %s reads
    the time as the host's local time. Raises FunctionArgumentError for a NUL (where strftime stops)
    and for a code whose text the host's locale decides."""
    nul = fmt.find("\0")
    if nul >= 0:
        raise FunctionArgumentError(
            f"format_time(): the format holds a NUL character (U+0000) at character {nul + 1}, where strftime "
            "would stop; remove it"
        )

    def replace(directive: re.Match[str]) -> str:
        modifiers, code = directive.groups()
        if code == "%" and not modifiers:
            return "%%"
        written = _shown(directive.group())
        if code == "s":
            if modifiers:
                raise FunctionArgumentError(
                    f"format_time(): {written} is %s with a flag the C library reads its own way; write %s, the "
                    "Unix time in whole seconds"
                )
            return str((when - _EPOCH) // timedelta(seconds=1))
        if code in _LOCALE_CODES:
            raise FunctionArgumentError(
                f"format_time(): {written} is laid out by the host's locale, so it would read differently on "
                f"another machine; write the parts you want, like {_LOCALE_CODES[code]}"
            )
        width = modifiers.lstrip("_-0^#").rstrip("EO")
        if width and int(width) > _MAX_WIDTH:
            # The C library fills a huge width with nothing at all, or runs out of memory trying.
            raise FunctionArgumentError(
                f"format_time(): {written} pads to {int(width):,} characters; a width is at most {_MAX_WIDTH}"
            )
        if "E" in modifiers or "O" in modifiers:
            raise FunctionArgumentError(
                f"format_time(): {written} asks for the host locale's alternative form; write it without the "
                f"{'E' if 'E' in modifiers else 'O'}"
            )
        return directive.group()

    return _DIRECTIVE.sub(replace, fmt) if "%" in fmt else fmt


# `…T23:59:60…`: a leap second, which RFC 3339 allows and Python's datetime cannot hold.
_LEAP_SECOND = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:)60(?![0-9])", re.ASCII)


def _parse_time(time: str | int | float) -> datetime:
    if isinstance(time, str):
        text = time.strip()
        # The leap second read as the last second before it, as intake reads it to check the time.
        text = _LEAP_SECOND.sub(r"\g<1>59", text, count=1) if ":60" in text else text
        try:
            parsed = datetime.fromisoformat(text.upper() if "t" in text or "z" in text else text)
        except ValueError:
            raise FunctionArgumentError(
                f"format_time(): {_shown(time)} is not an RFC 3339 date-time like '2024-05-01T12:30:00Z'"
            ) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(time, float) and not math.isfinite(time):
        raise FunctionArgumentError(f"format_time(): {time} is not a time in Unix seconds")
    try:
        return datetime.fromtimestamp(time, UTC)
    except (OverflowError, OSError, ValueError):
        raise FunctionArgumentError(
            f"format_time(): {time} Unix seconds is outside the years a time can have"
        ) from None


def _zone(name: str | None) -> tzinfo:
    if name is None:
        return UTC
    if len(name) > _MAX_ZONE_NAME:
        raise FunctionArgumentError(
            f"format_time(): the time zone name is {len(name)} characters long, longer than any IANA name (at most "
            f"{_MAX_ZONE_NAME}); use a name like 'Europe/Berlin' or 'UTC'"
        )
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        global _ZONES
        if _ZONES is None:
            _ZONES = frozenset(zoneinfo.available_timezones())
        close = closest(name, _ZONES)
        hint = f"did you mean {close!r}?" if close else "use an IANA name like 'Europe/Berlin' or 'UTC'"
        raise FunctionArgumentError(f"format_time(): {name!r} is not a time zone; {hint}") from None


def _shown(text: str, limit: int = 80) -> str:
    """`text` quoted for a message (repr: control characters and lone surrogates escaped), cut to
    `limit` characters so a long field from an event does not make a long error."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


def truncate(text: str, max_chars: int | float, suffix: str = TRUNCATE_SUFFIX) -> str:
    """`text` cut to at most `max_chars` characters, `suffix` included: a text that fits is returned as
    it is, a longer one as its first `max_chars - len(suffix)` characters and the suffix. Characters
    are code points, so the cut never falls inside one: a str from a JSON event holds a character
    beyond the BMP, an emoji, as one code point, never as a surrogate pair (a service that counts
    UTF-16 units counts it as two, so a limit below the service's leaves room). A sequence of code
    points drawn as one symbol (a flag, emoji joined with U+200D, a letter and a combining accent) can
    be cut between its code points; the text stays valid and shows the part before the cut. A null
    text is refused by the signature's type check, as lower() refuses it."""
    limit = check_max_chars(max_chars)
    check_suffix_fits(limit, suffix)
    if len(text) <= limit:
        return text
    return text[: limit - len(suffix)] + suffix


def check_max_chars(max_chars: int | float) -> int:
    """`max_chars` as an int, or FunctionArgumentError when it is not a whole number of at least 1
    (`1900.0` is whole, as format_number's 'd' takes it)."""
    whole = isinstance(max_chars, int) or (math.isfinite(max_chars) and max_chars == int(max_chars))
    if not whole or max_chars < 1:
        raise FunctionArgumentError(
            f"truncate(): max_chars is {max_chars}, but it must be a whole number of at least 1, like `1900`"
        )
    return int(max_chars)


def check_suffix_fits(max_chars: int, suffix: str) -> None:
    """FunctionArgumentError when `suffix` is longer than `max_chars`, so a cut text could not hold it."""
    if len(suffix) > max_chars:
        raise FunctionArgumentError(
            f"truncate(): the suffix {_shown(suffix)} is {len(suffix)} characters, longer than max_chars "
            f"({max_chars}), and a cut text holds the suffix; raise max_chars or shorten the suffix"
        )


def to_json(value: object) -> str:
    """`value` as compact JSON text: no spaces, object keys in the order the event has them, non-ASCII
    characters as themselves."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form; JSON's \u escape carries it
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


# JSON's whitespace (RFC 8259): what may come before and after the value.
_JSON_SPACE = re.compile(r"[ \t\n\r]*")


def from_json(text: str) -> object:
    """The JSON value `text` holds, by the rules intake reads events by (hookd.jsonvalue): integers
    exact, no NaN or Infinity, a number that overflows a double (1e400) refused naming it rather than
    read as infinity, at most 64 levels of nesting, no half of a surrogate pair."""
    try:
        value, end = jsonvalue.raw_decode(text, _after_space(text, 0))
    except json.JSONDecodeError as e:
        raise FunctionArgumentError(f"from_json(): the text is not JSON: {e.msg} at character {e.pos + 1}") from None
    except jsonvalue.JsonValueError as e:
        raise FunctionArgumentError(f"from_json(): {_refused(str(e))}") from None
    rest = _after_space(text, end)
    if rest < len(text):
        raise FunctionArgumentError(f"from_json(): the text is not JSON: Extra data at character {rest + 1}")
    return value


def _after_space(text: str, pos: int) -> int:
    space = _JSON_SPACE.match(text, pos)
    return space.end() if space is not None else pos


def _refused(reason: str) -> str:
    """jsonvalue's reason for refusing a text, said of from_json's text."""
    if reason.startswith("invalid JSON: "):  # NaN, Infinity, half of a surrogate pair
        return "the text is not JSON: " + reason.removeprefix("invalid JSON: ")
    if reason == jsonvalue.too_deep_text():
        return "the text is " + reason
    return "in the text, " + reason  # `amount is 1e400, which overflows a 64-bit float …`
