"""JSON in and out for event data: values arrive exactly as sent, or are refused with a reason (pure).

Every place that parses or serialises event data (intake, stored bodies, templates, history, the
client) goes through `loads` and `dumps`, so they agree on these rules:

- Nesting: at most MAX_DEPTH levels of arrays and objects, counting the outermost one. Deeper input
  is refused at intake, so nothing stored can later fail to serialise (orjson writes at most 254
  levels and reads at most 1,024).
- Integers of any size are kept exactly. orjson reads an integer outside the 64-bit range as a
  float and cannot write one, so a text with a run of 19 or more digits, and a value holding such
  an integer, take the exact path: Python's json module, which reads and writes big integers as
  they are. Most events never have such a run and stay on the fast path (orjson).
- Fractional numbers are IEEE doubles, rounded as every JSON stack rounds them; one that overflows
  a double (1e400) is refused, naming the field.
- Duplicate keys: where the caller asks (an event's top level), a repeated key is refused; elsewhere
  the last one wins. Compact text that orjson writes back byte for byte has neither a repeat nor a
  big integer, which settles most events at the cost of one write. Otherwise each top-level key's
  spelling is counted in the text and in the compact form of the values; the exact parse runs only
  when the text has it more than once outside them, or when a `\\u00XX` escape could spell it
  differently.
- Invalid UTF-8 is reported with its byte offset.
"""

from __future__ import annotations

import json
import math
import re

import orjson

MAX_DEPTH = 64
"""Most levels of arrays and objects one JSON value may nest, counting the outermost (an event's own
object is level 1). Real events nest a handful of levels; 64 leaves a template another 64 before the
result reaches 128, the default limit of common strict parsers (Rust's serde_json), and stays far
below what orjson (254) and Python's recursion limit can handle."""

_ORJSON_WRITE_DEPTH = 254  # orjson.dumps raises "Recursion limit reached" past this
# An integer outside [-2**63, 2**64) has at least 19 digits. Mapping every digit to "0" and anything
# else to a space, then looking for 19 zeros, costs a fraction of a regular expression's search.
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_NINETEEN_DIGITS = b"0" * 19
_ASCII_ESCAPE = re.compile(rb"\\u00[0-7]")  # \u0069 spells "i": a key written another way
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_INT_DIGITS_LIMIT = 4300  # Python's default int/str conversion limit (sys.get_int_max_str_digits)
_KEY_NEEDLES = {key: f'"{key}"'.encode() for key in ("id", "type", "time", "source", "data", "specversion")}
_NO_ESCAPE_NEEDED = frozenset('"\\/')
_LONE_SURROGATE = "invalid JSON: a \\u escape is half of a UTF-16 surrogate pair"


class JsonValueError(ValueError):
    """A JSON text or value hookd will not take or cannot write; the message says what and where."""


class JsonSyntaxError(JsonValueError):
    """The text is not JSON at all (or not UTF-8), as opposed to JSON that hookd refuses."""


def loads(data: bytes | str, *, unique_keys: bool = False) -> object:
    """The value of one JSON text, exactly.

    With `unique_keys`, a key repeated in the top-level object (or, when the text is an array, in
    any object directly in it) is refused. Raises JsonValueError with a sentence saying why.
    """
    raw = data if isinstance(data, bytes) else _encode(data)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if not str(e.msg).startswith("number is infinity"):
            raise _decode_error(raw, e) from None
        # A number too big for a double: an integer (kept exactly) or an overflow (refused by name).
        # orjson stopped there, so the exact path checks the rest of the text itself.
        return _exact_loads(raw, unique_keys=unique_keys, checked=False)
    if (raw.count(b"[") + raw.count(b"{") > MAX_DEPTH) and nested_deeper_than(value, MAX_DEPTH):
        raise JsonValueError(too_deep_text())
    try:
        if orjson.dumps(value) == raw:
            # Compact JSON as most producers write it: no repeated key (it would be missing here) and
            # no integer turned into a float (it would be spelt as one), so nothing else to check.
            return value
    except orjson.JSONEncodeError:
        pass  # nested too deep to write (only with a raised MAX_DEPTH): the checks below decide
    repeats_possible = unique_keys and _maybe_repeated(value, raw)
    if repeats_possible or _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZEROS):
        value = _exact_loads(raw, unique_keys=repeats_possible)
    return value


