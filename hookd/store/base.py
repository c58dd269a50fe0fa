"""The Store interface and its records. The store is the only owner of the database.

Every method is one transaction; writes are idempotent by id, so a retried call after a crash
does no harm. A PostgreSQL store for several instances implements the same Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

from hookd.events import Event
from hookd.senders.base import Hop
from hookd.sources.base import Checkpoint, Rejection

_NO_FAILURES: Mapping[str, str] = MappingProxyType({})

# `cancelled`: withdrawn before it was delivered (`hookd replay --cancel`, or an interrupted
# `replay --wait`); kept, never deleted, so history shows it, and pruned like the other finished states.
DeliveryState = Literal["pending", "delivering", "delivered", "failed", "cancelled"]
# What history shows: the stored state, with `pending` split by whether an attempt was made.
DeliveryStatus = Literal["pending", "delivering", "delivered", "retrying", "failed", "cancelled"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = (
    "pending", "delivering", "delivered", "retrying", "failed", "cancelled",
)  # fmt: skip
FINISHED_STATES: tuple[DeliveryState, ...] = ("delivered", "failed", "cancelled")


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True)
class RoutedEvent:
    """An event, the source it came from, and the hooks it matched (the router's output)."""

    event: Event
    source: str
    hooks: Sequence[str]
    # Hooks whose delivery the dispatcher takes at once: stored `delivering` with the first attempt
    # counted, exactly as a claim would leave it, and returned in IngestResult.claimed.
    claimed: frozenset[str] = frozenset()
    # Hooks whose filter could not be evaluated on the event, with the reason: each gets a delivery
    # stored `failed` with no attempt and the reason as its error (router.FILTER_FAILED).
    failed: Mapping[str, str] = field(default_factory=lambda: _NO_FAILURES)
    # The ordering key of each matched hook that has an ordering_key and got a non-null key from the
    # event (router.ordering_key); None when no hook of the event orders (the common case, no lookup).
    keys: Mapping[str, str] | None = None
    # The destination host of each matched hook whose url host is templated (router.destinations); None
    # when none of the event's hooks has one (the common case, no lookup).
    destinations: Mapping[str, str] | None = None


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True)
class DueDelivery:
    """A delivery claimed for one attempt: its state is now `delivering`, its attempt counted."""

    id: str
    event_id: str
    hook: str
    attempt: int  # this attempt's number, 1-based
    body: bytes  # the stored event envelope (JSON)
    replay_of: str | None
    # Its ordering key as stored (None: unordered). When it ends for good, the next of its key goes:
    # kept with the delivery, not read from the config, so a process with another config keeps the order.
    ordering_key: str | None = None
    # The destination host, for a hook whose url host is templated (stored at ingest; None for the
    # others, and for rows stored before it was: the dispatcher renders it then).
    destination: str | None = None
    inbound: InboundRecord | None = None  # set for an event an http source received


@dataclass(frozen=True, slots=True)
class InboundRecord:
    """What an http source stored beside an event (events.Inbound), as a delivery carries it."""

    request: bytes  # the request with credentials removed, as JSON
    raw_body: bytes  # the body exactly as received

    @staticmethod
    def of(event: Event) -> InboundRecord | None:
        """What a delivery of `event` carries of its inbound request, as the store gives it back."""
        if event.inbound is None:
            return None
        return InboundRecord(event.inbound.request_json, event.inbound.raw_body)


