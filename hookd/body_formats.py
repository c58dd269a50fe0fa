"""The encodings a hook's `format:` names: from a rendered value (or the event) to body bytes (pure).

hookd.rendering picks one per hook and puts its Content-Type on the request; the encoders here know
nothing of hooks or templates. A value that an encoding cannot carry raises FormatError with a
sentence saying what to change, which rendering reports as a render error (final for the delivery).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

from hookd import jsonvalue

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
TEXT = "text/plain; charset=utf-8"
CLOUDEVENT = "application/cloudevents+json"  # structured mode (the JSON event format)
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"  # a JSON array of structured events

SPECVERSION = "1.0"
# Of every ce-* header together: HTTP servers commonly take about 8 KB of headers in all.
MAX_CE_HEADER_BYTES = 6144
# The `source` of an event that has none (CloudEvents requires one): a URI naming the hook that sent
# it, so an id and source pair stays unique per receiver. Events that set `source` keep theirs.
NO_SOURCE_PREFIX = "urn:hookd:hook:"
# The CloudEvents HTTP binding: a ce-* header value is percent-encoded in UTF-8, every character
# outside printable ASCII (U+0021-U+007E) and space, '"' and '%' (upper-case hex). Everything else of
# printable ASCII is left as it is: quote() encodes what is not in `safe` (nor a letter, digit or _.-~).
_CE_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


# What an envelope holds besides extension attributes: its own fields, and the attributes sent from
# elsewhere (datacontenttype is always application/json: hookd sends data as JSON).
_ENVELOPE_KEYS = frozenset(
    {"id", "type", "time", "source", "data", "specversion", "subject", "dataschema", "datacontenttype", "data_base64"}
)
# The CloudEvents naming rule for attributes: lower-case ASCII letters and digits.
_EXTENSION_NAME = re.compile(r"[a-z0-9]+")


class FormatError(Exception):
    """The value cannot be encoded in this format: the message is a sentence saying what to change."""


def _scalar_text(value: object) -> str:
    """A form field's text: strings as they are, true/false, numbers as JSON writes them, null empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return jsonvalue.dumps(value).decode()


def _is_scalar(value: object) -> bool:
    return not isinstance(value, dict | list)


def form_body(value: object) -> bytes:
    """application/x-www-form-urlencoded of an object, its keys in order: a scalar field is its text,
    a list of scalars repeats the key once per item (none for an empty list), and an object or a
    list holding one is sent as its JSON text. Raises FormatError, and nothing else, for anything but
    an object and for a field the encoding cannot carry (naming the field)."""
    if not isinstance(value, dict):
        raise FormatError(
            f"format form sends an object's fields as key=value pairs, and this rendered to {jsonvalue.kind(value)}; "
            "make payload an object, like {order: '{{ data.id }}', total: '{{ data.total }}'}"
        )
    encoded: list[str] = []
    for key, field in value.items():
        try:
            name = _form_text(key, "the field's name")
            encoded.extend(f"{name}={_form_text(text, 'the value')}" for text in _field_texts(field))
        except FormatError as e:
            raise FormatError(f"form field {key!r}: {e}") from None  # repr escapes a lone surrogate
    return "&".join(encoded).encode("ascii")


def _field_texts(field: object) -> list[str]:
    """The texts one form field sends: one per item of a list of scalars, else one."""
    try:
        if isinstance(field, list) and all(_is_scalar(item) for item in field):
            return [_scalar_text(item) for item in field]
        if isinstance(field, dict | list):
            return [jsonvalue.dumps(field).decode()]
        return [_scalar_text(field)]
    except jsonvalue.JsonValueError as e:  # nested past what JSON writers take, or not JSON at all
        raise FormatError(str(e)) from None
    except UnicodeEncodeError as e:  # a lone surrogate beside a big integer (jsonvalue's exact writer)
        raise FormatError(_not_utf8(e)) from None


def _form_text(text: str, what: str) -> str:
    """quote_plus: a space is `+`, everything but letters, digits and _.-~ is %XX of its UTF-8 bytes."""
    try:
        return quote_plus(text)
    except UnicodeEncodeError as e:
        raise FormatError(_not_utf8(e, what)) from None


