"""Payload formats (issue 22) through a running daemon: one event to a hook of each format, received
by a real aiohttp server on loopback; the CloudEvents requests read back with the CloudEvents SDK, as
a receiver would; signatures checked with the Standard Webhooks library over the exact bytes; a
cloudevents hook's batch in the CloudEvents batch format; a preset hook's body from a fake preset."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl

import orjson
import pytest
import standardwebhooks
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, from_structured_event

from hookd.keys import generate_secret
from hookd.presets import PRESETS
from hookd.senders.base import Outcome
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config

SECRET = generate_secret()
EVENT = event_line(
    "order.paid",
    id="evt-1",
    time="2026-05-31T12:00:00Z",
    source="shop/orders",
    data={"order_id": 7, "total": 12.5, "customer": "Zoë Ünal", "tags": ["new", "vip"], "lines": [{"sku": "x"}]},
)
DATA = orjson.loads(EVENT)["data"]


def hook(receiver: Receiver, name: str, shape: str) -> str:
    return f'  - {{name: {name}, events: ["order.*"], url: "{receiver.url("/" + name)}", {shape}}}\n'


def hooks(receiver: Receiver, *shapes: tuple[str, str]) -> str:
    return "hooks:\n" + "".join(hook(receiver, name, shape) for name, shape in shapes)


def verified(headers: Mapping[str, str], body: bytes) -> None:
    """The Standard Webhooks signature checks out over these exact bytes (raises otherwise)."""
    standardwebhooks.Webhook(SECRET).verify(body, dict(headers), json_parse=False)


async def deliver(short_dir: Path, receiver: Receiver, *shapes: tuple[str, str], events: int = 1) -> None:
    cfg = socket_config(short_dir, hooks(receiver, *shapes))
    async with running_daemon(cfg):
        lines = [EVENT] if events == 1 else [event_line("order.paid", id=f"e{i}", data={"n": i}) for i in range(events)]
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", lines))
        await receiver.wait_count(len(shapes))


async def test_each_format_as_received(short_dir: Path, receiver: Receiver) -> None:
    """1. Hooks json, form, text, cloudevents and cloudevents_binary, each signed (Standard Webhooks).
    2. One event.
    Result: each receiver gets its format's Content-Type and body (and the ce-* headers in binary
    mode); every signature verifies over the body received."""
    signed = f"signing: {{type: standard, secret: '{SECRET}'}}"
    await deliver(
        short_dir,
        receiver,
        ("json", f"payload: {{order: '{{{{ data.order_id }}}}'}}, {signed}"),
        ("form", f"format: form, payload: {{order: '{{{{ data.order_id }}}}', who: '{{{{ data.customer }}}}', "
                 f"tag: '{{{{ data.tags }}}}', lines: '{{{{ data.lines }}}}', none: null}}, {signed}"),
        ("text", f"format: text, payload: 'Order {{{{ data.order_id }}}} paid by {{{{ data.customer }}}}', {signed}"),
        ("ce", f"format: cloudevents, {signed}"),
        ("binary", f"format: cloudevents_binary, payload: {{total: '{{{{ data.total }}}}'}}, {signed}"),
    )  # fmt: skip
    got = {r.path.strip("/"): r for r in receiver.requests}
    for r in got.values():
        verified(r.headers, r.body)

    assert got["json"].headers["Content-Type"] == "application/json" and got["json"].body == b'{"order":7}'

    form = got["form"]
    assert form.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form.body == (b"order=7&who=Zo%C3%AB+%C3%9Cnal&tag=new&tag=vip&lines=%5B%7B%22sku%22%3A%22x%22%7D%5D&none=")
    assert parse_qsl(form.body.decode(), keep_blank_values=True) == [
        ("order", "7"), ("who", "Zoë Ünal"), ("tag", "new"), ("tag", "vip"), ("lines", '[{"sku":"x"}]'), ("none", ""),
    ]  # fmt: skip

    text = got["text"]
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text.body == "Order 7 paid by Zoë Ünal".encode()

    ce = got["ce"]
    assert ce.headers["Content-Type"] == "application/cloudevents+json"
    assert orjson.loads(ce.body) == {
        "specversion": "1.0", "id": "evt-1", "source": "shop/orders", "type": "order.paid",
        "time": "2026-05-31T12:00:00Z", "datacontenttype": "application/json", "data": DATA,
    }  # fmt: skip
    read = from_http_event(HTTPMessage(headers=ce.headers, body=ce.body))
    assert read.get_id() == "evt-1" and read.get_data() == DATA

    binary = got["binary"]
    assert binary.headers["Content-Type"] == "application/json"
    assert {k.lower(): v for k, v in binary.headers.items() if k.lower().startswith("ce-")} == {
        "ce-specversion": "1.0", "ce-id": "evt-1", "ce-source": "shop/orders", "ce-type": "order.paid",
        "ce-time": "2026-05-31T12:00:00Z",
    }  # fmt: skip
    assert binary.body == b'{"total":12.5}'
    read = from_http_event(HTTPMessage(headers=binary.headers, body=binary.body))
    assert (read.get_type(), read.get_source(), read.get_data()) == ("order.paid", "shop/orders", {"total": 12.5})


async def test_binary_mode_header_values_are_percent_encoded(short_dir: Path, receiver: Receiver) -> None:
    """A CloudEvent whose source and subject hold spaces, quotes and non-ASCII: the ce-* headers arrive
    percent-encoded as the HTTP binding says, and the SDK reads the original values back."""
    cfg = socket_config(short_dir, hooks(receiver, ("binary", "format: cloudevents_binary")))
    cloud = orjson.dumps({"specversion": "1.0", "id": "c-1", "source": "Euro € 😀", "type": "order.paid",
                          "subject": 'order "7"', "data": {"a": 1}})  # fmt: skip
    async with running_daemon(cfg):
        assert (await send_lines(short_dir / "s.sock", [cloud]))[0]["ok"]
        await receiver.wait_count(1)
    r = receiver.requests[0]
    assert r.headers["ce-source"] == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert r.headers["ce-subject"] == "order%20%227%22"
    read = from_http_event(HTTPMessage(headers=r.headers, body=r.body))
    assert (read.get_source(), read.get_subject(), read.get_data()) == ("Euro € 😀", 'order "7"', {"a": 1})


async def test_a_cloudevents_batch_is_an_array_of_structured_events(short_dir: Path, receiver: Receiver) -> None:
    """1. A cloudevents hook with batch {max_events: 2}. 2. Two events.
    Result: one request, application/cloudevents-batch+json, an array of two structured events whose
    webhook-id is the batch id; each item reads as a CloudEvent."""
    await deliver(short_dir, receiver, ("batch", "format: cloudevents, batch: {max_events: 2, max_wait: 1h}"), events=2)
    [r] = receiver.requests
    assert r.headers["Content-Type"] == "application/cloudevents-batch+json"
    items = orjson.loads(r.body)
    assert [item["id"] for item in items] == ["e0", "e1"] and r.headers["webhook-id"] not in ("e0", "e1")
    for i, item in enumerate(items):
        message = HTTPMessage(headers={"content-type": "application/cloudevents+json"}, body=orjson.dumps(item))
        read = from_structured_event(message)
        assert (read.get_id(), read.get_data()) == (f"e{i}", {"n": i})


class EchoPreset:
    """A preset as hookd.presets describes one: {"text": message, **options}."""

    name = "slack"
    escape_value = None
    options: Mapping[str, str] = {"channel": "text"}

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        return {"text": message, **options, "event": event["id"]}

    def classify(self, outcome: Outcome) -> Outcome:
        return outcome


async def test_a_preset_hook_sends_the_presets_body(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PRESETS, "slack", EchoPreset())
    await deliver(
        short_dir,
        receiver,
        (
            "chat",
            "preset: slack, message: 'Order {{ data.order_id }} paid', preset_options: {channel: '#{{ source }}'}",
        ),
    )
    [r] = receiver.requests
    assert r.headers["Content-Type"] == "application/json"
    assert orjson.loads(r.body) == {"text": "Order 7 paid", "channel": "#shop/orders", "event": "evt-1"}
