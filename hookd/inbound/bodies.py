"""An inbound request's body as event data, read by its Content-Type (pure).

JSON as hookd.jsonvalue reads every event (exact integers, depth limit); forms as objects of strings;
multipart files as their name, type, size and base64 content; any other type as text when it decodes,
else as base64. What cannot be read is refused with RequestRefused: 400 naming the content type and
where it breaks, 415 for a declared charset hookd cannot decode.
"""

from __future__ import annotations

import base64
import codecs
import logging
from collections.abc import Sequence
from urllib.parse import parse_qsl

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from hookd import jsonvalue

CLOUDEVENT_TYPE = "application/cloudevents+json"
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"
# python-multipart logs a warning for each malformed body before raising: one line per request, not
# rate-limited like hookd's own rejections, and saying again what RequestRefused says.
logging.getLogger("python_multipart.multipart").setLevel(logging.ERROR)


# Defined here, where most refusals come from, and re-exported by hookd.inbound.mapping (where callers
# import it from), so that the two modules do not import each other.
class RequestRefused(Exception):
    """The request cannot become an event: answered with `status` (400, 415) and str() as the reason
    (a sentence for the sender and `hookd history rejections`, never quoting a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


JSON_TYPE = "application/json"


def media_type(content_type: str | None) -> str:
    """The lower-cased media type without parameters; "" when there is none."""
    if content_type == JSON_TYPE:
        return JSON_TYPE  # nearly every webhook: nothing to parse
    return parse_options_header(content_type)[0].decode("latin-1")


def is_cloudevent(content_type: str | None) -> bool:
    """Whether the body is one CloudEvent in structured mode, to be unwrapped as on the socket."""
    return media_type(content_type) == CLOUDEVENT_TYPE


def parse_body(content_type: str | None, body: bytes) -> object:
    """The event data of `body` sent as `content_type`; None for an empty body."""
    if not body:
        return None
    if content_type == JSON_TYPE:
        mtype, charset = JSON_TYPE, "utf-8"  # nearly every webhook: nothing to parse
    else:
        kind, options = parse_options_header(content_type)
        mtype = kind.decode("latin-1")
        charset = _charset(mtype, options.get(b"charset"))
    if mtype == "application/json" or mtype.endswith("+json"):
        if charset != "utf-8":
            # JSON exchanged between systems is UTF-8 (RFC 8259 section 8.1); jsonvalue reads only that.
            raise RequestRefused(415, f"the {mtype} body must be UTF-8, not {charset}; send it as UTF-8")
        try:
            # A CloudEvent's attributes are its top level: one written twice is refused, as on the socket.
            return jsonvalue.loads(body, unique_keys=mtype == CLOUDEVENT_TYPE)
        except jsonvalue.JsonValueError as e:
            raise RequestRefused(400, f"the {mtype} body cannot be read: {e}") from None
    if mtype == FORM_TYPE:
        return _form(body, charset)
    if mtype == MULTIPART_TYPE:
        boundary = options.get(b"boundary")
        if not boundary:
            raise RequestRefused(400, f"the {MULTIPART_TYPE} body has no boundary in its Content-Type; add one")
        return _multipart(body, boundary)
    return _text_or_bytes(content_type, body, charset)


def _charset(mtype: str, declared: bytes | None) -> str:
    """The codec's canonical name for the declared charset (utf-8 when none is declared)."""
    if declared is None:
        return "utf-8"
    name = declared.decode("latin-1").strip().lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise RequestRefused(
            415, f"the {mtype or 'body'} Content-Type declares charset {name!r}, which hookd cannot decode; send UTF-8"
        ) from None


# Fields (or parts) of a form body: a form with more is not a webhook, and each costs time to read
# and room in the event (2 million empty pairs took 1.5 s of the worker).
MAX_FIELDS = 10_000


def _form(body: bytes, charset: str) -> dict[str, object]:
    try:
        text = body.decode(charset)
    except UnicodeDecodeError as e:
        raise RequestRefused(
            400, f"the {FORM_TYPE} body is not {charset} at byte {e.start}; percent-encode the fields as {charset}"
        ) from None
    if text.count("&") >= MAX_FIELDS:
        raise RequestRefused(413, f"the {FORM_TYPE} body has more than {MAX_FIELDS} fields")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise RequestRefused(
            400,
            f"a percent-encoded name or value in the {FORM_TYPE} body is not {charset}; encode the fields as {charset}",
        ) from None
    return _grouped(pairs)


def _grouped(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    """Name -> value, and name -> [values] for a name given more than once, in order."""
    out: dict[str, object] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
        elif isinstance(listed := out[name], list):
            listed.append(value)
        else:
            out[name] = [listed, value]
    return out


def _multipart(body: bytes, boundary: bytes) -> dict[str, object]:
    parts: list[tuple[list[tuple[bytes, bytes]], bytearray]] = []
    header_name = bytearray()
    header_value = bytearray()
    ended = False

    def part_begin() -> None:
        if len(parts) >= MAX_FIELDS:
            raise RequestRefused(413, f"the {MULTIPART_TYPE} body has more than {MAX_FIELDS} parts")
        parts.append(([], bytearray()))

    def header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def header_value_part(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def header_end() -> None:
        parts[-1][0].append((bytes(header_name).lower(), bytes(header_value)))
        header_name.clear()
        header_value.clear()

    def part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    def end() -> None:
        nonlocal ended
        ended = True

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": part_begin,
            "on_header_field": header_field,
            "on_header_value": header_value_part,
            "on_header_end": header_end,
            "on_part_data": part_data,
            "on_end": end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as e:
        raise RequestRefused(400, f"the {MULTIPART_TYPE} body cannot be read: {e}") from None
    if not ended:
        raise RequestRefused(400, f"the {MULTIPART_TYPE} body ends before its closing boundary; send the whole body")
    fields: list[tuple[str, object]] = []
    for number, (headers, content) in enumerate(parts, start=1):
        fields.append(_multipart_field(number, dict(headers), bytes(content)))
    return _grouped(fields)


def _multipart_field(number: int, headers: dict[bytes, bytes], content: bytes) -> tuple[str, object]:
    disposition, options = parse_options_header(headers.get(b"content-disposition", b"").decode("latin-1"))
    name = options.get(b"name")
    if disposition != b"form-data" or name is None:
        raise RequestRefused(
            400, f'part {number} of the {MULTIPART_TYPE} body has no Content-Disposition: form-data; name="..."'
        )
    part_type = headers[b"content-type"].decode("latin-1") if b"content-type" in headers else None
    field_name = name.decode("utf-8", "replace")  # browsers send names in UTF-8; never refused for one
    filename = options.get(b"filename")
    if filename is not None:
        return field_name, {
            "filename": filename.decode("utf-8", "replace"),
            "content_type": part_type,
            "size": len(content),
            "content_base64": base64.b64encode(content).decode("ascii"),
        }
    charset = _charset(media_type(part_type), parse_options_header(part_type)[1].get(b"charset"))
    return field_name, _text_or_bytes(part_type, content, charset)


def _text_or_bytes(content_type: str | None, body: bytes, charset: str) -> object:
    try:
        return body.decode(charset)
    except UnicodeDecodeError:
        return {
            "content_type": content_type,
            "size": len(body),
            "content_base64": base64.b64encode(body).decode("ascii"),
        }
