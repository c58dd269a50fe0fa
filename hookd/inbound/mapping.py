"""An inbound request as an event (pure): handshakes, the body read by its content type, the stored
request with credentials removed, and the event's type and id from `event_type`/`event_id` or the
provider's defaults. The http source and `hookd test --request` both use InboundMapper."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from jmespath.parser import ParsedResult

from hookd import jsonvalue
from hookd.config.model import HttpSourceConfig
from hookd.errors import EventError
from hookd.events import REQUEST_KEY, Event, event_from_object, size_limit, with_inbound
from hookd.expressions import EvaluationError, compile_expression, evaluate
from hookd.inbound.bodies import RequestRefused as RequestRefused  # re-exported: callers catch it from here
from hookd.inbound.bodies import is_cloudevent, parse_body
from hookd.inbound.request import InboundRequest
from hookd.inbound.verify import Verifier


@dataclass(frozen=True, slots=True)
class HandshakeAnswer:
    """A provider's subscription check, answered at once and not stored as an event."""

    status: int
    content_type: str
    body: bytes


# Sent as is by whoever holds them, so a stored request never keeps them, whatever `verify` is.
ALWAYS_HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
# A challenge is echoed back: a longer one is no provider's, only a way to make hookd reflect content.
MAX_CHALLENGE_CHARS = 1024
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Default:
    """Where a provider's default type or id is: a header, or a field of the body."""

    where: str  # as a refusal names it: "the X-GitHub-Event header", 'the body field "type"'
    read: Callable[[InboundRequest, object], object]


def _header(name: str) -> _Default:
    return _Default(f"the {name} header", lambda request, _data: request.header(name))


def _body_field(*path: str) -> _Default:
    def read(_request: InboundRequest, data: object) -> object:
        for key in path:
            data = data.get(key) if isinstance(data, dict) else None
        return data

    return _Default(f'the body field "{".".join(path)}"', read)


def _slack_type(request: InboundRequest, data: object) -> object:
    """An Events API callback's inner event type (`message`), else the body's own (`app_rate_limited`)."""
    inner = _body_field("event", "type").read(request, data)
    return inner if _usable(inner) else _body_field("type").read(request, data)


# verify type -> (type prefix, where the type is, where the id is), as issue 23 lists them.
_PROVIDER_DEFAULTS: dict[str, tuple[str, _Default, _Default]] = {
    "github": ("github.", _header("X-GitHub-Event"), _header("X-GitHub-Delivery")),
    "stripe": ("stripe.", _body_field("type"), _body_field("id")),
    "slack": ("slack.", _Default('the body field "event.type" or "type"', _slack_type), _body_field("event_id")),
    "standard": ("", _body_field("type"), _header("webhook-id")),
}


def provider_has_id(config: HttpSourceConfig) -> bool:
    """Whether events of this source get an id from the sender (`event_id`, or the verify type's default),
    which schemes without a timestamp rely on against replays; validate warns otherwise."""
    return config.event_id is not None or (config.verify is not None and config.verify.type in _PROVIDER_DEFAULTS)


