"""`hookd tail`: what arrives and what becomes of it, streamed live from the running daemon.

Ingest tells the hub each stored event with the hooks it matched; the dispatcher each attempt's
outcome. The hub hands them to every reader (an admin listener's GET /tail) whose filters they pass,
through a bounded queue: a slow reader never slows the daemon, it misses lines and is told how many.
With no reader, ingest and the dispatcher pay one attribute test per commit and per attempt.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from hookd import jsonvalue
from hookd.events import Event
from hookd.redact import Redactor
from hookd.router import compile_globs
from hookd.senders.base import Outcome
from hookd.sources.base import Accepted
from hookd.store.base import DueDelivery

QUEUE_LINES = 1000  # lines a reader may be behind before it misses some
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
    queue: asyncio.Queue[dict[str, object]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    missed: int = 0
    _events: OrderedDict[str, None] = field(default_factory=OrderedDict)  # ids of events passed

    def offer(self, line: dict[str, object]) -> None:
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            self.missed += 1

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
        line: dict[str, object] | None = None
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
        line: dict[str, object] | None = None
        for reader in self.readers:
            f = reader.filter
            if f.hooks and d.hook not in f.hooks:
                continue
            if f.by_event and not reader.knows(d.event_id):
                continue
            if line is None:
                line = {
                    "kind": "attempt",
                    "at": time.time(),
                    "delivery": d.id,
                    "event": d.event_id,
                    "hook": d.hook,
                    "attempt": d.attempt,
                    "status": outcome.status,
                    "state": state,
                    "error": outcome.error or None,
                    "ms": round(outcome.duration_s * 1000, 1),
                    "next_at": next_at,
                }
            reader.offer(line)

    def _event_line(self, source: str, event: Event, accepted: Accepted) -> dict[str, object]:
        data = event.envelope.get("data")
        try:
            shown = jsonvalue.loads(self.redactor.text(jsonvalue.dumps(data).decode("utf-8")))
        except (jsonvalue.JsonValueError, UnicodeDecodeError):
            shown = None
        return {
            "kind": "event",
            "at": time.time(),
            "id": event.id,
            "type": event.type,
            "source": source,
            "duplicate": accepted.duplicate,
            "hooks": list(accepted.hooks),
            "failed": dict(accepted.failed),
            "data": shown,
        }
