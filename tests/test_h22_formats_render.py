"""Payload formats (issue 22), pure: the body and headers each `format:` renders, the form encoding
rules, the ce-* percent-encoding, a preset's body through hookd.presets (a fake preset registered for
the test), and a cloudevents hook's batch (the CloudEvents batch format)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from hookd.batching import Batcher
from hookd.body_formats import FormatError, form_body, percent_encode
from hookd.config.model import BatchConfig, HookConfig, PayloadFormat
from hookd.events import event_from_object
from hookd.presets import PRESETS, PresetError
from hookd.rendering import RequestRenderError, render_payload, render_request
from hookd.router import compile_hook
from hookd.senders.base import OutboundRequest, Outcome

NOW = 1_780_000_000.0
EVENT = {
    "id": "evt-1",
    "type": "order.paid",
    "time": "2026-05-31T12:00:00Z",
    "source": "shop/orders",
    "data": {"order_id": 7, "total": 12.5, "paid": True, "note": None, "tags": ["a", "b c"], "lines": [{"sku": "x"}]},
}


def hook(**fields: Any) -> HookConfig:
    return HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", **fields)


def request(config: HookConfig, event: Mapping[str, object] = EVENT) -> OutboundRequest:
    e = event_from_object(dict(event))
    return render_request(compile_hook(config), "dlv-1", e.id, 1, e.body, NOW)


def render_error(config: HookConfig, event: Mapping[str, object] = EVENT) -> str:
    with pytest.raises(RequestRenderError) as caught:
        request(config, event)
    return str(caught.value)


# -- json (the default) ---------------------------------------------------------------------------


def test_json_sends_the_payload_or_the_envelope_as_json() -> None:
    plain = request(hook())
    assert plain.headers["Content-Type"] == "application/json"
    assert orjson.loads(plain.body) == {k: EVENT[k] for k in ("id", "type", "time", "source", "data")}
    shaped = request(hook(payload={"order": "{{ data.order_id }}", "text": "Order {{ data.order_id }}"}))
    assert shaped.body == b'{"order":7,"text":"Order 7"}'


# -- form -----------------------------------------------------------------------------------------


def test_form_golden_body() -> None:
    """Scalars as text (true/false, numbers as JSON writes them, null empty), a list of scalars repeats
    its key, nested objects and lists of objects go as their JSON, spaces as + and UTF-8 %XX."""
    r = request(
        hook(
            format="form",
            payload={
                "order": "{{ data.order_id }}",
                "total": "{{ data.total }}",
                "paid": "{{ data.paid }}",
                "note": "{{ data.note }}",
                "tag": "{{ data.tags }}",
                "lines": "{{ data.lines }}",
                "text": "Bestellung für € 12,50 & mehr",
            },
        )
    )
    assert r.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert r.body == (
        b"order=7&total=12.5&paid=true&note=&tag=a&tag=b+c&lines=%5B%7B%22sku%22%3A%22x%22%7D%5D"
        b"&text=Bestellung+f%C3%BCr+%E2%82%AC+12%2C50+%26+mehr"
    )
    assert parse_qsl(r.body.decode(), keep_blank_values=True) == [
        ("order", "7"), ("total", "12.5"), ("paid", "true"), ("note", ""), ("tag", "a"), ("tag", "b c"),
        ("lines", '[{"sku":"x"}]'), ("text", "Bestellung für € 12,50 & mehr"),
    ]  # fmt: skip


def test_form_encoding_rules() -> None:
    assert form_body({"n": 10**20, "f": 1.0, "b": False, "z": None}) == b"n=100000000000000000000&f=1.0&b=false&z="
    assert form_body({"empty": [], "after": 1}) == b"after=1"  # an empty list repeats its key no times
    assert form_body({"mixed": [1, {"a": 1}]}) == b"mixed=%5B1%2C%7B%22a%22%3A1%7D%5D"  # not all scalars: JSON
    assert form_body({"nested": {"a": [1, 2]}}) == b"nested=%7B%22a%22%3A%5B1%2C2%5D%7D"
    assert form_body({"a b": "x=y&z"}) == b"a+b=x%3Dy%26z"
    assert form_body({}) == b""


def test_form_without_payload_encodes_the_envelope() -> None:
    r = request(hook(format="form"))
    fields = dict(parse_qsl(r.body.decode(), keep_blank_values=True))
    assert fields["id"] == "evt-1" and fields["type"] == "order.paid" and fields["source"] == "shop/orders"
    assert orjson.loads(fields["data"]) == EVENT["data"]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [("{{ data.tags }}", "a list"), ("{{ data.order_id }}", "a number"), ("x {{ id }}", "a string")],
)
def test_form_of_anything_but_an_object_fails_the_delivery(payload: str, kind: str) -> None:
    message = render_error(hook(format="form", payload=payload))
    assert message == (
        f"payload: format form sends an object's fields as key=value pairs, and this rendered to {kind}; make payload "
        "an object, like {order: '{{ data.id }}', total: '{{ data.total }}'}"
    )
    with pytest.raises(FormatError):
        form_body(None)


# -- text -----------------------------------------------------------------------------------------


def test_text_golden_body() -> None:
    r = request(hook(format="text", payload="Order {{ data.order_id }} paid: {{ data.total }} € ({{ data.tags }})"))
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.body == 'Order 7 paid: 12.5 € (["a","b c"])'.encode()
    lone = request(hook(format="text", payload="{{ data.order_id }}"))
    assert lone.body == b"7"  # a lone expression's value as text, not JSON-quoted
    assert request(hook(format="text", payload="{{ data.note }}")).body == b""


# -- cloudevents (structured) ---------------------------------------------------------------------


def test_cloudevents_golden_body() -> None:
    r = request(hook(format="cloudevents"))
    assert r.headers["Content-Type"] == "application/cloudevents+json"
    assert orjson.loads(r.body) == {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "shop/orders",
        "type": "order.paid",
        "time": "2026-05-31T12:00:00Z",
        "datacontenttype": "application/json",
        "data": EVENT["data"],
    }
    assert list(orjson.loads(r.body)) == ["specversion", "id", "source", "type", "time", "datacontenttype", "data"]
    assert not any(name.lower().startswith("ce-") for name in r.headers)


def test_cloudevents_data_is_the_rendered_payload() -> None:
    r = request(hook(format="cloudevents", payload={"order": "{{ data.order_id }}"}))
    assert orjson.loads(r.body)["data"] == {"order": 7}


def test_cloudevents_subject_and_a_source_for_an_event_without_one() -> None:
    """A CloudEvent given as the event keeps its subject; an event without a source is given the
    hook's URN (CloudEvents requires a source)."""
    cloud = {"specversion": "1.0", "id": "c-1", "source": "/shop", "type": "order.paid", "subject": "order/7",
             "time": "2026-05-31T12:00:00Z", "data": {"a": 1}}  # fmt: skip
    body = orjson.loads(request(hook(format="cloudevents"), cloud).body)
    assert body["subject"] == "order/7" and body["source"] == "/shop"
    assert list(body) == ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data"]
    plain = {"id": "p-1", "type": "order.paid", "time": "2026-05-31T12:00:00Z", "data": None}
    body = orjson.loads(request(hook(format="cloudevents"), plain).body)
    assert body["source"] == "urn:hookd:hook:h" and body["data"] is None and "subject" not in body


