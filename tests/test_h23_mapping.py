"""Inbound requests as events (issue 23): bodies by content type, the stored request without
credentials, provider defaults for type and id, handshakes, and the refusals' sentences."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
import pytest

from hookd.config.model import HttpSourceConfig, VerifyConfig
from hookd.errors import EventError
from hookd.events import event_from_object, parse_event_line
from hookd.inbound.bodies import parse_body
from hookd.inbound.mapping import HandshakeAnswer, InboundMapper, RequestRefused, provider_has_id
from hookd.inbound.request import InboundRequest
from hookd.inbound.verify import Verdict

NOW = 1769860800.5
NOW_TEXT = "2026-01-31T12:00:00.500Z"
VERDICT = Verdict(scheme="github", secret=0, verified_at=NOW).as_json()


@dataclass
class FakeVerifier:
    """What the mapper reads of a Verifier; the real ones are hookd.inbound.verify's schemes."""

    scheme: str = "api_key"
    credential_headers: frozenset[str] = frozenset()
    credential_query: frozenset[str] = frozenset()
    timestamped: bool = False

    def verify(self, request: InboundRequest, now: float) -> Verdict:
        return Verdict(scheme=self.scheme, secret=0, verified_at=now)


@dataclass
class Sent:
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    method: str = "POST"

    def request(self) -> InboundRequest:
        headers = [*self.headers, *([("content-type", self.content_type)] if self.content_type else [])]
        return InboundRequest(
            method=self.method,
            path="/hooks/acme/orders",
            headers=tuple((k.lower(), v) for k, v in headers),
            body=self.body,
            remote_ip="203.0.113.7",
            query=tuple(self.query),
            params={"tenant": "acme"},
            raw_query=urlencode(self.query),
        )


def source(
    verify: str | None = None, event_type: str | None = None, event_id: str | None = None, **verify_options: str
) -> HttpSourceConfig:
    return HttpSourceConfig(
        name="shop",
        listen=("127.0.0.1", 0),
        path="/hooks/{tenant}/orders",
        verify=VerifyConfig(type=verify, secrets=("s3cret",), **verify_options) if verify else None,  # type: ignore[arg-type]
        event_type=event_type,
        event_id=event_id,
    )


def mapper(
    verify: str | None = None,
    verifier: FakeVerifier | None = None,
    event_type: str | None = None,
    event_id: str | None = None,
    **verify_options: str,
) -> InboundMapper:
    return InboundMapper(source(verify, event_type, event_id, **verify_options), verifier)


def refused(make: InboundMapper, sent: Sent) -> RequestRefused:
    with pytest.raises(RequestRefused) as info:
        make.to_event(sent.request(), None, NOW)
    return info.value


# -- bodies ----------------------------------------------------------------------------------------


def test_json_bodies_are_read_exactly_and_any_plus_json_is_json() -> None:
    big = b'{"n": 123456789012345678901234567890, "x": [1.5, null]}'
    assert parse_body("application/json", big) == {"n": 123456789012345678901234567890, "x": [1.5, None]}
    assert parse_body("Application/Vnd.GitHub+JSON; charset=UTF-8", b"[1]") == [1]
    assert parse_body("application/json", b"") is None


def test_forms_are_objects_of_strings_and_a_repeated_name_is_a_list() -> None:
    body = urlencode([("item", "a"), ("item", "b"), ("note", "café ok"), ("empty", "")]).encode()
    assert parse_body("application/x-www-form-urlencoded", body) == {
        "item": ["a", "b"],
        "note": "café ok",
        "empty": "",
    }


async def test_multipart_fields_and_files_as_name_type_size_and_base64() -> None:
    form = aiohttp.FormData()
    form.add_field("tag", "one")
    form.add_field("tag", "two")
    form.add_field("scan", b"\xff\xd8\x00binary", filename="scan.jpg", content_type="image/jpeg")
    payload = form()
    assert parse_body(payload.content_type, await payload.as_bytes()) == {
        "tag": ["one", "two"],
        "scan": {
            "filename": "scan.jpg",
            "content_type": "image/jpeg",
            "size": 9,
            "content_base64": base64.b64encode(b"\xff\xd8\x00binary").decode(),
        },
    }


