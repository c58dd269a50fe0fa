"""The request one attempt sends for one hook: headers, templates and body (pure).

The dispatcher sends what this renders and `hookd test` shows it, so a dry run is the request the
daemon would make, not a second implementation of it.
"""

from __future__ import annotations

import orjson

from hookd import __version__
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest
from hookd.templates import as_text


def render_request(
    hook: CompiledHook, delivery_id: str, event_id: str, attempt: int, body: bytes, now: float
) -> OutboundRequest:
    """The request for attempt `attempt` of a delivery of the stored event envelope `body`.

    Raises whatever a template raises when it cannot be evaluated on this event (a JMESPath
    function given the wrong type, say); the caller decides what that means.
    """
    cfg = hook.config
    envelope: dict[str, object] | None = orjson.loads(body) if hook.needs_envelope else None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"hookd/{__version__}",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now)),
        "hookd-delivery-id": delivery_id,
        "hookd-attempt": str(attempt),
    }
    for name, template in hook.headers:
        headers[name] = template.render_text(envelope) if envelope is not None else as_text(template.source)
    rendered = body if hook.payload is None or envelope is None else orjson.dumps(hook.payload.render(envelope))
    return OutboundRequest(
        method=cfg.method,
        url=cfg.url,
        headers=headers,
        body=rendered,
        timeout_s=cfg.timeout_s,
        follow_redirects=cfg.follow_redirects,
        private_headers=hook.private_headers,
    )
