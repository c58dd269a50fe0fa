"""Parsing raw input into Events (hookd.events) and the ids given to events without one (hookd.ids)."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from hookd.errors import EventError
from hookd.events import MAX_ID_LENGTH, Event, event_from_object, parse_event_line, utc_now_rfc3339
from hookd.ids import uuid7

NOW = 1769860800.5  # 2026-01-31T12:00:00.500Z
NOW_TEXT = "2026-01-31T12:00:00.500Z"


def reason(value: object) -> str:
    with pytest.raises(EventError) as info:
        event_from_object(value, now=NOW)
    return info.value.reason


def is_uuid7(text: str) -> bool:
    parsed = uuid.UUID(text)
    return str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122


# -- plain events -----------------------------------------------------------------------------------


def test_plain_event_keeps_every_field_and_serialises_the_envelope_once() -> None:
    line = (
        b'{"id":"ord-1","type":"order.created","time":"2026-01-30T08:15:00Z",'
        b'"source":"shop","data":{"amount":120,"items":["a","b"]}}'
    )

    event = parse_event_line(line, max_bytes=1000, now=NOW)

    assert event == Event(
        id="ord-1",
        type="order.created",
        time="2026-01-30T08:15:00Z",
        source="shop",
        envelope={
            "id": "ord-1",
            "type": "order.created",
            "time": "2026-01-30T08:15:00Z",
            "source": "shop",
            "data": {"amount": 120, "items": ["a", "b"]},
        },
        body=(
            b'{"id":"ord-1","type":"order.created","time":"2026-01-30T08:15:00Z",'
            b'"source":"shop","data":{"amount":120,"items":["a","b"]}}'
        ),
    )


def test_only_type_is_required_and_the_rest_is_filled_in() -> None:
    event = parse_event_line('{"type":"user.signed_up"}', max_bytes=1000, now=NOW)

    assert is_uuid7(event.id)
    assert event.type == "user.signed_up"
    assert event.time == NOW_TEXT
    assert event.source is None
    assert event.envelope == {"id": event.id, "type": "user.signed_up", "time": NOW_TEXT, "source": None, "data": None}
    assert orjson.loads(event.body) == event.envelope


def test_events_without_id_get_distinct_ids() -> None:
    ids = {event_from_object({"type": "t"}, now=NOW).id for _ in range(50)}

    assert len(ids) == 50


def test_assigned_time_is_utc_with_milliseconds() -> None:
    assert utc_now_rfc3339(NOW) == NOW_TEXT
    assert utc_now_rfc3339(1769860800.0) == "2026-01-31T12:00:00.000Z"
    assert utc_now_rfc3339(0.0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00.123456Z",
        "2026-01-31T12:00:00.123456789Z",
        "2026-01-31T12:00:00+05:30",
        "2026-01-31T12:00:00-08:00",
        "2026-01-31t12:00:00z",
        "2016-12-31T23:59:60Z",  # a leap second, which RFC 3339 allows
        "2016-12-31T23:59:60.5+00:00",
    ],
)
def test_rfc3339_times_are_kept_as_written(text: str) -> None:
    event = event_from_object({"type": "t", "time": text}, now=NOW)

    assert event.time == text
    assert event.envelope["time"] == text


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-01-31",  # a date without a time
        "2026-01-31T12:00:00",  # no offset: local time of whom?
        "2026-01-31 12:00:00Z",  # a space is ISO 8601, not RFC 3339
        "2026-13-01T12:00:00Z",  # month 13
        "2026-02-30T12:00:00Z",  # no such day
        "20260131T120000Z",  # ISO 8601 basic format
        "2026-W05-6T12:00:00Z",  # ISO week date
        "2026-01-31T12Z",  # hour only
        "2026-01-31T12:00:61Z",  # no second 61
        "2026-01-31T12:60:00Z",  # no minute 60
        "",
        1769860800,
        False,
    ],
)
def test_times_that_are_not_rfc3339_are_rejected(value: object) -> None:
    with pytest.raises(EventError) as info:
        event_from_object({"id": "e1", "type": "t", "time": value}, now=NOW)

    assert info.value.reason == (f'"time" must be an RFC 3339 timestamp like "2026-01-31T12:00:00Z", not {value!r}')
    assert info.value.event_id == "e1"


@pytest.mark.parametrize("event", [{"type": "t", "time": "yesterday"}, {"type": "t", "source": 3}])
def test_a_rejected_event_without_an_id_is_not_given_one(event: dict[str, object]) -> None:
    # An id hookd assigns names a stored event; a rejected one was never stored.
    with pytest.raises(EventError) as info:
        event_from_object(event, now=NOW)

    assert info.value.event_id is None
    assert "(event " not in str(info.value)


def test_unknown_top_level_fields_are_rejected_with_the_fix() -> None:
    with pytest.raises(EventError) as info:
        event_from_object({"id": "e1", "type": "t", "amount": 5, "customer": "c"}, now=NOW)

    assert info.value.reason == (
        "unknown top-level field(s) 'amount', 'customer'; an event has type, id, time, source and data: "
        'put your fields under "data"'
    )
    assert str(info.value) == info.value.reason + " (event e1)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, '"type" is missing; every event needs a type like "order.created"'),
        ({"type": None}, '"type" is missing; every event needs a type like "order.created"'),
        ({"type": ""}, '"type" must be a non-empty string; every event needs a type like "order.created"'),
        ({"type": "   "}, '"type" must be a non-empty string; every event needs a type like "order.created"'),
        ({"type": 5}, '"type" must be a non-empty string; every event needs a type like "order.created"'),
        ({"type": "t", "id": ""}, '"id" must be a non-empty string of at most 200 characters'),
        ({"type": "t", "id": 17}, '"id" must be a non-empty string of at most 200 characters'),
        ({"type": "t", "id": "x" * 201}, '"id" must be a non-empty string of at most 200 characters'),
        ({"type": "t", "source": 3}, '"source" must be a string'),
        ([{"type": "t"}], 'an event must be a JSON object with a "type", not an array'),
        ("order.created", 'an event must be a JSON object with a "type", not a string'),
        (5, 'an event must be a JSON object with a "type", not a number'),
        (None, 'an event must be a JSON object with a "type", not null'),
        (True, 'an event must be a JSON object with a "type", not a boolean'),
    ],
)
def test_invalid_events_say_what_is_wrong(value: object, expected: str) -> None:
    assert reason(value) == expected


def test_an_id_of_the_maximum_length_is_accepted() -> None:
    long_id = "x" * MAX_ID_LENGTH

    assert event_from_object({"type": "t", "id": long_id}, now=NOW).id == long_id


def test_invalid_json_is_an_event_error() -> None:
    with pytest.raises(EventError) as info:
        parse_event_line(b'{"type": "t",', max_bytes=1000)

    assert info.value.reason.startswith("invalid JSON: ")
    assert info.value.event_id is None


# -- size limit -----------------------------------------------------------------------------------


def test_a_line_at_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    line = b'{"type":"t","data":"' + b"x" * 100 + b'"}'

    assert parse_event_line(line, max_bytes=len(line), now=NOW).envelope["data"] == "x" * 100
    with pytest.raises(EventError) as info:
        parse_event_line(line, max_bytes=len(line) - 1, now=NOW)
    assert info.value.reason == (
        f"event is {len(line)} bytes, over the limit of {len(line) - 1} bytes (max_event_size)"
    )


def test_the_limit_counts_bytes_not_characters_for_text_lines() -> None:
    line = '{"type":"t","data":"' + "€" * 10 + '"}'  # 32 characters, 52 bytes in UTF-8
    size = len(line.encode())
    assert (len(line), size) == (32, 52)

    with pytest.raises(EventError) as info:
        parse_event_line(line, max_bytes=40, now=NOW)

    assert info.value.reason == "event is 52 bytes, over the limit of 40 bytes (max_event_size)"
    assert parse_event_line(line, max_bytes=52, now=NOW).envelope["data"] == "€" * 10


# -- CloudEvents 1.0 ------------------------------------------------------------------------------


def test_cloudevent_is_accepted_with_its_attributes_beside_the_envelope() -> None:
    value = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/shop/orders",
        "type": "com.example.order.created",
        "time": "2026-01-30T08:15:00Z",
        "datacontenttype": "application/json",
        "subject": "order-7",
        "tenant": "acme",  # an extension attribute
        "data": {"amount": 5},
    }

    event = event_from_object(value, now=NOW)

    assert (event.id, event.type, event.time, event.source) == (
        "ce-1",
        "com.example.order.created",
        "2026-01-30T08:15:00Z",
        "/shop/orders",
    )
    assert list(event.envelope.items()) == [
        ("id", "ce-1"),
        ("type", "com.example.order.created"),
        ("time", "2026-01-30T08:15:00Z"),
        ("source", "/shop/orders"),
        ("data", {"amount": 5}),
        ("specversion", "1.0"),
        ("datacontenttype", "application/json"),
        ("subject", "order-7"),
        ("tenant", "acme"),
    ]
    assert event.body == (
        b'{"id":"ce-1","type":"com.example.order.created","time":"2026-01-30T08:15:00Z",'
        b'"source":"/shop/orders","data":{"amount":5},"specversion":"1.0",'
        b'"datacontenttype":"application/json","subject":"order-7","tenant":"acme"}'
    )


def test_cloudevent_without_time_gets_one() -> None:
    event = event_from_object({"specversion": "1.0", "id": "ce-2", "source": "s", "type": "t"}, now=NOW)

    assert event.time == NOW_TEXT
    assert event.envelope["data"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"specversion": "0.3", "id": "a", "source": "s", "type": "t"},
            "unsupported CloudEvents specversion '0.3'; hookd reads 1.0",
        ),
        ({"specversion": "1.0", "source": "s", "type": "t"}, 'a CloudEvent needs a non-empty string "id"'),
        ({"specversion": "1.0", "id": "a", "type": "t"}, 'a CloudEvent needs a non-empty string "source"'),
        (
            {"specversion": "1.0", "id": "a", "source": "", "type": "t"},
            'a CloudEvent needs a non-empty string "source"',
        ),
        ({"specversion": "1.0", "id": "a", "source": "s"}, 'a CloudEvent needs a non-empty string "type"'),
        (
            {"specversion": "1.0", "id": "a", "source": "s", "type": "t", "data_base64": "aGk="},
            "CloudEvents data_base64 is not supported; send JSON data",
        ),
        (
            {"specversion": "1.0", "id": "a", "source": "s", "type": "t", "time": "now"},
            '"time" must be an RFC 3339 timestamp like "2026-01-31T12:00:00Z", not \'now\'',
        ),
    ],
)
def test_invalid_cloudevents_say_what_is_wrong(value: object, expected: str) -> None:
    assert reason(value) == expected


# -- ids ------------------------------------------------------------------------------------------


def test_uuid7_is_a_version_7_uuid_carrying_the_current_time() -> None:
    before_ms = time.time_ns() // 1_000_000
    text = uuid7()

    assert is_uuid7(text)
    stamp_ms = uuid.UUID(text).int >> 80
    # Ids made faster than 4096 per ms borrow the next ms, so allow the clock to lag a little.
    assert before_ms <= stamp_ms <= before_ms + 60_000


def test_uuid7_sorts_in_creation_order_and_is_unique_over_100k() -> None:
    ids = [uuid7() for _ in range(100_000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == 100_000
    assert all(uuid.UUID(i).version == 7 for i in ids[::1000])
