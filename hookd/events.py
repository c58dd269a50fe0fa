"""Events: the one shape every source produces, parsed from raw JSON (pure).

An event is a JSON object with `type` (required), `id`, `time`, `source` and `data`. CloudEvents 1.0
structured JSON is accepted as-is (`specversion` present). The envelope stored and sent by default
is the normalised object {id, type, time, source, data} serialised once, here.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from hookd import jsonvalue
from hookd.errors import EventError
from hookd.ids import uuid7
from hookd.look_alikes import reads_as as reads_as  # re-exported: how a type or source is read
from hookd.look_alikes import reads_as_exactly, reads_as_starting_with
from hookd.units import format_size

MAX_ID_LENGTH = 200
MAX_TYPE_LENGTH = 200  # characters, as an http source's event_type
# RFC 3339 date-time; datetime.fromisoformat alone also takes ISO 8601 forms such as 20260131T120000Z,
# 2026-W05-1T12:00Z or 2026-01-31T12Z, which would then be stored and sent as they are.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)
_JSON_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"}
_PLAIN_KEYS = frozenset({"id", "type", "time", "source", "data"})
# hookd's own events (alerts, hookd.alerts) are of the built-in source `hookd`, with types under
# `hookd.`: a producer may use neither, nor anything that reads as them (hookd.look_alikes), so a hook
# listening for `hookd.*` hears only hookd itself and no log line or payload passes for its alerts.
RESERVED_SOURCE = "hookd"
RESERVED_PREFIX = "hookd."
# C0 and C1 controls and DEL: in an id, type or source they would reach a header (webhook-id) or a
# line of the log or of `hookd history` as a raw newline or escape sequence. The line and paragraph
# separators U+2028 and U+2029 break lines for some readers and are refused in headers; the bidi
# controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) make an id read as another
# (`abc\u202egpj.exe` shows as `abcexe.jpg`). isprintable() is the cheap first test: every one of
# them is unprintable (so are a few others, which pass).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


# What filters, templates and an http source's event_type/event_id read the inbound request as. Not
# a key of any envelope (an event's top-level fields are fixed, and a CloudEvents extension by this
# name is refused), so no producer on a socket or in a file can pass for an inbound request.
REQUEST_KEY = "request"


class Inbound:
    """What an http source keeps beside an event's envelope, never in it: the default body sent out
    stays the envelope, so no receiver gets inbound headers unasked.

    The request is kept as a dict or as its JSON, whichever it was made from (the http worker sends
    the JSON, which is what the store writes), and made into the other only when asked for."""

    __slots__ = ("_request", "_request_json", "_scope", "raw_body", "verification")

    def __init__(
        self,
        request: dict[str, object] | None,
        raw_body: bytes,
        verification: dict[str, object] | None,
        *,
        request_json: bytes | None = None,
    ) -> None:
        # {method, path, headers (lower-cased), query, params, remote_ip}, credentials removed
        self._request = request
        self._request_json = request_json
        self.raw_body = raw_body  # exactly as received (a hook's `forward: {body: raw}` sends these)
        self.verification = verification  # hookd.inbound.verify.Verdict.as_json(); None: no verify
        self._scope: dict[str, object] | None = None

    @property
    def request(self) -> dict[str, object]:
        if self._request is None:
            loaded = orjson.loads(self._request_json or b"{}")
            self._request = loaded if isinstance(loaded, dict) else {}
        return self._request

    @property
    def request_json(self) -> bytes:
        if self._request_json is None:
            self._request_json = orjson.dumps(self._request)
        return self._request_json

    def scope(self, envelope: dict[str, object]) -> dict[str, object]:
        """The envelope's fields and `request`: what filters and templates see (made once)."""
        if self._scope is None:
            scope = dict(envelope)
            scope[REQUEST_KEY] = self.request
            self._scope = scope
        return self._scope


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True)
class Event:
    id: str
    type: str
    time: str  # RFC 3339, UTC when hookd assigned it
    source: str | None  # the producer's `source` field, if any
    envelope: dict[str, object]  # the event's fields: stored, sent by default
    body: bytes  # the envelope as JSON: stored, and sent when a hook has no payload template
    inbound: Inbound | None = None  # set for events an http source received

    @property
    def scope(self) -> dict[str, object]:
        """What filters and templates see: the envelope, and `request` for an inbound event."""
        return self.envelope if self.inbound is None else self.inbound.scope(self.envelope)