def dumps(value: object, *, indent: bool = False) -> bytes:
    """`value` as compact JSON (indented by 2 with `indent`), integers of any size exact.

    Raises JsonValueError when the value cannot be written: nested past what can be serialised,
    or not JSON (a NaN beside a big integer, a Python object).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else None)
    except orjson.JSONEncodeError as e:
        reason = str(e)
    if reason.startswith("Recursion limit"):
        raise JsonValueError(f"the value is nested more than {_ORJSON_WRITE_DEPTH} levels deep and cannot be written")
    if not reason.startswith("Integer exceeds"):
        raise JsonValueError(f"the value cannot be written as JSON: {reason}")
    try:
        text = json.dumps(
            value, ensure_ascii=False, allow_nan=False, indent=2 if indent else None, separators=_separators(indent)
        )
    except (TypeError, ValueError, RecursionError) as e:
        raise JsonValueError(f"the value cannot be written as JSON: {e}") from None
    return text.encode()


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether `value` has arrays or objects more than `limit` levels deep (the value itself is level 1).

    Level by level, never recursive, so any depth is safe to ask about.
    """
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
    return bool(level)


def too_deep_text(limit: int = MAX_DEPTH) -> str:
    return (
        f"nested more than {limit} levels deep (arrays and objects, counting the outermost), over hookd's nesting "
        f"limit of {limit}; flatten the data or send its deep part as a JSON string"
    )


def check_value(value: object) -> None:
    """Refuse a value built elsewhere (YAML, code) that `loads` would have refused: too deep, or a
    number that is not finite. Walks the whole value: not for the hot path."""
    if nested_deeper_than(value, MAX_DEPTH):
        raise JsonValueError(too_deep_text())
    path = _non_finite_path(value)
    if path is not None:
        raise JsonValueError(f"{path_text(path)} is not a finite number; JSON has no infinity or NaN")


def path_text(path: tuple[str | int, ...]) -> str:
    """`data.items[2].price`; keys that are not plain names quoted: `data["a b"]`."""
    if not path:
        return "the value"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier() and part.isascii():
            out += f".{part}" if out else part
        else:
            out += f"[{orjson.dumps(part).decode()}]"
    return out


# -- the exact path ----------------------------------------------------------------------------------


class _ExactDecoder:
    """Python's json module, which keeps integers of any size, noting repeated keys and overflowing
    numbers as it goes so that the checks after it can name them."""

    def __init__(self, *, repeats: bool = True, overflows: bool = True) -> None:
        """Without `repeats` or `overflows` (known not to matter), objects and floats are built in C."""
        self.repeats: list[tuple[dict[str, object], str]] = []
        self.overflows: list[str] = []
        self.decoder = json.JSONDecoder(
            object_pairs_hook=self._pairs_to_dict if repeats else None,
            parse_float=self._parse_float if overflows else None,
            parse_constant=_no_constant,
        )

    def _pairs_to_dict(self, pairs: list[tuple[str, object]]) -> dict[str, object]:
        d = dict(pairs)
        if len(d) != len(pairs):
            self.repeats.append((d, _first_repeated(pairs)))
        return d

    def _parse_float(self, text: str) -> float:
        number = float(text)
        if math.isinf(number):
            self.overflows.append(text)
        return number

    def raw_decode(self, text: str, pos: int, *, whole: bool = False) -> tuple[object, int]:
        """The value at `pos` (with `whole`, the whole text as one value) and where it ends. Raises
        json.JSONDecodeError for bad syntax, JsonValueError for the rest."""
        try:
            return (self.decoder.decode(text), len(text)) if whole else self.decoder.raw_decode(text, pos)
        except RecursionError:
            raise JsonValueError(too_deep_text()) from None
        except json.JSONDecodeError:
            raise
        except ValueError as e:  # the syntax is right: an integer over Python's digit limit, or NaN/Infinity
            if "digits" not in str(e):
                raise JsonValueError(f"invalid JSON: {e}") from None
            raise JsonValueError(
                f"an integer has more than {_INT_DIGITS_LIMIT} digits, more than hookd reads; send it as a string"
            ) from None

    def check(self, value: object, *, unique_keys: bool, depth: bool = True) -> None:
        if depth and nested_deeper_than(value, MAX_DEPTH):
            raise JsonValueError(too_deep_text())
        if self.overflows:
            path = _non_finite_path(value)
            raise JsonValueError(
                f"{path_text(path) if path is not None else 'a number'} is {self.overflows[0]}, which overflows a "
                "64-bit float (the largest is about 1.8e308); send it as a string, or as an integer without an exponent"
            )
        if unique_keys and self.repeats:
            checked = [value, *(value if isinstance(value, list) else ())]
            for obj, key in self.repeats:
                index = next((i for i, c in enumerate(checked) if c is obj), None)
                if index is not None:
                    where = f" of array item {index}" if index else ""
                    raise JsonValueError(
                        f"the key {orjson.dumps(key).decode()} appears more than once in the top-level object{where}; "
                        "send each field once (receivers differ on which copy they read)"
                    )