CLOUD_WITH_EXTENSIONS = {
    "specversion": "1.0", "id": "c-1", "source": "/shop", "type": "order.paid", "time": "2026-05-31T12:00:00Z",
    "dataschema": "https://shop.example/schemas/order-paid.json",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "partitionkey": "order-7",
    "sequence": 42, "sampled": True,
    "ratio": 0.5, "nested": {"a": 1}, "huge": 2**40, "nothing": None,  # no extension has these types
    "datacontenttype": "application/json", "data": {"a": 1},
}  # fmt: skip
KEPT = ("dataschema", "traceparent", "partitionkey", "sequence", "sampled")


def test_a_forwarded_cloudevent_keeps_its_dataschema_and_extension_attributes() -> None:
    """An event that came in as a CloudEvent goes out with its dataschema and the extension attributes
    CloudEvents can carry (strings, 32-bit integers, booleans), in both modes; values of other types
    are not attributes and are left out."""
    body = orjson.loads(request(hook(format="cloudevents"), CLOUD_WITH_EXTENSIONS).body)
    assert list(body) == ["specversion", "id", "source", "type", "dataschema", "time", "traceparent",
                          "partitionkey", "sequence", "sampled", "datacontenttype", "data"]  # fmt: skip
    assert {k: body[k] for k in KEPT} == {k: CLOUD_WITH_EXTENSIONS[k] for k in KEPT}
    headers = request(hook(format="cloudevents_binary"), CLOUD_WITH_EXTENSIONS).headers
    assert headers["ce-dataschema"] == "https://shop.example/schemas/order-paid.json"
    assert headers["ce-traceparent"] == CLOUD_WITH_EXTENSIONS["traceparent"]
    assert (headers["ce-sequence"], headers["ce-sampled"], headers["ce-partitionkey"]) == ("42", "true", "order-7")
    for left_out in ("ratio", "nested", "huge", "nothing"):
        assert left_out not in body and f"ce-{left_out}" not in headers