def with_inbound(
    event: Event, request: dict[str, object], raw_body: bytes, verification: dict[str, object] | None
) -> Event:
    """`event` as an http source received it, with the request kept beside the envelope."""
    event.inbound = Inbound(request, raw_body, verification)
    return event


_second_prefix: tuple[int, str] = (-1, "")  # the last whole second formatted: one event in thousands pays for it


def utc_now_rfc3339(now: float | None = None) -> str:
    """Like datetime.isoformat(timespec="milliseconds") in UTC with a Z (milliseconds truncated)."""
    global _second_prefix
    moment = time.time() if now is None else now
    second = math.floor(moment)
    cached, prefix = _second_prefix
    if second != cached:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_prefix = (second, prefix)
    return f"{prefix}.{int((moment - second) * 1000):03d}Z"


def size_limit(max_bytes: int) -> str:
    """The limit as rejections name it: in bytes, and as configured when that was a unit (10MB)."""
    short = format_size(max_bytes)
    configured = "" if short == f"{max_bytes}B" else f": {short}"
    return f"the limit of {max_bytes} bytes (max_event_size{configured})"


def parse_event_line(line: bytes | str, *, max_bytes: int, now: float | None = None) -> Event:
    """One event from one line of JSON, as a producer sends it (a source, `hookd replay --from-file`):
    hookd's reserved type prefix and source name are refused. Raises EventError saying what is wrong
    and how to fix it.

    Values are kept exactly (see hookd.jsonvalue): integers of any size, at most MAX_DEPTH levels of
    nesting, no number that overflows, no top-level key twice (inside `data` the last one wins).
    """
    size = len(line.encode()) if isinstance(line, str) else len(line)
    if size > max_bytes:
        raise EventError(f"event is {size} bytes, over {size_limit(max_bytes)}")
    try:
        value = jsonvalue.loads(line, unique_keys=True)
    except jsonvalue.JsonValueError as e:
        raise EventError(str(e)) from None
    return event_from_object(value, now=now, checked=True, produced=True)


