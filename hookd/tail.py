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
# Bytes of lines all readers together may be behind: each reader's own cap times many readers, each
# behind by a different window of lines, would otherwise add up to hundreds of MB.
TOTAL_QUEUE_BYTES = 64 * 1024 * 1024
# Readers at once: each holds an admin connection for as long as it reads, and the listener's other
# slots stay free for probes, status and reloads.
MAX_READERS = 16
# Filters per kind (hook, type, source) and characters per filter: every event is matched against
# every reader's type globs on the event loop, so they are kept small.
MAX_FILTERS = 16
MAX_FILTER_CHARS = 200


class TailRefused(Exception):
    """A /tail request the hub will not serve: a sentence for the reader, and the HTTP status to
    answer it with (503 while the readers are all taken, 400 for filters over the limits)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class TailFilter:
    hooks: frozenset[str] = frozenset()
    types: re.Pattern[str] | None = None  # globs, as a hook's `events`, compiled
    sources: frozenset[str] = frozenset()

    @property
    def by_event(self) -> bool:
        """Whether attempts are passed by their event (the type and source are the event's)."""
        return self.types is not None or bool(self.sources)


@dataclass(slots=True)
class _Budget:
    """Bytes queued for all readers together, and how many they may be."""

    limit: int = TOTAL_QUEUE_BYTES
    used: int = 0


@dataclass(eq=False, slots=True)
class Reader:
    filter: TailFilter
    budget: _Budget = field(default_factory=_Budget)  # the hub's, shared by its readers
    # Lines as sent (JSON and a newline), shared by every reader they were offered to.
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LINES))
    queued_bytes: int = 0  # of the lines in `queue`
    missed: int = 0
    _events: OrderedDict[str, None] = field(default_factory=OrderedDict)  # ids of events passed

    def offer(self, line: bytes) -> None:
        size = len(line)
        if self.queue.full() or self.queued_bytes + size > QUEUE_BYTES or self.budget.used + size > self.budget.limit:
            self.missed += 1
            return
        self.queue.put_nowait(line)
        self.queued_bytes += size
        self.budget.used += size

    async def next_line(self) -> bytes:
        """The oldest line queued, waiting for one. Safe to cancel: a line is taken only when returned."""
        line = await self.queue.get()
        self.queued_bytes -= len(line)
        self.budget.used -= len(line)
        return line

    def drop(self) -> None:
        """Gone: what it had queued no longer counts against the hub's budget."""
        self.budget.used -= self.queued_bytes
        self.queued_bytes = 0

    def passed(self, event_id: str) -> None:
        self._events[event_id] = None
        if len(self._events) > KNOWN_EVENTS:
            self._events.popitem(last=False)

    def knows(self, event_id: str) -> bool:
        return event_id in self._events


class TailHub:
    def __init__(self, redactor: Redactor, *, total_queue_bytes: int = TOTAL_QUEUE_BYTES) -> None:
        self.readers: set[Reader] = set()
        self.redactor = redactor  # the config's secrets, hidden in every line
        self._budget = _Budget(limit=total_queue_bytes)

    def subscribe(self, hooks: Sequence[str], types: Sequence[str], sources: Sequence[str]) -> Reader:
        """A new reader with these filters. Raises TailRefused."""
        if len(self.readers) >= MAX_READERS:
            raise TailRefused(f"{MAX_READERS} readers already follow the stream; stop one and try again", 503)
        for kind, given in (("hook", hooks), ("type", types), ("source", sources)):
            if len(given) > MAX_FILTERS:
                raise TailRefused(f"{len(given)} {kind} filters, over {MAX_FILTERS}; give fewer")
            if any(len(one) > MAX_FILTER_CHARS for one in given):
                raise TailRefused(f"a {kind} filter is over {MAX_FILTER_CHARS} characters; give a shorter one")
        types_glob = compile_globs(types) if types else None
        reader = Reader(TailFilter(frozenset(hooks), types_glob, frozenset(sources)), self._budget)
        self.readers.add(reader)
        return reader

    def unsubscribe(self, reader: Reader) -> None:
        if reader in self.readers:
            self.readers.discard(reader)
            reader.drop()

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

    def attempted(
        self, d: DueDelivery, outcome: Outcome, state: str, next_at: float | None, *, batch: str | None = None
    ) -> None:
        """An attempt ended (outcome redacted already); `state` as recorded. For a batch's request, once
        per member, with the batch's id."""
        line: bytes | None = None
        for reader in self.readers:
            f = reader.filter
            if f.hooks and d.hook not in f.hooks:
                continue
            if f.by_event and not reader.knows(d.event_id):
                continue
            if line is None:
                line = _serialised(_attempt_line(d, outcome, state, next_at, self.redactor, batch))
            reader.offer(line)

    def _event_line(self, source: str, event: Event, accepted: Accepted) -> bytes:
        line: dict[str, object] = {
            "kind": "event",
            "at": utc_now_rfc3339(),
            # A producer's id and type may quote a secret of the config, as its data may.
            "id": self.redactor.text(event.id),
            "type": self.redactor.text(event.type),
            "received_by": source,  # the source's name in the config (`source` is the producer's field)
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


def _attempt_line(
    d: DueDelivery, outcome: Outcome, state: str, next_at: float | None, redactor: Redactor, batch: str | None
) -> dict[str, object]:
    line: dict[str, object] = {
        "kind": "attempt",
        "at": utc_now_rfc3339(),
        "delivery": d.id,
        "event": redactor.text(d.event_id),
        "hook": d.hook,
        "attempt": d.attempt,
        "status": outcome.status,
        "state": state,
        "error": outcome.error or None,
        "ms": round(outcome.duration_s * 1000, 1),
        "next_at": utc_now_rfc3339(next_at) if next_at is not None else None,
    }
    if batch is not None:
        line["batch"] = batch
    return line


def _serialised(line: dict[str, object]) -> bytes:
    # jsonvalue, not orjson alone: an event's data may hold integers past 64 bits, kept exactly.
    return jsonvalue.dumps(line) + b"\n"