# -- cloudevents_binary ---------------------------------------------------------------------------


def test_cloudevents_binary_golden_headers_and_body() -> None:
    r = request(hook(format="cloudevents_binary"))
    assert r.headers["Content-Type"] == "application/json"
    ce = {name: value for name, value in r.headers.items() if name.startswith("ce-")}
    assert ce == {
        "ce-specversion": "1.0",
        "ce-id": "evt-1",
        "ce-source": "shop/orders",
        "ce-type": "order.paid",
        "ce-time": "2026-05-31T12:00:00Z",
    }
    assert "ce-datacontenttype" not in r.headers  # the binding: Content-Type carries it
    assert orjson.loads(r.body) == EVENT["data"]
    shaped = request(hook(format="cloudevents_binary", payload={"order": "{{ data.order_id }}"}))
    assert shaped.body == b'{"order":7}'


def test_cloudevents_binary_percent_encodes_header_values() -> None:
    assert percent_encode("Euro € 😀") == "Euro%20%E2%82%AC%20%F0%9F%98%80"  # the HTTP binding's example
    assert percent_encode('say "100%"') == "say%20%22100%25%22"
    assert percent_encode("/a:b?c=d&e#f~!") == "/a:b?c=d&e#f~!"  # printable ASCII stays as it is
    assert percent_encode("tab\there\u0085") == "tab%09here%C2%85"
    cloud = {"specversion": "1.0", "id": "c-1", "source": "Euro € 😀", "type": "order.paid",
             "subject": 'line one\nline "two"', "data": 1}  # fmt: skip
    r = request(hook(format="cloudevents_binary"), cloud)
    assert r.headers["ce-source"] == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert r.headers["ce-subject"] == "line%20one%0Aline%20%22two%22"


def test_a_configured_header_replaces_hookds_in_any_letter_case() -> None:
    headers = MappingProxyType({"CE-Source": "/mine", "content-type": "application/json; charset=utf-8"})
    r = request(hook(format="cloudevents_binary", headers=headers))
    assert [(n, v) for n, v in r.headers.items() if n.lower() == "ce-source"] == [("ce-source", "/mine")]
    content_types = [(n, v) for n, v in r.headers.items() if n.lower() == "content-type"]
    assert content_types == [("Content-Type", "application/json; charset=utf-8")]


def test_a_configured_webhook_id_in_another_case_is_the_one_signed() -> None:
    """Signing reads webhook-id and webhook-timestamp by hookd's spelling: a configured Webhook-Id
    (validate warns about it) is sent, and signed, as that one header."""
    r = request(hook(headers=MappingProxyType({"Webhook-Id": "mine"})))
    assert [(n, v) for n, v in r.headers.items() if n.lower() == "webhook-id"] == [("webhook-id", "mine")]


# -- formats with signing: the signature covers the bytes sent -------------------------------------


@pytest.mark.parametrize("fmt", ["json", "form", "cloudevents", "cloudevents_binary", "text"])
def test_render_payload_is_the_request_body(fmt: PayloadFormat) -> None:
    """A batch item, a dry run and a delivery carry the same bytes for the same event."""
    config = hook(format=fmt, payload={"o": "{{ data.order_id }}"} if fmt != "text" else "o={{ data.order_id }}")
    e = event_from_object(dict(EVENT))
    assert render_payload(compile_hook(config), e.body) == request(config).body


# -- presets (through hookd.presets, with a fake one) ----------------------------------------------


class FakeChat:
    """A preset as hookd.presets' protocol describes it: {"text", **options}, refusing long messages."""

    name = "slack"
    escape_value = None
    options: Mapping[str, str] = {"channel": "text", "blocks": "objects"}

    def __init__(self) -> None:
        self.seen: list[tuple[str, Mapping[str, object], Mapping[str, object]]] = []

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        self.seen.append((message, options, event))
        if len(message) > 20:
            raise PresetError("the message is over 20 characters, the most this service takes; shorten it")
        return {"text": message, **options}

    def classify(self, outcome: Outcome) -> Outcome:
        return outcome


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> FakeChat:
    preset = FakeChat()
    monkeypatch.setitem(PRESETS, "slack", preset)
    return preset