def event_from_object(
    value: object, *, now: float | None = None, checked: bool = False, produced: bool = False
) -> Event:
    """The event `value` describes. `checked` says `value` came from jsonvalue.loads, which already
    refused what cannot be kept exactly; otherwise (YAML, --data) it is checked here. `produced`: it
    comes from a producer, which may not use hookd's reserved type prefix or source name (`hookd
    test` may: it routes a `hookd.*` event to try an alert hook)."""
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else _JSON_KINDS.get(type(value), type(value).__name__)
        raise EventError(f'an event must be a JSON object with a "type", not {kind}')
    if not checked:
        try:
            jsonvalue.check_value(value)
        except jsonvalue.JsonValueError as e:
            raise EventError(str(e)) from None
    cloud = "specversion" in value
    raw_id = value.get("id")
    event_id = raw_id if isinstance(raw_id, str) else None
    # First, so that no later error names an id that would forge a log line.
    if event_id is not None:
        if (control := _control_text(event_id)) is not None:
            raise EventError(f'"id" {control}; ids are sent in the webhook-id header')
        if event_id.strip() != event_id:
            raise EventError(
                '"id" starts or ends with whitespace, which HTTP would trim from the webhook-id header, so the '
                "receiver would see another id; remove it"
            )
    if cloud:
        _check_cloudevent(value, event_id)
    else:
        if not _PLAIN_KEYS.issuperset(value):
            unknown = sorted(set(value) - _PLAIN_KEYS)
            raise EventError(
                f"unknown top-level field(s) {', '.join(map(repr, unknown))}; an event has type, id, time, "
                'source and data: put your fields under "data"',
                event_id=event_id,
            )
    etype = value.get("type")
    if not isinstance(etype, str) or not etype.strip():
        problem = "is missing" if etype is None else "must be a non-empty string"
        raise EventError(f'"type" {problem}; every event needs a type like "order.created"', event_id=event_id)
    if (control := _control_text(etype)) is not None:
        raise EventError(f'"type" {control}; use a name like "order.created"', event_id=event_id)
    if len(etype) > MAX_TYPE_LENGTH:
        # Each hook's globs, and each `hookd tail` reader's, are matched against it for every event.
        raise EventError(
            f'"type" is {len(etype):,} characters, over {MAX_TYPE_LENGTH}; use a name like "order.created"',
            event_id=event_id,
        )
    if produced and reads_as_starting_with(etype, RESERVED_PREFIX):
        looks = "starts" if etype.startswith(RESERVED_PREFIX) else f"reads as starting (as {_READS_AS_WHY})"
        raise EventError(
            f'"type" {etype!r} {looks} with {RESERVED_PREFIX!r}, which is reserved for hookd\'s own events (alerts); '
            'give your event a type of your own, like "order.created"',
            event_id=event_id,
        )
    if raw_id is not None and (not isinstance(raw_id, str) or not raw_id or len(raw_id) > MAX_ID_LENGTH):
        raise EventError(f'"id" must be a non-empty string of at most {MAX_ID_LENGTH} characters')
    raw_time = value.get("time")
    if raw_time is None:
        etime = utc_now_rfc3339(now)
    elif isinstance(raw_time, str) and _is_rfc3339(raw_time):
        etime = raw_time
    else:
        # Errors name the producer's id only: an id hookd would have assigned was never stored.
        raise EventError(
            f'"time" must be an RFC 3339 timestamp like "2026-01-31T12:00:00Z", not {raw_time!r}', event_id=event_id
        )
    source = value.get("source")
    if source is not None and not isinstance(source, str):
        raise EventError('"source" must be a string', event_id=event_id)
    if source is not None and (control := _control_text(source)) is not None:
        raise EventError(f'"source" {control}; use a name or URI like "shop/orders"', event_id=event_id)
    if produced and source is not None and reads_as_exactly(source, RESERVED_SOURCE):
        looks = "" if source == RESERVED_SOURCE else f" reads as {RESERVED_SOURCE!r} (as {_READS_AS_WHY}) and"
        raise EventError(
            f'"source" {source!r}{looks} is reserved for hookd\'s own events (alerts); name your producer '
            'otherwise, like "shop/orders"',
            event_id=event_id,
        )
    if event_id is None:
        event_id = uuid7()
    envelope: dict[str, object] = {
        "id": event_id,
        "type": etype,
        "time": etime,
        "source": source,
        "data": value.get("data"),
    }
    if cloud:
        # Keep the CloudEvents attributes beside the envelope so templates can reach them.
        envelope["specversion"] = value["specversion"]
        for key, attr in value.items():
            if key not in envelope:
                envelope[key] = attr
    try:
        body = jsonvalue.dumps(envelope)
    except jsonvalue.JsonValueError as e:  # a value built in code, not read: checked above, kept as a guard
        raise EventError(str(e), event_id=event_id) from None
    return Event(id=event_id, type=etype, time=etime, source=source, envelope=envelope, body=body)


_READS_AS_WHY = (
    "a person reads it, ignoring letter case, look-alike and invisible characters, accents and other marks, and spaces"
)


def _control_text(text: str) -> str | None:
    """Which control character a field holds, and where, without printing it raw; None if it holds none."""
    if text.isprintable():
        return None  # the cheap test, and true for nearly every field
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"holds the control character U+{ord(found.group()):04X} at character {found.start() + 1}"


def _check_cloudevent(value: dict[str, object], event_id: str | None) -> None:
    if value.get("specversion") != "1.0":
        raise EventError(f"unsupported CloudEvents specversion {value.get('specversion')!r}; hookd reads 1.0")
    for attr in ("id", "source", "type"):
        if not isinstance(value.get(attr), str) or not value.get(attr):
            raise EventError(f'a CloudEvent needs a non-empty string "{attr}"', event_id=event_id)
    if REQUEST_KEY in value:
        # Kept beside the envelope, an attribute by this name would read as the inbound request that
        # filters, templates and event_type see as `request`, in an event that never came over HTTP.
        raise EventError(
            f'a CloudEvent cannot carry an extension attribute named "{REQUEST_KEY}": hookd keeps that name for '
            "the HTTP request an http source received; rename the attribute",
            event_id=event_id,
        )
    if "data_base64" in value:
        raise EventError("CloudEvents data_base64 is not supported; send JSON data", event_id=event_id)


def _is_rfc3339(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    if text[17:19] == "60":
        # A leap second (RFC 3339 allows :60): valid wherever :59 is; kept as sent.
        text = text[:17] + "59" + text[19:]
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return False
    return parsed.tzinfo is not None