def raw_decode(text: str, pos: int = 0, *, unique_keys: bool = False) -> tuple[object, int]:
    """One JSON value starting at `pos` of `text` and where it ends, by the rules of `loads` (for
    files holding several values). Raises json.JSONDecodeError for bad syntax (it has the line and
    column), JsonValueError for a value hookd refuses."""
    exact = _ExactDecoder()
    value, end = exact.raw_decode(text, pos)
    exact.check(value, unique_keys=unique_keys)
    if _SURROGATE_ESCAPE_TEXT.search(text, pos, end) is not None and _has_lone_surrogate(value):
        raise JsonValueError(_LONE_SURROGATE)
    return value, end


def _exact_loads(raw: bytes, *, unique_keys: bool, checked: bool = True) -> object:
    """The exact parse of a text orjson accepted (so syntax, UTF-8, surrogates and depth are
    checked), or (not `checked`) one where orjson read a number as infinite: an integer too long
    for a double, kept here, or a fraction that overflows, refused here."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as bad:
        raise JsonSyntaxError(_utf8_text(raw, bad)) from None
    exact = _ExactDecoder(repeats=unique_keys, overflows=not checked)
    try:
        value, _ = exact.raw_decode(text, 0, whole=True)
    except json.JSONDecodeError as e:
        raise JsonSyntaxError(f"invalid JSON: {e}") from None
    if not checked and _SURROGATE_ESCAPE.search(raw) is not None and _has_lone_surrogate(value):
        raise JsonValueError(_LONE_SURROGATE)  # orjson refuses these; it stopped at the big number first
    exact.check(value, unique_keys=unique_keys, depth=not checked)
    return value


def _first_repeated(pairs: list[tuple[str, object]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return ""


def _maybe_repeated(value: object, raw: bytes) -> bool:
    """Whether a key of a checked object might be repeated. False means certainly not.

    A key's spelling `"k"` occurs in the text once per string token equal to k, key or value, at any
    level. The occurrences inside the object's values are those of their compact serialisation (same
    tokens, barring escapes), so the object holds the key once when the text has exactly one more.
    """
    if b"\\u00" in raw and _ASCII_ESCAPE.search(raw) is not None:
        return True  # a key might be spelt with an escape: only a parse can compare
    objects = value if isinstance(value, list) else (value,)
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        inside: bytes | None = None
        for key in obj:
            needle = _KEY_NEEDLES.get(key)
            if needle is None:
                if not (key.isascii() and key.isprintable()) or not _NO_ESCAPE_NEEDED.isdisjoint(key):
                    return True  # spelt with escapes or as raw UTF-8: only a parse can compare
                needle = f'"{key}"'.encode()
            count = raw.count(needle)
            if count == 1:
                continue
            if inside is None:
                try:
                    inside = orjson.dumps(list(obj.values()))
                except orjson.JSONEncodeError:
                    return True
            if count - inside.count(needle) != 1:
                return True
    return False


def _decode_error(raw: bytes, e: orjson.JSONDecodeError) -> JsonValueError:
    reason = str(e.msg)
    if reason.startswith("str is not valid UTF-8"):
        try:
            raw.decode()
        except UnicodeDecodeError as bad:
            return JsonSyntaxError(_utf8_text(raw, bad))
    if reason.startswith("depth limit exceeded"):
        return JsonValueError(too_deep_text())
    return JsonSyntaxError(f"invalid JSON: {e}")


def _has_lone_surrogate(value: object) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}


def kind(value: object) -> str:
    """A JSON value's type, as a message names it (`a string`, `an object`, `null`)."""
    return _KINDS.get(type(value), "a number")


def _utf8_text(raw: bytes, bad: UnicodeDecodeError) -> str:
    return f"invalid UTF-8 at byte {bad.start} (0x{raw[bad.start]:02x}); send UTF-8 text"


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _non_finite_path(value: object) -> tuple[str | int, ...] | None:
    stack: list[tuple[tuple[str | int, ...], object]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return path
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))
    return None


def _encode(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as e:
        raise JsonValueError(f"the text holds a lone surrogate at character {e.start}; send valid Unicode") from None


def _separators(indent: bool) -> tuple[str, str]:
    return (",", ": ") if indent else (",", ":")