def test_a_preset_body_is_built_from_the_rendered_message_and_options(fake_slack: FakeChat) -> None:
    config = hook(
        preset="slack",
        message="Order {{ data.order_id }} paid",
        preset_options=MappingProxyType({"channel": "#{{ source }}", "blocks": [{"text": "{{ data.total }}"}]}),
    )
    r = request(config)
    assert r.headers["Content-Type"] == "application/json"
    assert orjson.loads(r.body) == {"text": "Order 7 paid", "channel": "#shop/orders", "blocks": [{"text": 12.5}]}
    message, options, event = fake_slack.seen[-1]
    assert message == "Order 7 paid" and event["id"] == "evt-1"
    assert options == {"channel": "#shop/orders", "blocks": [{"text": 12.5}]}


def test_a_preset_refusing_the_body_fails_the_delivery(fake_slack: FakeChat) -> None:
    message = render_error(hook(preset="slack", message="Order {{ data.order_id }} was paid in full"))
    assert message == "preset slack: the message is over 20 characters, the most this service takes; shorten it"


def test_a_preset_message_that_cannot_render_names_the_message(fake_slack: FakeChat) -> None:
    message = render_error(hook(preset="slack", message="{{ length(data.order_id) }}"))
    assert message.startswith("message: {{ length(data.order_id) }} could not be evaluated on this event")


def test_a_preset_missing_from_the_registry_fails_the_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(PRESETS, "teams", raising=False)
    assert render_error(hook(preset="teams", message="hi")) == "preset 'teams' is not available in this hookd"


# -- batches --------------------------------------------------------------------------------------


def test_a_cloudevents_batch_is_the_cloudevents_batch_format() -> None:
    compiled = compile_hook(hook(format="cloudevents", batch=BatchConfig()))
    events = [event_from_object({**EVENT, "id": f"e{i}"}) for i in (1, 2)]
    batcher = Batcher(compiled)
    r = batcher.request("batch-1", 1, [render_payload(compiled, e.body) for e in events], NOW)
    assert r.headers["Content-Type"] == "application/cloudevents-batch+json"
    assert r.headers["webhook-id"] == "batch-1"
    body = orjson.loads(r.body)
    assert [item["id"] for item in body] == ["e1", "e2"]
    assert all(item["specversion"] == "1.0" and item["data"] == EVENT["data"] for item in body)


def test_a_json_batch_stays_application_json() -> None:
    compiled = compile_hook(hook(batch=BatchConfig()))
    e = event_from_object(dict(EVENT))
    r = Batcher(compiled).request("batch-1", 1, [render_payload(compiled, e.body)], NOW)
    assert r.headers["Content-Type"] == "application/json" and orjson.loads(r.body)[0]["id"] == "evt-1"


@pytest.mark.parametrize("expression", ["sum(data.xs)", "avg(data.xs)", "to_number('1e999')", "max([sum(data.xs)])"])
def test_arithmetic_beyond_json_is_a_render_error_not_a_silent_null(expression: str) -> None:
    """Event data holds no infinite number (intake refuses one), but sum() of two 1e308 makes one; JSON
    writers would send it as null without a word."""
    event = {**EVENT, "data": {"xs": [1e308, 1e308]}}
    placeholder = "{{ " + expression + " }}"
    for payload in ({"total": placeholder}, {"total": "sum " + placeholder}):
        said = render_error(hook(payload=payload), event)
        assert said == f"payload.total: {{{{ {expression} }}}} gave a number too large for JSON on this event", said


def test_cloudevents_binary_refuses_attributes_beyond_what_servers_take() -> None:
    many = {f"ext{i}": "v" * 100 for i in range(100)}
    cloud = {"specversion": "1.0", "id": "c-1", "source": "/s", "type": "t", "data": 1, **many}
    said = render_error(hook(format="cloudevents_binary"), cloud)
    assert "bytes of ce-* headers" in said and "use format cloudevents" in said, said
    assert len(orjson.loads(request(hook(format="cloudevents"), cloud).body)) > 100  # the body carries them