def _not_utf8(e: UnicodeEncodeError, what: str = "the value") -> str:
    """The sentence for text holding a character UTF-8 has no form for (a lone half of a surrogate pair)."""
    return f"{what} holds U+{ord(e.object[e.start]):04X}, which UTF-8 cannot carry"


def text_body(text: str) -> bytes:
    """UTF-8 text. Raises FormatError for text UTF-8 cannot carry (a lone surrogate)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FormatError(f"the text holds U+{ord(text[e.start]):04X}, which UTF-8 cannot carry") from None


def event_source(event: Mapping[str, object], hook: str) -> str:
    """The event's CloudEvents `source`: its own, or the hook's URN when it has none."""
    source = event.get("source")
    return source if isinstance(source, str) and source else NO_SOURCE_PREFIX + hook


def _text(event: Mapping[str, object], key: str) -> str:
    value = event.get(key)
    return value if isinstance(value, str) else ""


def attributes(event: Mapping[str, object], hook: str) -> dict[str, object]:
    """The CloudEvents context attributes of the event envelope `event`, in the order they are sent:
    specversion, id, source, type, subject and dataschema (when the event has them), time, then the
    extension attributes of an event that came in as a CloudEvent, so a forwarded event keeps its
    traceparent, partitionkey and the like."""
    attrs: dict[str, object] = {
        "specversion": SPECVERSION,
        "id": _text(event, "id"),
        "source": event_source(event, hook),
        "type": _text(event, "type"),
    }
    for optional in ("subject", "dataschema"):
        value = event.get(optional)
        if isinstance(value, str) and value:
            attrs[optional] = value
    attrs["time"] = _text(event, "time")
    for name, value in event.items():
        if name not in _ENVELOPE_KEYS and _EXTENSION_NAME.fullmatch(name) and _is_extension_value(value):
            attrs[name] = value
    return attrs


def _is_extension_value(value: object) -> bool:
    """A value an extension attribute can have in both modes: a string, an integer (CloudEvents' Integer
    is 32-bit) or a boolean (the JSON format's types for them; binary mode sends their text)."""
    if isinstance(value, bool | str):
        return True
    return isinstance(value, int) and -(2**31) <= value < 2**31


def structured_event(event: Mapping[str, object], hook: str, data: object) -> dict[str, object]:
    """The CloudEvents 1.0 JSON event format of `event` carrying `data` (a JSON value, so
    datacontenttype is application/json and data is inline, never a string of JSON)."""
    return {**attributes(event, hook), "datacontenttype": JSON, "data": data}


def percent_encode(value: str) -> str:
    """A ce-* header value as the CloudEvents HTTP binding encodes it: `Euro € 😀` is
    `Euro%20%E2%82%AC%20%F0%9F%98%80`. Raises FormatError for a lone surrogate."""
    try:
        return quote(value, safe=_CE_SAFE)
    except UnicodeEncodeError as e:
        raise FormatError(f"the value holds U+{ord(value[e.start]):04X}, which UTF-8 cannot carry") from None


def binary_headers(event: Mapping[str, object], hook: str) -> dict[str, str]:
    """The ce-* headers of binary mode: one per attribute, percent-encoded. Raises FormatError."""
    headers = {}
    size = 0
    for name, value in attributes(event, hook).items():
        text = (
            value
            if isinstance(value, str)
            else ("true" if value is True else "false" if value is False else str(value))
        )
        try:
            headers[f"ce-{name}"] = percent_encode(text)
        except FormatError as e:
            raise FormatError(f"ce-{name}: {e}") from None
        size += len(name) + 5 + len(headers[f"ce-{name}"])  # "ce-" and ": "
        if size > MAX_CE_HEADER_BYTES:
            raise FormatError(
                f"the event's CloudEvents attributes make more than {MAX_CE_HEADER_BYTES:,} bytes of ce-* headers, "
                "more than HTTP servers commonly take; the event's producer should send fewer or shorter extension "
                "attributes, or use format cloudevents, which carries them in the body"
            )
    return headers