def test_other_types_are_text_when_they_decode_and_base64_otherwise() -> None:
    assert parse_body("text/plain", "héllo".encode()) == "héllo"
    assert parse_body("text/plain; charset=iso-8859-1", b"caf\xe9") == "café"
    assert parse_body(None, b"plain") == "plain"
    assert parse_body("application/octet-stream", b"\x89PNG\xff") == {
        "content_type": "application/octet-stream",
        "size": 5,
        "content_base64": "iVBOR/8=",
    }


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        (
            "application/json",
            b'{"a": 1,}',
            400,
            "the application/json body cannot be read: invalid JSON: trailing comma is not allowed: "
            "line 1 column 8 (char 7)",
        ),
        (
            "application/json",
            b'{"a": "\xff"}',
            400,
            "the application/json body cannot be read: invalid UTF-8 at byte 7 (0xff); send UTF-8 text",
        ),
        ("application/json; charset=utf-16", b"{}", 415, "the application/json body must be UTF-8, not utf-16"),
        ("text/plain; charset=klingon", b"x", 415, "declares charset 'klingon', which hookd cannot decode"),
        ("application/x-www-form-urlencoded", b"a=%FF", 400, "a percent-encoded name or value in the"),
        ("application/x-www-form-urlencoded", b"a=\xff", 400, "body is not utf-8 at byte 2"),
        ("multipart/form-data", b"--x--", 400, "the multipart/form-data body has no boundary in its Content-Type"),
        ("multipart/form-data; boundary=XX", b"--XX\r\nContent-Disposition: form-data", 400, "before its closing"),
        ("multipart/form-data; boundary=XX", b"garbage", 400, "the multipart/form-data body cannot be read: "),
        (
            "multipart/form-data; boundary=XX",
            b"--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--\r\n",
            400,
            "part 1 of the multipart/form-data body has no Content-Disposition",
        ),
    ],
)
def test_unreadable_bodies_are_refused_naming_the_type_and_where(
    content_type: str, body: bytes, status: int, reason: str
) -> None:
    with pytest.raises(RequestRefused) as info:
        parse_body(content_type, body)
    assert info.value.status == status
    assert reason in str(info.value)


# -- the event and the stored request -------------------------------------------------------------


def test_a_request_becomes_an_event_with_the_request_beside_the_envelope() -> None:
    sent = Sent(body=b'{"order": 7}', headers=[("X-Trace", "a"), ("x-trace", "b")], query=[("v", "1"), ("v", "2")])
    event = mapper().to_event(sent.request(), VERDICT, NOW)
    assert (event.type, event.time, event.source) == ("shop.request", NOW_TEXT, None)
    assert event.envelope["data"] == {"order": 7}
    assert "request" not in event.envelope and b"x-trace" not in event.body
    assert event.inbound is not None
    assert event.inbound.raw_body == b'{"order": 7}' and event.inbound.verification == VERDICT
    assert event.inbound.request == {
        "method": "POST",
        "path": "/hooks/acme/orders",
        "headers": {"x-trace": "a, b", "content-type": "application/json"},
        "query": {"v": ["1", "2"]},
        "params": {"tenant": "acme"},
        "remote_ip": "203.0.113.7",
    }
    assert event.scope["request"] == event.inbound.request