# A DueDelivery, so that the dispatcher's lanes hold and start it as one unit, taking one slot, with
# no second kind of queue entry for hooks that do not batch to pay for.
@dataclass(slots=True, kw_only=True)
class DueBatch(DueDelivery):
    """A batch claimed for one attempt: one request carrying all its members. The members are
    `delivering`, each with its own attempt counted, and so is the batch's own attempt (its requests).
    `id` and `event_id` are the batch id (the request's webhook-id), `attempt` the batch's."""

    members: tuple[DueDelivery, ...]  # oldest first, each with its own attempt number
    # The members' rendered payloads when the batch was formed just now; None: rendered at sending.
    items: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchCandidates:
    """What a batched hook could send now and when more becomes due (Store.batch_candidates)."""

    # Pending deliveries of the hook in no batch yet and due, oldest first: `attempt` is the attempts
    # made so far (at least 1 for one a split or a cancel took out of a batch: it was sent before), and
    # `body` empty for the ids the caller said it knows.
    due: tuple[DueDelivery, ...]
    # When each of `due` was stored: max_wait counts from then, not from when it fell due, so a key's
    # next delivery (due once the one before it ended) or a backlog after a pause does not wait again.
    created_at: tuple[float, ...]
    retry_at: float | None  # when the hook's next pending batch is due, or None
    later_at: float | None  # when the next of its deliveries in no batch falls due (after now), or None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRow:
    """One batch as history shows it."""

    id: str
    hook: str
    created_at: float
    attempts: int  # requests counted so far (the one in flight included)
    members: int  # deliveries when it was formed


@dataclass(frozen=True, slots=True)
class IngestResult:
    inserted: frozenset[str]  # ids stored by this call; any other submitted id was a duplicate
    deliveries: int  # delivery rows created
    claimed: tuple[DueDelivery, ...] = ()  # the deliveries stored as claimed (see RoutedEvent.claimed)
    pending_hooks: frozenset[str] = frozenset()  # hooks that got deliveries left pending
    # The deliveries stored `failed` because the hook's filter failed on the event (RoutedEvent.failed):
    # (delivery id, event id, hook), for the alert each raises.
    failed: tuple[tuple[str, str, str], ...] = ()
    # The source that stored each id submitted again (a duplicate): an http source tells a sender's
    # retry (its own source) from another source's event that holds the same id.
    stored_by: Mapping[str, str] = field(default_factory=dict, compare=False)


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, ~3x the cost;
# this record is made for every event or attempt (bench/). Treat it as immutable all the same.
@dataclass(slots=True, kw_only=True)
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
    hops: tuple[Hop, ...] = ()  # the redirect chain followed, redacted; empty when none was
    # The delivery has an ordering key: when this attempt ends it for good, the next delivery of its
    # key becomes due (in the same transaction).
    ordered: bool = False
    # A batch's request: delivery_id and attempt are the batch's, and its members, (delivery id, its
    # attempt number), take `state` and the outcome (all `delivering` under the batch id, which the
    # store writes them by). Empty for a single delivery's attempt.
    members: tuple[tuple[str, int], ...] = ()
    # A batch's request the receiver answered 413 (too large): its members leave the batch and wait
    # again in no batch (`state` pending, due at `next_at`), their attempt given back, to go in smaller
    # ones (a row each in batch_departures keeps the request in their history).
    split: bool = False
    # The hook's name: the store keeps each hook's last success and failure time (hookd hooks list).
    hook: str = ""


# -- history and replay ------------------------------------------------------------------------------

