"""The messages between the daemon and its http worker (hookd.sources.http_worker), one class each.

As for the delivery worker (hookd.senders.messages): code on both sides sees these dataclasses, and
each travels as a plain tuple made by `encode` and read by `decode`, here and nowhere else.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hookd import jsonvalue
from hookd.config.model import HttpSourceConfig
from hookd.events import Event, Inbound
from hookd.inbound.reply import JSON_HEADERS
from hookd.sources.base import Rejection
from hookd.workers.channel import Wire
from hookd.workers.logs import Log


def read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


# A source's config holds read-only mappings (response.headers): pickled as the dict they show, made
# read-only again on the other side.
copyreg.pickle(MappingProxyType, lambda m: (read_only, (dict(m),)))

# daemon -> worker


@dataclass(slots=True)
class Configure:
    """First message: the http sources to serve and the bytes their bodies may hold while read."""

    sources: tuple[HttpSourceConfig, ...]
    body_budget: int


@dataclass(slots=True)
class StopReading:
    """Shutdown's first step: answer 503 from now on; `Stopped` once what was in flight is answered."""


@dataclass(slots=True)
class Answer:
    """What to answer the request `rid` (hookd.inbound.back.Reply)."""

    rid: int
    status: int
    headers: Mapping[str, str]
    body: bytes


# worker -> daemon


@dataclass(slots=True)
class Ready:
    """Once, after binding: each source's address (its listener's, with its path), or why it could not."""

    pid: int
    addresses: Mapping[str, tuple[str, int]]  # source name -> (address, port)
    error: str | None = None


@dataclass(slots=True)
class Take:
    """A verified request's event, to store (and, for a sync source, to deliver) and answer."""

    rid: int
    source: str
    event: Event


@dataclass(slots=True)
class Reject:
    rejection: Rejection


@dataclass(slots=True)
class Stopped:
    pass


ToWorker = Configure | StopReading | Answer
FromWorker = Ready | Take | Reject | Stopped | Log
Message = ToWorker | FromWorker

_CONFIGURE, _STOP, _ANSWER, _READY, _TAKE, _REJECT, _STOPPED, _LOG = range(8)


def encode(m: Message) -> Wire:
    if isinstance(m, Take):
        e = m.event
        inbound = e.inbound
        assert inbound is not None
        # The envelope goes as its JSON (the body), read again there: cheaper than pickling the dict.
        return (_TAKE, m.rid, m.source, e.id, e.type, e.time, e.source, e.body, inbound.request_json,
                inbound.raw_body, inbound.verification)  # fmt: skip
    if isinstance(m, Answer):
        # Nearly every answer has the plain JSON headers: sent as None rather than pickled each time.
        return (_ANSWER, m.rid, m.status, None if m.headers is JSON_HEADERS else dict(m.headers), m.body)
    if isinstance(m, Reject):
        r = m.rejection
        return (_REJECT, r.source, r.position, r.reason, r.excerpt, r.stream, r.kind)
    if isinstance(m, Log):
        return (_LOG, m.levelno, m.logger, m.message, m.traceback)
    if isinstance(m, Ready):
        return (_READY, m.pid, dict(m.addresses), m.error)
    if isinstance(m, Configure):
        return (_CONFIGURE, m.sources, m.body_budget)
    if isinstance(m, StopReading):
        return (_STOP,)
    return (_STOPPED,)


def decode(t: Wire) -> Message:
    kind = t[0]
    if kind == _TAKE:
        envelope = jsonvalue.loads(t[7])
        assert isinstance(envelope, dict)
        event = Event(id=t[3], type=t[4], time=t[5], source=t[6], envelope=envelope, body=t[7])
        event.inbound = Inbound(None, t[9], t[10], request_json=t[8])
        return Take(t[1], t[2], event)
    if kind == _ANSWER:
        return Answer(t[1], t[2], JSON_HEADERS if t[3] is None else t[3], t[4])
    if kind == _REJECT:
        return Reject(Rejection(source=t[1], position=t[2], reason=t[3], excerpt=t[4], stream=t[5], kind=t[6]))
    if kind == _LOG:
        return Log(t[1], t[2], t[3], t[4])
    if kind == _READY:
        return Ready(t[1], t[2], t[3])
    if kind == _CONFIGURE:
        return Configure(t[1], t[2])
    if kind == _STOP:
        return StopReading()
    return Stopped()