def test_credentials_are_removed_from_the_stored_request() -> None:
    verifier = FakeVerifier(credential_headers=frozenset({"X-Api-Key"}), credential_query=frozenset({"api_key"}))
    sent = Sent(
        body=b"{}",
        headers=[
            ("Authorization", "Bearer t0ken"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("Cookie", "session=abc"),
            ("X-Api-Key", "k3y"),
            ("X-Hub-Signature-256", "sha256=00"),
        ],
        query=[("api_key", "k3y"), ("page", "2")],
    )
    event = mapper("api_key", verifier, header="X-Api-Key").to_event(sent.request(), None, NOW)
    assert event.inbound is not None
    stored = event.inbound.request
    assert stored["headers"] == {"x-hub-signature-256": "sha256=00", "content-type": "application/json"}
    assert stored["query"] == {"page": "2"}
    for secret in ("t0ken", "eDp5", "abc", "k3y"):
        assert secret not in json.dumps(stored)


def test_a_cloudevent_body_is_unwrapped_with_its_own_type_id_source_and_time() -> None:
    cloud = {"specversion": "1.0", "id": "ce-1", "type": "order.paid", "source": "shop/eu", "time": NOW_TEXT}
    sent = Sent(body=json.dumps(cloud | {"data": {"n": 1}}).encode(), content_type="application/cloudevents+json")
    event = mapper().to_event(sent.request(), None, NOW)
    assert (event.id, event.type, event.source, event.time) == ("ce-1", "order.paid", "shop/eu", NOW_TEXT)
    assert event.envelope["data"] == {"n": 1} and event.envelope["specversion"] == "1.0"
    configured = mapper(event_type="join('.', ['shop', data.kind])", event_id='request.headers."x-id"')
    sent.body = json.dumps(cloud | {"data": {"kind": "paid"}}).encode()
    sent.headers = [("x-id", "h-9")]
    event = configured.to_event(sent.request(), None, NOW)
    assert (event.id, event.type, event.source) == ("h-9", "shop.paid", "shop/eu")


def test_a_cloudevent_with_a_request_attribute_is_refused_from_every_source() -> None:
    cloud = {"specversion": "1.0", "id": "1", "type": "t", "source": "s", "request": {"method": "POST"}}
    sentence = 'a CloudEvent cannot carry an extension attribute named "request"'
    with pytest.raises(EventError, match=sentence):
        parse_event_line(json.dumps(cloud), max_bytes=10_000)
    with pytest.raises(EventError, match=sentence):
        event_from_object(cloud)
    sent = Sent(body=json.dumps(cloud).encode(), content_type="application/cloudevents+json")
    problem = refused(mapper(), sent)
    assert problem.status == 400 and sentence in str(problem)


# -- event type and id -------------------------------------------------------------------------------


def test_provider_defaults_for_type_and_id() -> None:
    github = Sent(body=b"{}", headers=[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "d-1")])
    assert (e := mapper("github").to_event(github.request(), None, NOW)).type == "github.push" and e.id == "d-1"
    stripe = Sent(body=b'{"id": "evt_1", "type": "invoice.paid"}')
    assert (e := mapper("stripe").to_event(stripe.request(), None, NOW)).type == "stripe.invoice.paid"
    assert e.id == "evt_1"
    slack = Sent(body=b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}')
    assert (e := mapper("slack").to_event(slack.request(), None, NOW)).type == "slack.app_mention" and e.id == "Ev1"
    slack.body = b'{"type": "app_rate_limited"}'
    assert mapper("slack").to_event(slack.request(), None, NOW).type == "slack.app_rate_limited"
    standard = Sent(body=b'{"type": "user.created", "data": {}}', headers=[("webhook-id", "msg_1")])
    assert (e := mapper("standard").to_event(standard.request(), None, NOW)).type == "user.created"
    assert e.id == "msg_1"
    gitlab = Sent(body=b"{}", headers=[("X-Gitlab-Event", "Push Hook")])
    e = mapper("gitlab").to_event(gitlab.request(), None, NOW)
    assert e.type == "shop.request" and e.id  # a new id, assigned by hookd


def test_a_provider_default_missing_its_type_is_refused_and_its_id_replaced() -> None:
    problem = refused(mapper("github"), Sent(body=b"{}"))
    assert problem.status == 400
    assert str(problem) == (
        "the X-GitHub-Event header is missing or not a non-empty string, and the source's verify type (github) "
        "takes the event type from it; send it, or set event_type"
    )
    assert 'the body field "type"' in str(refused(mapper("stripe"), Sent(body=b'{"type": 3}')))
    assert 'the body field "event.type" or "type"' in str(refused(mapper("slack"), Sent(body=b"{}")))
    event = mapper("github").to_event(Sent(body=b"{}", headers=[("X-GitHub-Event", "ping")]).request(), None, NOW)
    assert event.type == "github.ping" and len(event.id) == 36


def test_configured_type_and_id_read_request_body_and_data() -> None:
    make = mapper(event_type="join('.', [request.params.tenant, body.kind])", event_id="data.seq")
    event = make.to_event(Sent(body=b'{"kind": "order", "seq": 42}').request(), None, NOW)
    assert (event.type, event.id) == ("acme.order", "42")  # an integer id is taken as its text
    assert event.envelope["data"] == {"kind": "order", "seq": 42}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"kind": "order"}', "event_id gives null on this request, not a non-empty string; check that the"),
        (b'{"kind": "order", "seq": 1.5}', "event_id gives a number on this request"),
        (b'{"kind": "", "seq": "a"}', "event_type gives an empty string on this request"),
        (b'{"kind": ["x"], "seq": "a"}', "event_type gives a list on this request"),
        (b'{"kind": "hookd.alert", "seq": "a"}', "which is reserved for hookd's own events"),
        (b'{"kind": "x", "seq": " a"}', '"id" starts or ends with whitespace'),
    ],
)
def test_configured_type_or_id_that_gives_nothing_usable_is_refused(body: bytes, reason: str) -> None:
    problem = refused(mapper(event_type="body.kind", event_id="data.seq"), Sent(body=body))
    assert problem.status == 400 and reason in str(problem)