class InboundMapper:
    """Built once per http source; each method is pure."""

    def __init__(self, config: HttpSourceConfig, verifier: Verifier | None) -> None:
        self._config = config
        # The config was validated, so both compile; compiled once, not per request.
        self._event_type = compile_expression(config.event_type) if config.event_type is not None else None
        self._event_id = compile_expression(config.event_id) if config.event_id is not None else None
        self._provider = config.verify.type if config.verify is not None else None
        self._defaults = _PROVIDER_DEFAULTS.get(self._provider) if self._provider is not None else None
        credential_headers = verifier.credential_headers if verifier is not None else frozenset()
        self._hidden_headers = ALWAYS_HIDDEN_HEADERS | {name.lower() for name in credential_headers}
        self._hidden_query = verifier.credential_query if verifier is not None else frozenset()

    def handshake(self, request: InboundRequest) -> HandshakeAnswer | None:
        """The answer to a handshake that comes unsigned (checked before verification), or None."""
        if request.method == "GET" and request.query_value("hub.mode") == "subscribe":
            challenge = request.query_value("hub.challenge")
            expected = self._config.verify.verify_token if self._config.verify is not None else None
            if challenge is None or expected is None:
                return None  # not a Meta handshake hookd was told to answer: verified as any request
            given = request.query_value("hub.verify_token") or ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return _text(
                    403, "hub.verify_token does not match the source's verify.verify_token; give Meta the same token"
                )
            return _echo("hub.challenge", challenge)
        if request.method == "POST" and not request.body and (token := request.query_value("validationToken")):
            return _echo("validationToken", token)  # Microsoft Graph: the token back, as text, and nothing else
        return None

    def signed_handshake(self, request: InboundRequest, data: object) -> HandshakeAnswer | None:
        """The answer to a handshake in a verified body (`data`, as parse_body read it), or None.

        Slack's url_verification is answered only when `verify` is slack or absent: behind another
        scheme the body was proven to come from that provider, and is an event to store, not Slack's."""
        if self._config.verify is not None and self._config.verify.type != "slack":
            return None
        if isinstance(data, dict) and data.get("type") == "url_verification":
            challenge = data.get("challenge")
            if isinstance(challenge, str):
                return _echo("challenge", challenge)
        return None

    def stored_request(self, request: InboundRequest) -> dict[str, object]:
        """The request as kept beside the event: credentials removed."""
        headers: dict[str, str] = {}
        for name, value in request.headers:
            name = name.lower()
            if name not in self._hidden_headers:
                if not value.isascii():
                    _check_text(f"the header {name}", value)
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query: dict[str, object] = {}
        for name, value in request.query:
            if name in self._hidden_query:
                continue
            if not (name.isascii() and value.isascii()):
                _check_text(f"the query parameter {name!r}", name + value)
            if name not in query:
                query[name] = value
            elif isinstance(listed := query[name], list):
                listed.append(value)
            else:
                query[name] = [listed, value]
        if not request.path.isascii():
            _check_text("the path", request.path)
        for param in request.params.values():
            if not param.isascii():
                _check_text("a path parameter", param)
        return {
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "query": query,
            "params": dict(request.params),
            "remote_ip": request.remote_ip,
        }

    def receive(
        self, request: InboundRequest, verdict: dict[str, object] | None, now: float
    ) -> Event | HandshakeAnswer:
        """What a verified request is: a handshake to answer, or the event it makes (the body read
        once for both). Raises RequestRefused."""
        content_type = request.header("content-type")
        body = parse_body(content_type, request.body)
        answer = self.signed_handshake(request, body)
        if answer is not None:
            return answer
        return self._event(request, content_type, body, verdict, now)

    def to_event(self, request: InboundRequest, verdict: dict[str, object] | None, now: float) -> Event:
        """The event `request` makes, with the request kept beside it. Raises RequestRefused."""
        content_type = request.header("content-type")
        return self._event(request, content_type, parse_body(content_type, request.body), verdict, now)

    def _event(
        self,
        request: InboundRequest,
        content_type: str | None,
        body: object,
        verdict: dict[str, object] | None,
        now: float,
    ) -> Event:
        cloud = is_cloudevent(content_type)
        data = body.get("data") if cloud and isinstance(body, dict) else body
        stored = self.stored_request(request)
        scope = {REQUEST_KEY: stored, "body": body, "data": data}
        etype = self._configured("event_type", self._event_type, scope)
        eid = self._configured("event_id", self._event_id, scope)
        if cloud:
            # A CloudEvent keeps its own type, id, source and time, unless event_type/event_id say otherwise.
            value: object = body
            if isinstance(body, dict):
                value = body | {k: v for k, v in (("type", etype), ("id", eid)) if v is not None}
        else:
            if etype is None:
                etype = self._default_type(request, body)
            if eid is None and self._event_id is None and self._defaults is not None:
                found = _as_id(self._defaults[2].read(request, body))
                eid = found if isinstance(found, str) and found else None  # missing: hookd assigns one
            value = {"type": etype, "data": data} if eid is None else {"type": etype, "id": eid, "data": data}
        try:
            # checked: parse_body returns jsonvalue's values, strings, and lists and objects of them.
            event = event_from_object(value, now=now, checked=True, produced=True)
        except EventError as e:
            raise RequestRefused(400, str(e)) from None
        inbound = with_inbound(event, stored, request.body, verdict)
        try:
            # Made now, in the worker: a request that cannot be stored is refused here, alone.
            request_json = event.inbound.request_json if event.inbound is not None else b""
        except (orjson.JSONEncodeError, TypeError):
            raise RequestRefused(400, "the request holds text that cannot be stored (not UTF-8)") from None
        # A body grows as an event (a control character is six bytes of JSON, a file a third more as
        # base64): what is stored stays within twice the limit the body was read under.
        stored_bytes = len(event.body) + len(request_json)
        if stored_bytes > 2 * self._config.max_event_bytes:
            raise RequestRefused(
                413,
                f"the event this body makes is {stored_bytes} bytes with its request, over twice "
                f"{size_limit(self._config.max_event_bytes)}",
            )
        return inbound

    def _configured(self, option: str, expression: ParsedResult | None, scope: dict[str, object]) -> str | None:
        """The text `event_type` or `event_id` gives on this request; None when it is not configured."""
        if expression is None:
            return None
        try:
            result = evaluate(expression, scope)
        except EvaluationError as e:
            raise RequestRefused(400, f"{option} cannot be evaluated on this request: {e}") from None
        text = _as_id(result) if option == "event_id" else result
        if not _usable(text):
            raise RequestRefused(
                400,
                f"{option} gives {_described(result)} on this request, not a non-empty string; "
                f"check that the request has the field it reads, or change {option}",
            )
        assert isinstance(text, str)
        return text

    def _default_type(self, request: InboundRequest, data: object) -> str:
        if self._defaults is None:
            return f"{self._config.name}.request"
        prefix, where, _ = self._defaults
        found = where.read(request, data)
        if not _usable(found):
            raise RequestRefused(
                400,
                f"{where.where} is missing or not a non-empty string, and the source's verify type "
                f"({self._provider}) takes the event type from it; send it, or set event_type",
            )
        return f"{prefix}{found}"


def _check_text(what: str, text: str) -> None:
    """Refuse text that holds bytes that were not UTF-8 (the HTTP server kept them as lone surrogates):
    it cannot be stored as JSON, and one such request must not fail the commit it shares with others."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestRefused(400, f"{what} holds bytes that are not UTF-8; send it as UTF-8 (or ASCII)") from None


def _usable(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _as_id(value: object) -> object:
    """An id given as an integer (some providers number their deliveries) as its decimal text; a
    fractional number is not turned into one, as its text would not be what the sender wrote."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _described(value: object) -> str:
    if isinstance(value, str):
        return "an empty string"
    return jsonvalue.kind(value)


def _text(status: int, text: str) -> HandshakeAnswer:
    return HandshakeAnswer(status=status, content_type=_TEXT, body=text.encode())


def _echo(name: str, challenge: str) -> HandshakeAnswer:
    if len(challenge) > MAX_CHALLENGE_CHARS:
        return _text(400, f"{name} is {len(challenge)} characters long, over the {MAX_CHALLENGE_CHARS} hookd echoes")
    return _text(200, challenge)
