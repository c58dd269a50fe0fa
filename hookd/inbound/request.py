"""One inbound HTTP request as the http source read it, before it is an event (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, and one is made
# per request (bench/). Treat it as immutable all the same.
@dataclass(slots=True)
class InboundRequest:
    """What verification and mapping read. The body is the exact bytes received (signatures cover
    them); header names are lower-cased, repeated headers kept in order."""

    method: str  # upper-case
    path: str  # decoded, without the query
    headers: tuple[tuple[str, str], ...]
    body: bytes
    remote_ip: str  # the client's address: the peer's, or X-Forwarded-For's as trusted_proxies allow
    query: tuple[tuple[str, str], ...] = ()  # decoded, in order, repeated names kept
    params: Mapping[str, str] = field(default_factory=dict)  # the path's {name} segments
    raw_query: str = ""  # as sent, for schemes that sign the URL
    _first: dict[str, str] = field(init=False, repr=False, compare=False)  # lower-cased name -> first value

    def __post_init__(self) -> None:
        first: dict[str, str] = {}
        for name, value in self.headers:
            first.setdefault(name.lower(), value)
        self._first = first

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        return self._first.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """The first value of query parameter `name`, or None."""
        return next((v for k, v in self.query if k == name), None)
