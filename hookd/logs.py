"""Logging to stderr: one line per event, key=value for people or JSON for machines.

Structured lines
----------------
A line that carries values (ids, names, counts, paths, errors) is a `LogLine`: a short message
written here in the code, and its fields::

    from hookd.logs import LogLine, isoformat

    log.info(LogLine("delivered", {"delivery": d.id, "hook": d.hook, "try": 2, "status": 200, "ms": 7}))
    log.warning(LogLine("rejected", {"source": "app", "at": "conn 1 line 6", "reason": reason}))

renders, in the human format, the fields first (ids first, in the order given), then the message::

    2026-01-02T03:04:05.678Z INFO    delivery=01J… hook=orders try=2 status=200 ms=7 delivered
    2026-01-02T03:04:05.678Z WARNING source=app at="conn 1 line 6" reason="invalid JSON …" rejected

and, with `--log-format json`, one object with the fields as keys beside the message::

    {"time": "…", "level": "warning", "logger": "hookd.ingest", "message": "rejected",
     "source": "app", "at": "conn 1 line 6", "reason": "invalid JSON …"}

Field values are str, int, float, bool or None; anything else is logged as its `str()`. None is
`-` in the human format (`status=-`: no answer) and null in JSON. Keys are plain names written in
the code; `time`, `level`, `logger`, `message` and `exception` are taken by the JSON format (a field
with one of those names gets a trailing `_` there). Put user-controlled values (event ids and types,
paths, error texts, anything from input or config) in fields, never into the message text with an
f-string. `record.getMessage()` is the human rendering, so caplog and the delivery worker's
forwarding see the same text as the human log.

Converting a key=value line written with %-style arguments: the `key=%s` pairs become fields, in
the same order, and the words that say what happened become the message::

    log.warning("source=%s conn=%d line=%d closed mid-line", self.name, conn, n)
    log.warning(LogLine("closed mid-line", {"source": self.name, "conn": conn, "line": n}))

Times go in as text made by `isoformat(epoch_s)` (`due_at=2026-01-02T03:04:05.678Z`), durations as
numbers with their unit in the key (`ms=7`, `retry_in_s=30`), errors as `"error": str(e)` (redacted
first when they may hold a request: `hook.redactor.text(...)`).

A line with nothing but prose may stay a plain string (`log.info("hookd stopped")`), and %-style
arguments still work: the human formatter escapes quotes, backslashes and non-printable characters
in every argument (it does not add quotes: the template has them, as in `at="%s"`).

Escaping
--------
Whatever a call site passes, no value can forge or break a human log line: the formatter escapes
the whole message (backslash escapes for CR, LF, tab, every other C0/C1 control, DEL, the Unicode
line and paragraph separators and every other non-printable character, lone surrogates included),
a field value with a space, either quote, `=` or backslash is written in double quotes with `\\"`
and `\\\\` escaped, and every %-style argument is escaped the same way. Traceback lines are indented
under their record, so every line that starts in column 0 starts with a timestamp. The JSON format
is one object per line by construction (every string is JSON-escaped, and so is every other
non-printable character: U+0085, U+2028 and U+2029, which some readers take for line breaks, DEL,
C1, the bidi controls).

Cost
----
A `LogLine` is built at the call site even when its level is off (Python evaluates arguments
first): on a hot path (dispatcher, ingest) guard debug lines with `log.isEnabledFor(logging.DEBUG)`.
Rendering happens only when a handler writes the record.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import orjson

from hookd.events import utc_now_rfc3339

LogFormat = Literal["human", "json"]

# The names the JSON format gives its own keys.
_RESERVED = frozenset({"time", "level", "logger", "message", "exception"})
# Values made only of these are written bare; anything else goes through the slow path. Quotes
# (either kind), `=`, backslashes, whitespace and non-ASCII (may be non-printable) are not in it.
_BARE = re.compile(r"[A-Za-z0-9_.,:;/@+~%!?*&#$^|<>()\[\]{}-]+")
# A printable value still needs quotes when it holds one of these.
_NEEDS_QUOTES = re.compile(r"[\s\"'=\\]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What escape_json_text looks at: anything but printable ASCII and the newlines of indented JSON
# (a printable one, é or 中, is kept by _json_escape).
_NOT_PLAIN_ASCII = re.compile(r"[^\x20-\x7e\n]")
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LogLine:
    """A log line's short message (written in the code) and its fields (values from anywhere)."""

    message: str
    fields: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    def __str__(self) -> str:
        parts = [f"{key}={human_value(value)}" for key, value in self.fields.items()]
        if self.message:
            parts.append(escape_text(self.message))
        return " ".join(parts)

    def plain(self) -> LogLine:
        """A copy whose values are all str, int, float, bool or None (to pickle or serialise)."""
        return LogLine(self.message, {key: _plain(value) for key, value in self.fields.items()})


