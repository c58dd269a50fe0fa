"""The request one attempt sends for one hook: headers, templates and body (pure).

The dispatcher sends what this renders and `hookd test` shows it, so a dry run is the request the
daemon would make, not a second implementation of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hookd import __version__, jsonvalue
from hookd.config.paths import describe_path
from hookd.logs import escape_text
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest
from hookd.templates import RenderError, as_text
from hookd.urls import UrlRenderError

# HTTP field values are visible characters, spaces and tabs; a CR or LF would end the header (and
# let an event forge the next one), and aiohttp refuses a request holding one. DEL and the C1
# controls (U+0080-U+009F: U+0085 is a line break to some readers, U+009B starts a terminal escape
# sequence) are not visible, nor are the line and paragraph separators U+2028 and U+2029.
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# A field name is an HTTP token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALID_NAMES: set[str] = set()  # names that passed _TOKEN
_MAX_VALID_NAMES = 1024


class RequestRenderError(Exception):
    """The request for one delivery cannot be made from this event: a template fails on it, or a
    header comes out unsendable. Final for the delivery (the same event renders the same way); the
    message says where (payload.x, headers.X-Name) and why, with no traceback needed."""


def render_failure(e: RequestRenderError) -> str:
    """The error recorded for a delivery whose request cannot be rendered (and shown by `hookd test`)."""
    return f"cannot render the request: {e}"


def render_request(
    hook: CompiledHook, delivery_id: str, event_id: str, attempt: int, body: bytes, now: float
) -> OutboundRequest:
    """The request for attempt `attempt` of a delivery of the stored event envelope `body`.

    Raises RequestRenderError, and nothing else, for anything the event or a template can cause.
    """
    cfg = hook.config
    envelope: dict[str, object] | None = None
    if hook.needs_envelope:
        try:
            loaded = jsonvalue.loads(body)
        except (jsonvalue.JsonValueError, RecursionError) as e:
            raise RequestRenderError(f"the stored event cannot be read for the templates: {e}") from None
        envelope = loaded if isinstance(loaded, dict) else None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"hookd/{__version__}",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now)),
        "hookd-delivery-id": delivery_id,
        "hookd-attempt": str(attempt),
    }
    if hook.headers:
        configured = {}
        for name, template in hook.headers:
            try:
                configured[name] = template.render_text(envelope) if envelope is not None else as_text(template.source)
            except RenderError as e:
                raise RequestRenderError(f"headers.{name}{_at(e)}: {e.reason}") from None
        # hookd's own values need no check: ids are refused at intake when they hold a control character.
        check_headers(configured)
        headers.update(configured)
    if hook.endpoint.timestamp_header is not None:
        # The signed timestamp, where the receiver reads it (the signature itself is added as the
        # request is sent: hookd.senders.endpoint).
        headers[hook.endpoint.timestamp_header] = headers["webhook-timestamp"]
    rendered = body
    if hook.payload is not None and envelope is not None:
        try:
            rendered = jsonvalue.dumps(hook.payload.render(envelope))
        except RenderError as e:
            raise RequestRenderError(f"payload{_at(e)}: {e.reason}") from None
        except (TypeError, ValueError) as e:  # nested past what JSON writers take
            raise RequestRenderError(f"payload: the rendered payload is not JSON: {e}") from None
    url = cfg.url
    if hook.url is not None:
        try:
            url = hook.url.render(envelope if envelope is not None else {})
        except RenderError as e:
            raise RequestRenderError(f"url: {e.reason}") from None
        except UrlRenderError as e:
            raise RequestRenderError(f"url: {e}") from None
    return OutboundRequest(
        method=cfg.method,
        url=url,
        headers=headers,
        body=rendered,
        timeout_s=cfg.timeout_s,
        follow_redirects=cfg.follow_redirects,
        private_headers=hook.private_headers,
        endpoint=cfg.name,
    )


def render_payload(hook: CompiledHook, body: bytes) -> bytes:
    """The body one delivery of the stored envelope `body` carries: the hook's payload rendered, or
    the envelope as it is (what render_request puts in a request; a batch's item). Raises
    RequestRenderError, and nothing else, for anything the event or the template can cause."""
    if hook.payload is None:
        return body
    try:
        loaded = jsonvalue.loads(body)
    except (jsonvalue.JsonValueError, RecursionError) as e:
        raise RequestRenderError(f"the stored event cannot be read for the templates: {e}") from None
    if not isinstance(loaded, dict):
        return body
    try:
        return jsonvalue.dumps(hook.payload.render(loaded))
    except RenderError as e:
        raise RequestRenderError(f"payload{_at(e)}: {e.reason}") from None
    except (TypeError, ValueError) as e:  # nested past what JSON writers take
        raise RequestRenderError(f"payload: the rendered payload is not JSON: {e}") from None


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