def test_an_expression_that_fails_on_the_request_is_refused() -> None:
    problem = refused(mapper(event_type="to_string(abs(body.kind))"), Sent(body=b'{"kind": "a"}'))
    assert problem.status == 400 and str(problem).startswith("event_type cannot be evaluated on this request: ")


def test_provider_has_id() -> None:
    assert provider_has_id(source("github")) and provider_has_id(source("standard"))
    assert not provider_has_id(source("gitlab")) and not provider_has_id(source())
    assert provider_has_id(source("api_key", event_id='request.headers."x-id"'))


# -- handshakes --------------------------------------------------------------------------------------


def meta(token: str | None, challenge: str = "1158201444") -> InboundRequest:
    query = [("hub.mode", "subscribe"), ("hub.challenge", challenge)]
    if token is not None:
        query.append(("hub.verify_token", token))
    return Sent(method="GET", content_type=None, query=query).request()


def test_meta_subscription_is_answered_only_with_the_configured_token() -> None:
    make = mapper("hmac", verify_token="meta-t0ken")
    assert make.handshake(meta("meta-t0ken")) == HandshakeAnswer(200, "text/plain; charset=utf-8", b"1158201444")
    for wrong in ("other", None):
        answer = make.handshake(meta(wrong))
        assert answer is not None and answer.status == 403
        assert b"meta-t0ken" not in answer.body and b"does not match the source's verify.verify_token" in answer.body
    assert mapper("hmac").handshake(meta("meta-t0ken")) is None  # no verify_token: not answered
    assert mapper().handshake(meta("meta-t0ken")) is None


def test_graph_validation_token_is_echoed_as_text_up_to_a_limit() -> None:
    sent = Sent(content_type=None, query=[("validationToken", "Validation: Token <ok>")])
    assert mapper("api_key").handshake(sent.request()) == HandshakeAnswer(
        200, "text/plain; charset=utf-8", b"Validation: Token <ok>"
    )
    sent.query = [("validationToken", "x" * 1025)]
    answer = mapper().handshake(sent.request())
    assert answer is not None and answer.status == 400
    assert answer.body == b"validationToken is 1025 characters long, over the 1024 hookd echoes"
    sent.method = "GET"
    assert mapper().handshake(sent.request()) is None
    assert mapper().handshake(Sent(body=b"{}").request()) is None


def test_slack_url_verification_is_answered_for_slack_or_no_verify() -> None:
    body = {"type": "url_verification", "challenge": "3eZbrw1aB"}
    request = Sent(body=json.dumps(body).encode()).request()
    for make in (mapper("slack"), mapper()):
        assert make.signed_handshake(request, body) == HandshakeAnswer(200, "text/plain; charset=utf-8", b"3eZbrw1aB")
    assert mapper("github").signed_handshake(request, body) is None  # GitHub's body: an event to store
    assert mapper("slack").signed_handshake(request, {"type": "event_callback"}) is None
    assert mapper("slack").signed_handshake(request, "url_verification") is None


def test_a_type_longer_than_200_characters_is_refused() -> None:
    """A Stripe-style body whose type is 5,000 characters: 400, not an event."""
    from hookd.config.model import HttpSourceConfig, VerifyConfig
    from hookd.inbound.mapping import InboundMapper, RequestRefused
    from hookd.inbound.request import InboundRequest

    config = HttpSourceConfig(
        name="s", listen=("127.0.0.1", 0), path="/in", verify=VerifyConfig(type="stripe", secrets=("k" * 20,))
    )
    body = ('{"id": "evt_1", "type": "' + "a" * 5000 + '"}').encode()
    request = InboundRequest("POST", "/in", (("content-type", "application/json"),), body, "127.0.0.1")
    with pytest.raises(RequestRefused) as refused:
        InboundMapper(config, None).to_event(request, None, 0.0)
    assert refused.value.status == 400
    assert "over 200" in str(refused.value)