def _plain(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _escape_char(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_text(text: str) -> str:
    """`text` with every non-printable character (controls, line separators, ...) backslash-escaped.
    Spaces stay; the result never holds a line break."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape_char(ch) for ch in text)


def _json_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: JSON spells it as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def escape_json_text(text: str) -> str:
    """JSON text (C0 controls already escaped by the encoder) with every other non-printable
    character written as a \\uXXXX escape: DEL, C1, U+0085, U+2028 and U+2029 (line breaks to
    str.splitlines() and to JavaScript), bidi controls and the rest. The same value to a JSON reader;
    printable non-ASCII stays as it is. Outside its strings JSON text is printable ASCII, so every
    escape lands inside a string, where it is valid."""
    if text.isprintable():
        return text
    return _NOT_PLAIN_ASCII.sub(_json_escape, text)


def quote(text: str) -> str:
    """`text` in double quotes, with quotes, backslashes and non-printable characters escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escape_text(escaped)}"'


def human_value(value: object) -> str:
    """A field value as the human format writes it: bare when safe, else quoted and escaped."""
    kind = type(value)  # the common types first, cheaply: this runs for every field of every line
    if isinstance(value, str):
        text = value
        if _BARE.fullmatch(text) is not None:
            return text
    elif kind is int or kind is float:
        return str(value)
    elif value is None:
        return "-"
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, int | float):
        return str(value)
    else:
        text = str(value)
        if _BARE.fullmatch(text) is not None:
            return text
    if text and text.isprintable() and _NEEDS_QUOTES.search(text) is None:
        return text  # printable non-ASCII (a name in another script): readable as it is
    return quote(text)


def isoformat(epoch_s: float) -> str:
    """An epoch time as the log writes times: UTC, milliseconds, `Z`."""
    return utc_now_rfc3339(epoch_s)


def _timestamp(record: logging.LogRecord) -> str:
    return utc_now_rfc3339(record.created)


def _escaped_argument(value: object) -> object:
    if value is None or isinstance(value, int | float):  # bool is an int: %s and %d both work
        return value
    text = value if isinstance(value, str) else str(value)
    return escape_text(text.replace("\\", "\\\\").replace('"', '\\"'))


def _human_message(record: logging.LogRecord) -> str:
    """The record's message with every %-style argument escaped (a LogLine escapes its own)."""
    args = record.args
    if not args:
        return str(record.msg)
    try:
        if isinstance(args, Mapping):
            return str(record.msg) % {key: _escaped_argument(v) for key, v in args.items()}
        return str(record.msg) % tuple(_escaped_argument(v) for v in args)
    except (TypeError, ValueError):  # a %d given text: let logging report the call site's mistake
        return record.getMessage()


def _indented(text: str) -> str:
    """A traceback's lines, each escaped and indented, so none can pass for a record of its own."""
    return "\n".join("    " + escape_text(part) for part in text.split("\n"))


class HumanFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678Z INFO    key=value ... message`, escaped (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname:<7} {escape_text(_human_message(record))}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + _indented(record.exc_text)
        if record.stack_info:
            text += "\n" + _indented(self.formatStack(record.stack_info))
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the LogLine's fields."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.msg
        structured = isinstance(msg, LogLine) and not record.args
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": msg.message if isinstance(msg, LogLine) and structured else record.getMessage(),
        }
        if isinstance(msg, LogLine) and structured:
            for key, value in msg.fields.items():
                entry[f"{key}_" if key in _RESERVED else key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        try:
            text = orjson.dumps(entry, default=str).decode()
        except (orjson.JSONEncodeError, TypeError):
            # An integer past 64 bits, or a string with lone surrogates (a path that is not UTF-8):
            # written as text, surrogates as backslash escapes, rather than lose the line.
            text = orjson.dumps({key: _json_safe(value) for key, value in entry.items()}).decode()
        return escape_json_text(text)


def _json_safe(value: object) -> object:
    if value is None or isinstance(value, bool | float) or (isinstance(value, int) and -(2**63) <= value < 2**64):
        return value
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written (a test may have swapped it since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def setup_logging(fmt: LogFormat = "human", level: str = "INFO") -> None:
    """hookd's loggers at `level`, and other libraries' records that reach the root logger (asyncio's,
    aiohttp's: WARNING and up by default) in the same format, so that every line on stderr has one
    shape. Handlers others put on the root logger stay."""
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else HumanFormatter())
    hookd = logging.getLogger("hookd")
    hookd.handlers[:] = [handler]
    hookd.setLevel(level.upper())
    hookd.propagate = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