IdTable = Literal["deliveries", "events", "batches"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryQuery:
    """Which deliveries to list. An empty tuple or None means "any"; the conditions are ANDed."""

    ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    statuses: tuple[DeliveryStatus, ...] = ()
    type_glob: str | None = None  # on the event type; `*` matches any characters, dots included
    since: float | None = None  # created_at >= since (epoch seconds)
    until: float | None = None  # created_at < until
    # False: only deliveries no later delivery replays (the newest of a chain). A cancelled replay
    # does not count: withdrawn, it never replaced the delivery it was to repeat.
    replayed: bool | None = None
    replays_only: bool = False  # only replays: `replay_of` set, or the event came from `replay --from-file`
    batch_ids: tuple[str, ...] = ()  # only members of these batches
    newest_first: bool = True
    limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRow:
    """One delivery as history shows it."""

    id: str
    event_id: str
    event_type: str | None  # None only if the event row is gone
    hook: str
    state: DeliveryState
    attempts: int  # attempts counted so far (the one in flight included)
    next_at: float | None
    created_at: float
    updated_at: float
    last_status: int | None
    last_error: str | None
    last_duration_s: float | None
    replay_of: str | None  # the delivery this one replays
    # Its hook's ordering key for its event, as stored (None: unordered). Pending with no next_at: it
    # waits for an earlier delivery of its key to finish.
    ordering_key: str | None = None
    batch_id: str | None = None  # the batch it was sent in (a hook with `batch:`), once formed

    @property
    def status(self) -> DeliveryStatus:
        if self.state == "pending" and self.attempts > 0:
            return "retrying"
        return self.state


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    """A stored event."""

    id: str
    type: str
    source: str  # the hookd source that received it (`replay:<file>` for `hookd replay --from-file`)
    event_source: str | None  # the producer's own `source` field
    time: str
    received_at: float
    body: bytes  # the envelope as JSON
    # An http source's event: the request as stored (JSON, credentials removed), the verdict (JSON, or
    # None without verify) and the raw body's size. None for the others.
    request: bytes | None = None
    verification: bytes | None = None
    raw_body_bytes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectionRow:
    """A stored rejection: input refused, with where it came from and why (hookd history rejections)."""

    at: float
    source: str  # the source's name; an http listener's own ("http HOST:PORT") for unknown paths
    position: str  # "events.jsonl:42", "conn 7 line 3", "203.0.113.9 POST /hooks/github"
    reason: str
    excerpt: bytes  # the input's first bytes (socket and file lines); empty for http requests


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRow:
    """One recorded attempt, as AttemptRecord stored it."""

    delivery_id: str
    attempt: int
    started_at: float
    duration_s: float | None
    status: int | None
    error: str | None
    request: Mapping[str, object]  # method, url, headers (redacted when recorded), body_bytes
    response_headers: Mapping[str, str]
    response_excerpt: str
    outcome: DeliveryState  # delivered, failed, or pending (a retry at next_at)
    next_at: float | None
    hops: tuple[Hop, ...] = ()  # every request of a followed redirect chain; the last went to the final URL

    @property
    def final_url(self) -> str | None:
        """Where the last request of the attempt went, when a redirect was followed."""
        return self.hops[-1].url if self.hops else None


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureReason:
    reason: str  # `HTTP 503`, or the error of an attempt that got no response
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HookStats:
    """One hook's figures over the deliveries created in a window, and all their attempts."""

    hook: str
    deliveries: int
    delivered: int
    failed: int
    unfinished: int  # pending, retrying or delivering
    cancelled: int  # withdrawn before delivery (not counted in the success rate)
    attempts: int  # attempts recorded
    p50_s: float | None  # attempt duration percentiles (nearest rank), every recorded attempt
    p95_s: float | None
    failures: tuple[FailureReason, ...]  # failed attempts by reason, most frequent first

    @property
    def success_rate(self) -> float | None:
        """Delivered among finished deliveries; None while none has finished."""
        finished = self.delivered + self.failed
        return self.delivered / finished if finished else None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayItem:
    """A new delivery of a stored event to a hook: pending, due at `next_at`."""

    event_id: str
    hook: str
    replay_of: str | None  # the delivery it replays; None when the event never had one to this hook
    next_at: float
    # Its ordering key: it goes behind the unfinished deliveries of (hook, key), if any (due at
    # next_at only when there are none).
    ordering_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneCounts:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.deliveries + self.attempts + self.events + self.rejected


# -- run-time hook state (hookd hooks pause/resume/list, a receiver's 410, the circuit breaker) ---------

# Who paused a hook: an operator (`hookd hooks pause`), the receiver (410 Gone, or `webhook-delivery:
# disable`), or the breaker's `disable_after`. Only an operator's pause leaves health `ok`.
PausedBy = Literal["operator", "receiver", "disable_after"]
PAUSED_BY: tuple[PausedBy, ...] = ("operator", "receiver", "disable_after")
BreakerState = Literal["closed", "open", "half_open"]


# A parked delivery's next_at is its due time plus this (~31,700 years): past the range of any claim
# (next_at <= now), so a closed destination's backlog is never read by one, and its due time is kept
# (unparking subtracts it). Only deliveries of hooks with a templated url host are ever parked.
PARK_OFFSET_S = 1e12


@dataclass(frozen=True, slots=True, kw_only=True)
class HookPause:
    """A hook's deliveries wait (stored, no attempt spent) until it is resumed."""

    by: PausedBy
    reason: str
    at: float
    # Whether the daemon has raised hookd.hook.paused for it. A pause made by `hookd hooks pause` is
    # stored unannounced (the command cannot tell a stopped daemon): the daemon announces it when it
    # reads it, at start too, and marks it. Not part of equality: the same pause, told or not.
    announced: bool = field(default=True, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerRecord:
    """A circuit breaker that is not closed, as stored for `hookd hooks list`."""

    state: BreakerState  # open or half_open (a closed breaker is no record)
    reason: str
    since: float
    retry_at: float | None  # open: when it probes with one delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class HookState:
    """A hook's stored run-time state, by name; a hook with no row is active with a closed breaker."""

    hook: str
    pause: HookPause | None = None
    breaker: BreakerRecord | None = None
    # When its last successful and last failed attempt ended (written with each batch of outcomes).
    last_success_at: float | None = None
    last_failure_at: float | None = None
    # False: resumed by `hookd hooks resume` and hookd.hook.resumed not raised yet (a daemon was stopped
    # then): the daemon raises it when it reads the state, at its next start too.
    resume_announced: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class HookActivity:
    """A hook's backlog, from its stored deliveries (its last outcomes are in HookState)."""

    hook: str
    backlog: int  # pending (waiting or to be retried) or claimed and not finished


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
        """Store events, one pending delivery per matched hook, one failed delivery (no attempt, the
        reason as its error) per hook in RoutedEvent.failed, rejections and checkpoints: one commit.
        A delivery with an ordering key (RoutedEvent.keys) whose (hook, key) has an unfinished delivery
        waits for it (pending, no due time), and is not claimed even if RoutedEvent.claimed names its hook.

        Idempotent: an event id already stored is left out of `inserted` and not routed again.
        """
        ...

    async def claim_due(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        """Claim up to limits[hook] pending deliveries per hook whose next attempt is due, counting
        the attempt durably before it is made. Of one (hook, ordering key) only the oldest unfinished
        delivery is ever due (the others wait for it), so a claim keeps each key's order. Not safe to
        run twice for one delivery at once."""
        ...

    async def claim_retries(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
        """As `claim_due`, of due retries only (deliveries with an attempt made), oldest due first: a
        rate-limited hook sends these before fresh deliveries."""
        ...

    async def next_retry_at(self, hook: str) -> float | None:
        """When the hook's earliest pending retry is due (maybe now), or None if it has none."""
        ...

    async def release(self, delivery_ids: Sequence[str], now: float, *, batches: Sequence[str] = ()) -> None:
        """Give back claimed deliveries that were not sent: pending again, due now, the attempt uncounted.
        Each of `batches` gives back that batch: its members, and its own attempt."""
        ...

    async def claim_batches(self, hook: str, now: float, limit: int) -> list[DueBatch]:
        """Claim up to `limit` batches of `hook` whose members are pending and due (a retry, or a batch
        a crash interrupted), counting the batch's attempt and each member's, as claim_due does."""
        ...

    async def batch_candidates(self, hook: str, now: float, limit: int, known: AbstractSet[str]) -> BatchCandidates:
        """Up to `limit` due pending deliveries of `hook` in no batch, oldest first (bodies left out for
        the ids in `known`), and when the hook's next batch and next unbatched delivery fall due. Read-only."""
        ...

    async def claim_formed(
        self, hook: str, now: float, batches: Sequence[tuple[str, Sequence[str]]], singles: Sequence[str]
    ) -> tuple[list[DueBatch], list[DueDelivery]]:
        """Form and claim new batches in one transaction: each (batch id, member ids) stores the batch and
        its membership, and claims the members still pending in no batch (the others are left out);
        `singles` are claimed alone. Counts every attempt, as claim_due does."""
        ...

    async def batch(self, batch_id: str) -> BatchRow | None:
        """One batch by id, or None. Read-only."""
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

    async def unorder(self, hooks: Sequence[str], now: float) -> int:
        """Deliveries of these hooks waiting for an earlier delivery of their ordering key become due
        now (the hooks no longer have an ordering_key). Returns how many. Idempotent."""
        ...

    async def checkpoint(self, source: str) -> Checkpoint | None:
        """The last committed checkpoint of a file source."""
        ...

    async def prune(self, older_than: float) -> int:
        """Delete finished deliveries, their attempts, orphaned events and rejections older than
        `older_than` (epoch seconds). Returns rows deleted."""
        ...

    async def prune_counts(self, older_than: float) -> PruneCounts:
        """`prune`, counting what it deleted per table."""
        ...

    async def deliveries(self, query: DeliveryQuery) -> list[DeliveryRow]:
        """Deliveries matching `query`, ordered by creation. Read-only."""
        ...

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        """One delivery by id, or None. Read-only."""
        ...

    async def event(self, event_id: str) -> EventRecord | None:
        """One stored event by id, or None. Read-only."""
        ...

    async def known_events(self, event_ids: Sequence[str]) -> frozenset[str]:
        """Which of these event ids are stored. Read-only."""
        ...

    async def attempts(self, delivery_id: str) -> list[AttemptRow]:
        """Every recorded attempt of a delivery, first to last, its batch's requests included (their
        delivery_id is the batch id); given a batch id, the batch's. Read-only."""
        ...

    async def stats(self, since: float, until: float) -> list[HookStats]:
        """Per-hook figures for deliveries created in [since, until), by hook name. Read-only."""
        ...

    async def note_config(self, sha256: str, path: str, at: float) -> None:
        """The daemon routes with this config from `at` on (hookd why)."""
        ...

    async def config_at(self, at: float) -> tuple[str, str, float] | None:
        """(sha256, path, since) of the config the daemon routed with at `at`; None if none is known."""
        ...

    async def rejections(self, since: float, sources: Sequence[str], limit: int) -> list[RejectionRow]:
        """Stored rejections since `since`, newest first, of `sources` (all when empty). Read-only."""
        ...

    async def withdraw(self, query: DeliveryQuery, now: float, reason: str) -> int:
        """Make the queued (pending, not in flight) deliveries `query` selects `cancelled`, with `reason`
        as their last error, in one transaction (the next delivery of a withdrawn one's ordering key
        becomes due). The other pending members of a batch one of them was in leave it, to go in a new
        batch under a new id: a batch's retry never carries fewer items under its id. Returns how many.
        Idempotent."""
        ...

    async def ids_with_prefix(self, table: IdTable, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids of `table` that start with `prefix`, in order: an index range, no scan. Read-only."""
        ...

    async def unique_prefix_lengths(self, ids: Sequence[str], min_length: int) -> dict[str, int]:
        """For each id, the length of its shortest prefix (at least `min_length`) that no other delivery
        or event id shares. Read-only."""
        ...

    async def hooks_with_deliveries(self, names: Sequence[str]) -> frozenset[str]:
        """Which of these hook names any stored delivery has. Read-only."""
        ...

    async def hook_names(self) -> list[str]:
        """Every hook name a stored delivery has, sorted (a full scan: for did-you-mean only). Read-only."""
        ...

    async def replay(self, items: Sequence[ReplayItem], now: float) -> list[str]:
        """Create one pending delivery per item (same event, `replay_of` set), in one transaction.
        Returns the new delivery ids in item order. Not idempotent: each call queues new deliveries."""
        ...

    async def hook_states(self) -> dict[str, HookState]:
        """Every stored hook state, by hook name, also of hooks once paused and now running (a small table:
        the daemon reads it at each poll). Read-only."""
        ...

    async def pause_hook(self, hook: str, pause: HookPause) -> HookPause | None:
        """Pause `hook` unless it is paused already. Returns the pause in force before (left as it
        was), or None when this call paused it. Idempotent."""
        ...

    async def mark_pause_announced(self, hook: str, paused_at: float) -> None:
        """Note that hookd.hook.paused was raised for `hook`'s pause made at `paused_at` (a later pause
        stays unannounced). Idempotent."""
        ...

    async def resume_hook(self, hook: str, now: float) -> HookPause | None:
        """Lift `hook`'s pause. Returns the pause lifted, or None when it was not paused. Idempotent."""
        ...

    async def mark_resume_announced(self, hook: str) -> None:
        """Note that hookd.hook.resumed was raised for `hook`'s resume (while it is not paused). Idempotent."""
        ...

    async def set_breaker(self, hook: str, breaker: BreakerRecord | None, now: float) -> None:
        """Store `hook`'s breaker state (None: closed). Idempotent."""
        ...

    async def clear_breakers(self, now: float) -> list[str]:
        """Forget every stored breaker state (a daemon starts with closed breakers). Returns the hooks
        whose breaker was stored open or half-open. Idempotent."""
        ...

    async def destination_pauses(self) -> dict[str, dict[str, HookPause]]:
        """The paused destinations of hooks with a templated url host: by hook, then host. Read-only."""
        ...

    async def mark_destination_announced(self, hook: str, destination: str) -> None:
        """Note that hookd.hook.paused was raised for `hook`'s paused `destination`. Idempotent."""
        ...

    async def pause_destination(self, hook: str, destination: str, pause: HookPause) -> HookPause | None:
        """Pause one destination of `hook` and park its deliveries. Returns the pause in force before
        (left as it was), or None when this call paused it. Idempotent."""
        ...

    async def resume_destinations(self, hook: str, destination: str | None, now: float) -> dict[str, HookPause]:
        """Lift the pause of `hook`'s `destination` (None: of all its destinations) and unpark their
        deliveries. Returns the pauses lifted, by host. Idempotent."""
        ...

    async def park(self, hook: str, destination: str, delivery_ids: Sequence[str], now: float) -> int:
        """Park `destination`'s pending deliveries (their due times kept, out of every claim's range),
        and give back `delivery_ids`, claimed for it and not sent, parked too with their attempt uncounted.
        Returns how many were parked. Idempotent."""
        ...

    async def unpark(self, hook: str, destination: str | None, now: float, limit: int | None = None) -> int:
        """Unpark `hook`'s parked deliveries of `destination` (None: of every destination not paused in
        destination_state), at most `limit` of them, those due first. Returns how many. Idempotent."""
        ...

    async def unpark_at_start(self, templated: Sequence[str], hooks: Sequence[str], now: float) -> int:
        """At start (breakers, rate limits and holds are not kept across restarts): unpark every one of
        `hooks`' deliveries parked for a destination that is not paused, and lift the stored destination
        pauses of those not in `templated` (their url host is no longer templated). One transaction.
        Returns how many were unparked. Idempotent."""
        ...

    async def hook_activity(self) -> dict[str, HookActivity]:
        """Backlog and last outcomes per hook with stored deliveries (a scan of deliveries). Read-only."""
        ...

    async def close(self) -> None:
        """Finish pending work and close. Idempotent."""
        ...

    async def audit(self, entry: AuditRow) -> None:
        """Record an operator action (hookd history audit). Not idempotent: each call is a row."""
        ...

    async def audit_rows(self, since: float, limit: int) -> list[AuditRow]:
        """Recorded operator actions since `since`, newest first, at most `limit`. Read-only."""
        ...


# -- operator actions (hookd history audit) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRow:
    """An operator action as recorded: never a secret nor an event body, only names, selections and counts."""

    at: float
    action: str  # replay | cancel | pause | resume | prune | reload
    target: str  # what it acted on: a hook, a selection of deliveries, a config file; with counts
    detail: str  # the reason given, or what came of it
    origin: str  # `cli:USER` for a command; what asked the daemon to reload (SIGHUP, admin, watch)
