"""The Store interface and its records. The store is the only owner of the database.

Every method is one transaction; writes are idempotent by id, so a retried call after a crash
does no harm. A PostgreSQL store for several instances implements the same Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from hookd.events import Event
from hookd.sources.base import Checkpoint, Rejection

DeliveryState = Literal["pending", "delivering", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class RoutedEvent:
    """An event, the source it came from, and the hooks it matched (the router's output)."""

    event: Event
    source: str
    hooks: Sequence[str]
    # Hooks whose delivery the dispatcher takes at once: stored `delivering` with the first attempt
    # counted, exactly as a claim would leave it, and returned in IngestResult.claimed.
    claimed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery claimed for one attempt: its state is now `delivering`, its attempt counted."""

    id: str
    event_id: str
    hook: str
    attempt: int  # this attempt's number, 1-based
    body: bytes  # the stored event envelope (JSON)
    replay_of: str | None


@dataclass(frozen=True, slots=True)
class IngestResult:
    inserted: frozenset[str]  # ids stored by this call; any other submitted id was a duplicate
    deliveries: int  # delivery rows created
    claimed: tuple[DueDelivery, ...] = ()  # the deliveries stored as claimed (see RoutedEvent.claimed)
    pending_hooks: frozenset[str] = frozenset()  # hooks that got deliveries left pending


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """The outcome of one attempt, and what the delivery becomes."""

    delivery_id: str
    attempt: int
    started_at: float
    duration_s: float
    status: int | None
    error: str  # redacted
    request: Mapping[str, object]  # method, url and headers, redacted
    response_headers: Mapping[str, str]
    response_excerpt: str
    state: DeliveryState  # delivered, failed, or pending (a retry at next_at)
    next_at: float | None


class Store(Protocol):
    async def open(self) -> None:
        """Create or migrate the database. Raises StartupError with an actionable message."""
        ...

    async def ingest(
        self,
        routed: Sequence[RoutedEvent],
        rejections: Sequence[Rejection],
        checkpoints: Sequence[Checkpoint],
        now: float,
    ) -> IngestResult:
        """Store events, one pending delivery per matched hook, rejections and checkpoints: one commit.

        Idempotent: an event id already stored is left out of `inserted` and not routed again.
        """
        ...

    async def claim_due(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        """Claim up to limits[hook] pending deliveries per hook whose next attempt is due, counting
        the attempt durably before it is made. Not safe to run twice for one delivery at once."""
        ...

    async def release(self, delivery_ids: Sequence[str], now: float) -> None:
        """Give back claimed deliveries that were not sent: pending again, due now, the attempt uncounted."""
        ...

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> None:
        """Store attempts and the new state of their deliveries. Idempotent by (delivery, attempt)."""
        ...

    async def next_due_at(self, hooks: Sequence[str]) -> float | None:
        """When the earliest pending delivery of these hooks is due, or None if none is pending."""
        ...

    async def recover_interrupted(self, now: float) -> int:
        """Put deliveries left `delivering` by a crash back to pending, due now. Returns how many."""
        ...

    async def checkpoint(self, source: str) -> Checkpoint | None:
        """The last committed checkpoint of a file source."""
        ...

    async def prune(self, older_than: float) -> int:
        """Delete finished deliveries, their attempts, orphaned events and rejections older than
        `older_than` (epoch seconds). Returns rows deleted."""
        ...

    async def close(self) -> None:
        """Finish pending work and close. Idempotent."""
        ...
