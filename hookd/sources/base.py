"""The Source interface: anything that produces events for ingest.

A source reads its input, turns each unit into an Event or a Rejection, and hands them to
`submit` in batches. `submit` returns only after the store has committed the batch (events, their
deliveries, rejections and the checkpoint, in one transaction); only then may the source
acknowledge (answer a socket line, advance a file offset, return an HTTP 2xx).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

from hookd.errors import HookdError
from hookd.events import Event


class SourceError(HookdError):
    """A source cannot work now (its path is a directory, a device, not readable): a sentence saying
    what and how to fix it. The supervisor logs it, reports the source failing and tries again."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Input that is not a valid event, kept so an operator can see what was dropped and why."""

    source: str  # the source's name
    position: str  # where: "events.jsonl:42", "conn 7 line 3"
    reason: str
    excerpt: bytes = b""  # the first bytes of the input, for the operator
    # What rejections are stored and logged per (hookd.rejections): a connection ("conn 7"); "" for
    # the whole source. Beyond the first few per window, they are only counted and summed up.
    stream: str = ""
    kind: str = "invalid_event"  # one of REJECTION_KINDS: the `reason` label of the metrics


# Why input was refused, in a few words that never vary (metrics labels must be a bounded set): a
# line or request that is no valid event, one over the size limit, and an HTTP request's refusal.
HTTP_REJECTION_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}
REJECTION_KINDS = frozenset({"invalid_event", "too_large", "other", *HTTP_REJECTION_KINDS.values()})


def http_rejection_kind(status: int) -> str:
    return HTTP_REJECTION_KINDS.get(status, "other")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a file source has read; committed with the events it covers."""

    source: str
    path: str
    device: int
    inode: int
    offset: int  # bytes consumed: always just past a newline
    line: int  # lines consumed, for messages
    # A hash of the last line before `offset` (its last 256 bytes at most): when it no longer matches
    # the file, the file was truncated and written again past `offset` (see hookd.sources.tail).
    fingerprint: str | None = None


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True)
class Accepted:
    """What ingest says about one submitted event once committed."""

    id: str
    duplicate: bool  # the id was already stored: acknowledged, not stored or delivered again
    deliveries: int  # how many hooks matched (0 for duplicates)
    # What a sync http source waits for (hookd.inbound.sync); empty for duplicates:
    hooks: Sequence[str] = ()  # the hooks matched, a delivery each
    claimed: AbstractSet[str] = frozenset()  # those the dispatcher took at the commit: starting now
    failed: Mapping[str, str] = field(default_factory=dict)  # those stored failed (the filter failed), why
    held: AbstractSet[str] = frozenset()  # ordered hooks whose delivery waits for an earlier one of its key
    stored_by: str | None = None  # a duplicate: the source that stored the id (None: this very batch)


@dataclass(slots=True)
class Batch:
    events: Sequence[Event] = ()
    rejections: Sequence[Rejection] = ()
    checkpoint: Checkpoint | None = None
    source: str = ""  # the submitting source's name, stored with each event
    ended_stream: str = ""  # this stream (a connection) has ended: write its rejection summary now


Submit = Callable[[Batch], Awaitable[list[Accepted]]]


class Source(Protocol):
    name: str

    async def start(self) -> None:
        """Open or bind what the source needs. Raises StartupError (address in use, bad path)."""
        ...

    async def run(self, submit: Submit) -> None:
        """Read input until cancelled, submitting batches. Cleans up in `finally`.

        Bad input never ends `run`: it becomes a Rejection (and, for sockets, an error reply).
        Raises only for a problem that stops the source from working at all (SourceError: a path
        that is a directory or a device). The daemon's supervisor (hookd.supervisor) then logs it,
        reports the source failing in health, and after a pause calls `close`, `start` and `run`
        again: so `run` must be able to run again after `close` and `start`.
        """
        ...

    async def stop_reading(self) -> None:
        """Shutdown, first step: take no more input, but answer what is already being committed."""
        ...

    async def close(self) -> None:
        """Release what `start` opened (a started source may never have run). Idempotent."""
        ...

    def describe(self) -> str:
        """Where the source listens or reads, resolved (port 0 replaced), for the ready line."""
        ...
