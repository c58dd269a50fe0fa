"""`hookd tail`: what arrives and what becomes of it, streamed live from the running daemon.

Ingest tells the hub each stored event with the hooks it matched; the dispatcher each attempt's
outcome. The hub hands them to every reader (an admin listener's GET /tail) whose filters they pass,
through a queue bounded in lines and in bytes: a slow reader never slows the daemon nor grows its
memory, it misses lines and is told how many. Each line is serialised once, here, for every reader.
With no reader, ingest and the dispatcher pay one attribute test per commit and per attempt.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from hookd import jsonvalue
from hookd.events import Event, utc_now_rfc3339
from hookd.redact import Redactor
from hookd.router import compile_globs
from hookd.senders.base import Outcome
from hookd.sources.base import Accepted
from hookd.store.base import DueDelivery

QUEUE_LINES = 1000  # lines a reader may be behind before it misses some
# Bytes of lines a reader may be behind before it misses some: with events of up to max_event_size
# (10 MB), 1,000 lines alone let one reader that never reads hold gigabytes.
QUEUE_BYTES = 8 * 1024 * 1024
# An event stored larger than this is shown without its data ("data_truncated": true, "event_bytes"):
# a line stays small enough to queue many of, and a large event is not serialised again per line.
SHOWN_EVENT_BYTES = 64 * 1024
KNOWN_EVENTS = 10_000  # event ids a filtered reader remembers, to pass their attempts too


@dataclass(frozen=True, slots=True)
class TailFilter:
    hooks: frozenset[str] = frozenset()
    types: re.Pattern[str] | None = None  # globs, as a hook's `events`, compiled
    sources: frozenset[str] = frozenset()

    @property
    def by_event(self) -> bool:
        """Whether attempts are passed by their event (the type and source are the event's)."""
        return self.types is not None or bool(self.sources)


@dataclass(eq=False, slots=True)
class Reader:
    filter: TailFilter
    # Lines as sent (JSON and a newline), shared by every reader they were offered to.
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    queued_bytes: int = 0  # of the lines in `queue`
    missed: int = 0
    _events: OrderedDict[str, None] = field(default_factory=OrderedDict)  # ids of events passed

    def offer(self, line: bytes) -> None:
        if self.queue.full() or self.queued_bytes + len(line) > QUEUE_BYTES:
            self.missed += 1
            return
        self.queue.put_nowait(line)
        self.queued_bytes += len(line)

    async def next_line(self) -> bytes:
        """The oldest line queued, waiting for one. Safe to cancel: a line is taken only when returned."""
        line = await self.queue.get()
        self.queued_bytes -= len(line)
        return line

    def passed(self, event_id: str) -> None:
        self._events[event_id] = None
        if len(self._events) > KNOWN_EVENTS:
            self._events.popitem(last=False)

    def knows(self, event_id: str) -> bool:
        return event_id in self._events


class TailHub:
    def __init__(self, redactor: Redactor) -> None:
        self.readers: set[Reader] = set()
        self.redactor = redactor  # the config's secrets, hidden in every line

    def subscribe(self, hooks: Sequence[str], types: Sequence[str], sources: Sequence[str]) -> Reader:
        reader = Reader(TailFilter(frozenset(hooks), compile_globs(types) if types else None, frozenset(sources)))
        self.readers.add(reader)
        return reader

    def unsubscribe(self, reader: Reader) -> None:
        self.readers.discard(reader)

    def stored(self, source: str, event: Event, accepted: Accepted) -> None:
        """An event ingest stored (or found a duplicate of)."""
        line: bytes | None = None
        for reader in self.readers:
            f = reader.filter
            if f.sources and source not in f.sources:
                continue
            if f.types is not None and not f.types.fullmatch(event.type):
                continue
            if f.hooks and f.hooks.isdisjoint(accepted.hooks):
                continue
            if line is None:
                line = self._event_line(source, event, accepted)
            reader.passed(event.id)
            reader.offer(line)

    def attempted(self, d: DueDelivery, outcome: Outcome, state: str, next_at: float | None) -> None:
        """An attempt ended (outcome redacted already); `state` as recorded."""
        line: bytes | None = None
        for reader in self.readers:
            f = reader.filter
            if f.hooks and d.hook not in f.hooks:
                continue
            if f.by_event and not reader.knows(d.event_id):
                continue
            if line is None:
                line = _serialised(_attempt_line(d, outcome, state, next_at))
            reader.offer(line)

    def _event_line(self, source: str, event: Event, accepted: Accepted) -> bytes:
        line: dict[str, object] = {
            "kind": "event",
            "at": utc_now_rfc3339(),
            "id": event.id,
            "type": self.redactor.text(event.type),  # a producer's type may quote a secret, as data may
            "source": source,
            "duplicate": accepted.duplicate,
            "hooks": list(accepted.hooks),
            "failed": dict(accepted.failed),
            "data": None,
        }
        size = len(event.body)
        if size > SHOWN_EVENT_BYTES:
            # Judged by the stored body, which hookd has at hand: the data is nearly all of a large
            # event, and measuring the data alone would serialise it again, up to max_event_size.
            line["data_truncated"] = True
            line["event_bytes"] = size
        else:
            line["data"] = self._shown_data(event)
        return _serialised(line)

    def _shown_data(self, event: Event) -> object:
        """The event's data with the config's secrets hidden (None if it cannot be shown)."""
        data = event.envelope.get("data")
        try:
            return jsonvalue.loads(self.redactor.text(jsonvalue.dumps(data).decode("utf-8")))
        except (jsonvalue.JsonValueError, UnicodeDecodeError):
            return None


def _attempt_line(d: DueDelivery, outcome: Outcome, state: str, next_at: float | None) -> dict[str, object]:
    return {
        "kind": "attempt",
        "at": utc_now_rfc3339(),
        "delivery": d.id,
        "event": d.event_id,
        "hook": d.hook,
        "attempt": d.attempt,
        "status": outcome.status,
        "state": state,
        "error": outcome.error or None,
        "ms": round(outcome.duration_s * 1000, 1),
        "next_at": utc_now_rfc3339(next_at) if next_at is not None else None,
    }


def _serialised(line: dict[str, object]) -> bytes:
    # jsonvalue, not orjson alone: an event's data may hold integers past 64 bits, kept exactly.
    return jsonvalue.dumps(line) + b"\n"
