"""The request one attempt sends for one hook: headers, templates and body (pure).

The dispatcher sends what this renders and `hookd test` shows it, so a dry run is the request the
daemon would make, not a second implementation of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from hookd import __version__, body_formats, jsonvalue
from hookd.config.paths import describe_path
from hookd.events import REQUEST_KEY
from hookd.logs import escape_text
from hookd.presets import PresetError
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest
from hookd.store.base import InboundRecord
from hookd.templates import RenderError, as_text
from hookd.urls import UrlRenderError

# HTTP field values are visible characters, spaces and tabs; a CR or LF would end the header (and
# let an event forge the next one), and aiohttp refuses a request holding one. DEL and the C1
# controls (U+0080-U+009F: U+0085 is a line break to some readers, U+009B starts a terminal escape
# sequence) are not visible, nor are the line and paragraph separators U+2028 and U+2029. Half of a
# UTF-16 surrogate pair (a JSON literal's "\ud800") has no UTF-8 form: it can be neither sent nor
# recorded.
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# A field name is an HTTP token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALID_NAMES: set[str] = set()  # names that passed _TOKEN
_MAX_VALID_NAMES = 1024
_T = TypeVar("_T")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


# Headers of the inbound request's own connection and framing, which the forwarded request sets for
# itself: the content type goes as the body's (once, not twice in two spellings).
_NOT_FORWARDED = frozenset({"content-type", "content-length", "host", "transfer-encoding", "connection"})
# hookd's own headers: the receiver reads them as hookd's (an event id, a signature), never the caller's.
_HOOKD_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "user-agent"})


def forwardable(name: str) -> bool:
    """Whether a `forward.headers` name is sent (validate warns about the others)."""
    return name not in _NOT_FORWARDED and name not in _HOOKD_HEADERS and not name.startswith("hookd-")


class RequestRenderError(Exception):
    """The request for one delivery cannot be made from this event: a template fails on it, or a
    header comes out unsendable. Final for the delivery (the same event renders the same way); the
    message says where (payload.x, headers.X-Name) and why, with no traceback needed."""


def render_failure(e: RequestRenderError) -> str:
    """The error recorded for a delivery whose request cannot be rendered (and shown by `hookd test`)."""
    return f"cannot render the request: {e}"


class Body:
    """A request's body as the hook's format (or preset) encodes it, with the headers that describe it.
    A plain slotted class: one is made for every request, and a dataclass would make a headers dict for
    each (or refuse the shared empty one as a default)."""

    __slots__ = ("content", "content_type", "headers")

    def __init__(self, content: bytes, content_type: str, headers: Mapping[str, str] = _NO_HEADERS) -> None:
        self.content = content
        self.content_type = content_type
        self.headers = headers  # ce-* of cloudevents_binary


def render_request(
    hook: CompiledHook,
    delivery_id: str,
    event_id: str,
    attempt: int,
    body: bytes,
    now: float,
    inbound: InboundRecord | None = None,
) -> OutboundRequest:
    """The request for attempt `attempt` of a delivery of the stored event envelope `body` (and, for
    an event an http source received, the request it kept beside it).

    Raises RequestRenderError, and nothing else, for anything the event or a template can cause.
    """
    envelope = _envelope(hook, body, inbound)
    configured = _configured_headers(hook, envelope)
    rendered = _forwarded(hook, inbound) if hook.config.forward is not None else render_body(hook, envelope, body)
    url = hook.config.url
    if hook.url is not None:
        try:
            url = hook.url.render(envelope if envelope is not None else {})
        except RenderError as e:
            raise RequestRenderError(f"url: {e.reason}") from None
        except UrlRenderError as e:
            raise RequestRenderError(f"url: {e}") from None
    return _request(hook, delivery_id, event_id, attempt, now, url, configured, rendered)


def render_batch_request(
    hook: CompiledHook, batch_id: str, attempt: int, content: bytes, content_type: str, now: float
) -> OutboundRequest:
    """The request of attempt `attempt` of a batch whose body is `content`: its url and headers as a
    single delivery's over no event (validate refuses templates in them for a batched hook), its
    webhook-id the batch id. Raises RequestRenderError."""
    configured = _configured_headers(hook, None)
    body = Body(content, content_type)
    return _request(hook, batch_id, batch_id, attempt, now, hook.config.url, configured, body)


def _request(
    hook: CompiledHook,
    delivery_id: str,
    event_id: str,
    attempt: int,
    now: float,
    url: str,
    configured: Mapping[str, str],
    body: Body,
) -> OutboundRequest:
    cfg = hook.config
    timestamp = str(int(now))
    headers = {
        "Content-Type": body.content_type,
        "User-Agent": f"hookd/{__version__}",
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "hookd-delivery-id": delivery_id,
        "hookd-attempt": str(attempt),
        **body.headers,
    }
    if configured:
        # A configured header replaces hookd's of the same name in any letter case (never both sent),
        # under hookd's spelling: the signer reads webhook-id and webhook-timestamp by that name.
        own = {name.lower(): name for name in headers}
        for name, value in configured.items():
            headers[own.get(name.lower(), name)] = value
    if hook.endpoint.timestamp_header is not None:
        # The signed timestamp, where the receiver reads it (the signature itself is added as the
        # request is sent: hookd.senders.endpoint).
        headers[hook.endpoint.timestamp_header] = timestamp
    return OutboundRequest(
        method=cfg.method,
        url=url,
        headers=headers,
        body=body.content,
        timeout_s=cfg.timeout_s,
        follow_redirects=cfg.follow_redirects,
        private_headers=hook.private_headers,
        endpoint=cfg.name,
    )


def _envelope(hook: CompiledHook, body: bytes, inbound: InboundRecord | None) -> dict[str, object] | None:
    """What templates see, when a template or the format needs it: the stored envelope parsed, and
    `request` for an event an http source received (events.Event.scope); else None."""
    if not hook.needs_envelope:
        return None
    try:
        loaded = jsonvalue.loads(body)
        if inbound is not None and isinstance(loaded, dict):
            loaded[REQUEST_KEY] = jsonvalue.loads(inbound.request)
    except (jsonvalue.JsonValueError, RecursionError) as e:
        raise RequestRenderError(f"the stored event cannot be read for the templates: {e}") from None
    return loaded if isinstance(loaded, dict) else None


def _forwarded(hook: CompiledHook, inbound: InboundRecord | None) -> Body:
    """A `forward:` hook's body: the inbound request's bytes as received, with its content type and
    the original headers the hook lists (those the request had)."""
    forward = hook.config.forward
    assert forward is not None
    if inbound is None:
        raise RequestRenderError(
            "forward: sends an inbound request as it arrived, and this event did not come from an http source; "
            "limit the hook's events (or filter) to the http source's events"
        )
    try:
        request = jsonvalue.loads(inbound.request)
    except (jsonvalue.JsonValueError, RecursionError) as e:
        raise RequestRenderError(f"the stored request cannot be read: {e}") from None
    received = request.get("headers") if isinstance(request, dict) else None
    original = received if isinstance(received, dict) else {}
    content_type = original.get("content-type")
    headers = {
        name: value for name in forward.headers if forwardable(name) and isinstance(value := original.get(name), str)
    }
    check_headers(headers)
    return Body(
        inbound.raw_body,
        content_type if isinstance(content_type, str) else "application/octet-stream",
        MappingProxyType(headers),
    )


def _configured_headers(hook: CompiledHook, envelope: Mapping[str, object] | None) -> dict[str, str]:
    """The hook's `headers:` rendered (as written when there is no event to render them over), each
    checked sendable. Raises RequestRenderError."""
    if not hook.headers:
        return {}
    configured = {}
    for name, template in hook.headers:
        try:
            configured[name] = template.render_text(envelope) if envelope is not None else as_text(template.source)
        except RenderError as e:
            raise RequestRenderError(f"headers.{name}{_at(e)}: {e.reason}") from None
    # hookd's own values need no check: ids are refused at intake when they hold a control character.
    check_headers(configured)
    return configured


def render_payload(hook: CompiledHook, body: bytes, inbound: InboundRecord | None = None) -> bytes:
    """The body one delivery of the stored envelope `body` carries, as the hook's format encodes it
    (what render_request puts in a request; a batch's item). Raises RequestRenderError, and nothing
    else, for anything the event or the template can cause."""
    cfg = hook.config
    if hook.payload is None and cfg.format == "json" and cfg.preset is None:
        return body  # the envelope as it is stored: nothing to parse
    return render_body(hook, _envelope(hook, body, inbound), body).content


def render_body(hook: CompiledHook, envelope: Mapping[str, object] | None, stored: bytes) -> Body:
    """The body of one delivery of the event `envelope` (parsed) whose stored bytes are `stored`: the
    preset's, or the payload (or the envelope) in the hook's format. Raises RequestRenderError."""
    cfg = hook.config
    if cfg.preset is not None:
        return Body(_preset_body(hook, envelope or {}), body_formats.JSON)
    if cfg.format == "json":
        if hook.payload is None or envelope is None:
            return Body(stored, body_formats.JSON)
        return Body(_json(_payload(hook, envelope)), body_formats.JSON)
    if envelope is None:
        raise RequestRenderError(f"format {cfg.format}: the stored event is not a JSON object")
    if cfg.format == "text":
        # validate requires a payload for text; without one the envelope's JSON is the text
        text = _payload_text(hook, envelope) if hook.payload is not None else stored.decode("utf-8")
        return Body(_encoded(body_formats.text_body, text), body_formats.TEXT)
    if cfg.format == "form":
        value = _payload(hook, envelope) if hook.payload is not None else envelope
        return Body(_encoded(body_formats.form_body, value), body_formats.FORM)
    data = _payload(hook, envelope) if hook.payload is not None else envelope.get("data")
    if cfg.format == "cloudevents":
        return Body(_json(body_formats.structured_event(envelope, cfg.name, data)), body_formats.CLOUDEVENT)
    try:
        headers = body_formats.binary_headers(envelope, cfg.name)
    except body_formats.FormatError as e:  # from the event's own fields, not the payload
        raise RequestRenderError(str(e)) from None
    return Body(_json(data), body_formats.JSON, headers)


def _encoded(encode: Callable[[_T], bytes], value: _T) -> bytes:
    """`encode(value)`, its FormatError a render error of the payload."""
    try:
        return encode(value)
    except body_formats.FormatError as e:
        raise RequestRenderError(f"payload: {e}") from None


def _payload(hook: CompiledHook, envelope: Mapping[str, object]) -> object:
    assert hook.payload is not None
    try:
        return hook.payload.render(envelope)
    except RenderError as e:
        raise RequestRenderError(f"payload{_at(e)}: {e.reason}") from None


def _payload_text(hook: CompiledHook, envelope: Mapping[str, object]) -> str:
    assert hook.payload is not None
    try:
        return hook.payload.render_text(envelope)
    except RenderError as e:
        raise RequestRenderError(f"payload{_at(e)}: {e.reason}") from None


def _json(value: object, where: str = "payload", what: str = "payload") -> bytes:
    try:
        return jsonvalue.dumps(value)
    except (TypeError, ValueError) as e:  # nested past what JSON writers take
        raise RequestRenderError(f"{where}: the rendered {what} is not JSON: {e}") from None


def _preset_body(hook: CompiledHook, envelope: Mapping[str, object]) -> bytes:
    """The service's body (hookd.presets) from the hook's rendered message and preset_options."""
    name = hook.config.preset
    preset = hook.preset  # looked up once, when the hook was compiled
    if preset is None:
        raise RequestRenderError(f"preset {name!r} is not available in this hookd")
    escape = preset.escape_value  # how event data is escaped in the message and options (Slack's entities)
    try:
        message = hook.message.render_text(envelope, escape) if hook.message is not None else ""
    except RenderError as e:
        raise RequestRenderError(f"message{_at(e)}: {e.reason}") from None
    options: object = {}
    if hook.preset_options is not None:
        try:
            options = hook.preset_options.render(envelope, escape)
        except RenderError as e:
            raise RequestRenderError(f"preset_options{_at(e)}: {e.reason}") from None
    assert isinstance(options, dict)  # the template of a mapping renders to one
    try:
        value = preset.body(message, options, envelope)
    except PresetError as e:
        raise RequestRenderError(f"preset {name}: {e}") from None
    return _json(value, f"preset {name}", "body")


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise RequestRenderError naming the first header that cannot be sent as it is: the one check
    every configured header passes, static or templated, before anything reaches a sender (hookd's
    own header values come from ids that intake already refused control characters in)."""
    # Per request: one scan of all values and a set lookup per name (names come from the config, so
    # the set stays small); the loop below only runs to name the culprit.
    if _FORBIDDEN_IN_VALUE.search("".join(headers.values())) is None and _VALID_NAMES.issuperset(headers):
        return
    for name, value in headers.items():
        if name not in _VALID_NAMES:
            if not _TOKEN.fullmatch(name):
                raise RequestRenderError(
                    f"headers.{_shown(name)}: not a valid header name; use letters, digits and - "
                    "(no spaces, colons or control characters)"
                )
            if len(_VALID_NAMES) < _MAX_VALID_NAMES:
                _VALID_NAMES.add(name)
        bad = _FORBIDDEN_IN_VALUE.search(value)
        if bad is not None and "\ud800" <= bad.group() <= "\udfff":
            raise RequestRenderError(
                f"headers.{name}: the value holds U+{ord(bad.group()):04X} at position {bad.start()}, half of a UTF-16 "
                "surrogate pair, which UTF-8 cannot carry; make the template leave it out"
            )
        if bad is not None:
            raise RequestRenderError(
                f"headers.{name}: the value has a control character ({escape_text(bad.group())} at position "
                f"{bad.start()}), which HTTP does not allow in a header; make the template produce one line "
                "of text, e.g. strip the newlines from the field it uses"
            )


def _at(e: RenderError) -> str:
    """The place inside the template, after the payload or header it belongs to: `.items[0].sku`."""
    where = describe_path(e.path, None)
    return where if not where or where.startswith("[") else f".{where}"


def _shown(name: str) -> str:
    return _FORBIDDEN_IN_VALUE.sub(lambda m: escape_text(m.group()), repr(name)[1:-1])
