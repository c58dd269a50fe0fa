"""The messages between the daemon and its delivery worker (hookd.senders.worker), one class each.

Code on both sides sees only these dataclasses. On the wire (pickled, over a private socketpair;
both ends are this install) each travels as a plain tuple, made by `encode` and read by `decode`
here and nowhere else: pickling a dataclass writes a reference to its class into every frame, and
with the one or two messages a frame holds at ordinary rates that cost ~7 µs per request in the
daemon against ~1 µs for tuples (bench/). A field added to a message is added to its two lines below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookd.senders.base import Hop, OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.workers.channel import Wire
from hookd.workers.logs import Log

# daemon -> worker


@dataclass(slots=True)
class Configure:
    """First message, and again whenever the endpoints change (reload): how to talk to each hook."""

    max_connections: int
    user_agent: str
    endpoints: Mapping[str, EndpointSpec]


@dataclass(slots=True)
class Send:
    rid: int
    request: OutboundRequest


@dataclass(slots=True)
class Cancel:
    rid: int


# worker -> daemon


@dataclass(slots=True)
class Ready:
    """Once, after the worker's HTTP client started."""

    pid: int


@dataclass(slots=True)
class Answer:
    rid: int
    outcome: Outcome


ToWorker = Configure | Send | Cancel
FromWorker = Ready | Answer | Log
Message = ToWorker | FromWorker


_SEND, _CANCEL, _ANSWER, _READY, _LOG, _CONFIGURE = range(6)


def encode(m: Message) -> Wire:
    """The message as it is pickled: a tuple of plain values, its kind first."""
    if isinstance(m, Send):
        r = m.request
        return (_SEND, m.rid, r.method, r.url, dict(r.headers), r.body, r.timeout_s, r.follow_redirects,
                r.private_headers, r.endpoint, r.relay_bytes)  # fmt: skip
    if isinstance(m, Answer):
        o = m.outcome
        return (_ANSWER, m.rid, o.status, o.ok, o.retryable, o.duration_s, o.error, o.retry_after_s,
                o.response_excerpt, dict(o.response_headers),
                tuple((h.url, h.status) for h in o.hops) if o.hops else (), o.response_truncated, o.kind,
                o.relay_body, o.relay_content_type)  # fmt: skip
    if isinstance(m, Cancel):
        return (_CANCEL, m.rid)
    if isinstance(m, Ready):
        return (_READY, m.pid)
    if isinstance(m, Log):
        return (_LOG, m.levelno, m.logger, m.message, m.traceback)
    return (_CONFIGURE, m.max_connections, m.user_agent, dict(m.endpoints))


def decode(t: Wire) -> Message:
    """The message `encode` made `t` from."""
    kind = t[0]
    if kind == _SEND:
        request = OutboundRequest(method=t[2], url=t[3], headers=t[4], body=t[5], timeout_s=t[6],
                                  follow_redirects=t[7], private_headers=t[8], endpoint=t[9],
                                  relay_bytes=t[10])  # fmt: skip
        return Send(t[1], request)
    if kind == _ANSWER:
        outcome = Outcome(status=t[2], ok=t[3], retryable=t[4], duration_s=t[5], error=t[6], retry_after_s=t[7],
                          response_excerpt=t[8], response_headers=t[9],
                          hops=tuple(Hop(u, st) for u, st in t[10]) if t[10] else (),
                          response_truncated=t[11], kind=t[12], relay_body=t[13],
                          relay_content_type=t[14])  # fmt: skip
        return Answer(t[1], outcome)
    if kind == _CANCEL:
        return Cancel(t[1])
    if kind == _READY:
        return Ready(t[1])
    if kind == _LOG:
        return Log(t[1], t[2], t[3], t[4])
    return Configure(t[1], t[2], t[3])
