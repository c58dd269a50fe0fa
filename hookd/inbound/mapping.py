"""An inbound request as an event (pure): handshakes, the body read by its content type, the stored
request with credentials removed, and the event's type and id from `event_type`/`event_id` or the
provider's defaults. The http source and `hookd test --request` both use InboundMapper."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HandshakeAnswer:
    """A provider's subscription check, answered at once and not stored as an event."""

    status: int
    content_type: str
    body: bytes


class RequestRefused(Exception):
    """The request cannot become an event: answered with `status` (400, 415) and str() as the reason
    (a sentence for the sender and `hookd history rejections`, never quoting a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
