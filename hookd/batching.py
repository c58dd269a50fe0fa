"""A batched hook's requests (a hook's `batch:`, issue 21): which of its due deliveries go out
together, and the one body they make (pure; time is given, never read).

A batch is formed once, in the transaction that first claims it (Store.claim_formed), and never
changes after: a retry, or a re-send after a crash, carries the same deliveries under the same id.
Only a batch the receiver answers 413 (too large) is undone: its members wait again in no batch, to
go in smaller ones (Batcher.split lowers the hook's max_events, in memory). When some members of a
batch waiting for its retry are withdrawn (`hookd replay --cancel`), the others leave it too, to go in
a new batch under a new id: it is never sent again with fewer.
Its body is a JSON array of the members' payloads, each rendered as a single delivery's would be (the
hook's `payload`, or the envelope), oldest first; or `batch.payload` rendered over
`{"events": [those payloads], "count": n}`. With `format: cloudevents` each item is a structured
CloudEvent and the array is the CloudEvents batch format (application/cloudevents-batch+json); the
other formats, and presets, send one event per request (validate refuses them with `batch`). Its
request's `webhook-id` is the batch id.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookd import body_formats, jsonvalue
from hookd.config.model import BatchConfig
from hookd.rendering import RequestRenderError, render_batch_request, render_payload
from hookd.router import CompiledHook
from hookd.senders.base import OutboundRequest
from hookd.store.base import BatchCandidates, DueDelivery
from hookd.templates import RenderError, Template, compile_template

# The array's brackets; each item after the first adds a comma.
_BRACKETS = 2
# The least one more payload adds to an array: its comma and one byte (`0`). A batch that has no room
# for it is full, and goes at once (a single payload larger than max_size, too).
_LEAST_ADDED = 2
# Candidates read a batch before any payload of the hook is rendered (nothing bounds them by max_size
# yet): reading max_events of them (up to 10,000) a slot held a backlog's first claim for a third of a
# second, and all its rows in memory. Where more than this many fit in a batch, a process's first
# batches may go with this many (or, stored less than max_wait ago, wait for more): the next claim
# knows the payloads' size.
_FIRST_READ = 100


@dataclass(slots=True)
class Formed:
    """What a batched hook can send now (Batcher.form)."""

    batches: list[list[DueDelivery]]  # each sendable now, oldest first
    # Whose payload cannot be rendered: claimed alone, each fails as a single delivery does (final,
    # with the reason), so one bad event never holds a batch back.
    singles: list[DueDelivery]
    # When the deliveries left waiting for more to join them have waited max_wait; None: none wait.
    wait_until: float | None


class Batcher:
    """One batched hook: forms its batches and renders their requests. Keeps the payloads it rendered
    for the deliveries still waiting, so a batch filling up over many rounds renders each event once."""

    __slots__ = ("_rendered", "_smallest", "config", "content_type", "hook", "max_events", "payload")

    def __init__(self, hook: CompiledHook) -> None:
        assert hook.config.batch is not None
        self.hook = hook
        self.config: BatchConfig = hook.config.batch
        self.payload: Template | None = (
            compile_template(self.config.payload) if self.config.payload is not None else None
        )
        # A JSON array, of structured CloudEvents with format cloudevents (validate refuses batch.payload
        # beside it: the array is the format).
        self.content_type = (
            body_formats.CLOUDEVENTS_BATCH
            if hook.config.format == "cloudevents" and self.payload is None
            else body_formats.JSON
        )
        self._rendered: dict[str, bytes | RequestRenderError] = {}
        # The smallest payload rendered so far (bytes; 0: none yet): how many candidates can fit in a
        # batch of max_size at most (candidates_for).
        self._smallest = 0
        # At most this many events a batch: batch.max_events, lowered by split() when the receiver
        # answered 413 (too large) to a batch. Kept in memory only: a restart or reload starts again
        # from the config.
        self.max_events = self.config.max_events

    def split(self, members: int) -> int:
        """The receiver found a batch of `members` deliveries too large (413): from now on batches hold
        at most half of it (at least 1). A batch larger than the limit already (formed before an earlier
        413 lowered it, or sent beside it) lowers it no more: the limit is smaller than that batch
        already. Returns the new limit."""
        if members <= self.max_events:
            self.max_events = max(1, members // 2)
        return self.max_events

    def candidates_for(self, units: int) -> int:
        """How many due deliveries to read to form `units` batches: each closes at max_events, or at the
        first payload that takes it past max_size, and no payload is smaller than the smallest seen, so
        a batch holds fewer than max_size // smallest + 1 of them. Reading more would render payloads
        that cannot go this round: with max_events 10,000 and max_size 64 KB, a backlog of 2 KB events
        was read and rendered 10,000 at a time per slot for 31 to go, each round (issue 21, attacker's
        finding). Before any payload is rendered, at most _FIRST_READ each."""
        fit = self.config.max_size // self._smallest + 1 if self._smallest else _FIRST_READ
        return units * min(self.max_events, fit)

    @property
    def known(self) -> frozenset[str]:
        """Deliveries whose payload is rendered already (the store need not read their events again)."""
        return frozenset(self._rendered)

    def item(self, d: DueDelivery) -> bytes:
        """The payload of one member, rendered now or when its batch was formed. Raises RequestRenderError."""
        rendered = self._rendered.pop(d.id, None)
        if rendered is None:
            return render_payload(self.hook, d.body, d.inbound)
        if isinstance(rendered, RequestRenderError):
            raise rendered
        return rendered

    def form(self, candidates: BatchCandidates, now: float, units: int, *, flush: bool = False) -> Formed:
        """Up to `units` batches of the due deliveries, oldest first: a batch closes at max_events (or the
        lower limit a split set), or
        when one more payload would take its array past max_size (a payload larger than max_size goes
        alone). The last, still open, goes too when it is full, when its oldest has waited max_wait
        since it was stored, when it holds a delivery sent before (split off a batch the receiver
        found too large), or with `flush` (a command that drains does not wait).
        It renders the candidates in order only until `units` batches are closed: the rest cannot go
        this round (it does not claim them), and are rendered when they can."""
        config = self.config
        max_events = self.max_events
        smallest = self._smallest
        rendered: dict[str, bytes | RequestRenderError] = {}
        groups: list[list[DueDelivery]] = []
        singles: list[DueDelivery] = []
        group: list[DueDelivery] = []
        opened_at = 0.0  # when the open group's oldest was stored
        # The open group holds a delivery sent before (split off a batch answered 413): it does not wait
        # for max_wait again, it goes with what is due now.
        resent = False
        size = _BRACKETS
        for d, created_at in zip(candidates.due, candidates.created_at, strict=True):
            item = self._rendered.get(d.id)
            if item is None:
                try:
                    item = render_payload(self.hook, d.body, d.inbound)
                except RequestRenderError as e:
                    item = e
            rendered[d.id] = item
            if isinstance(item, RequestRenderError):
                singles.append(d)
                continue
            if not smallest or len(item) < smallest:
                smallest = len(item)
            added = len(item) + (1 if group else 0)
            if group and (len(group) >= max_events or size + added > config.max_size):
                groups.append(group)
                if len(groups) > units:  # closed one batch more than it can send: the rest waits too
                    group = []
                    break
                group, size, added, resent = [], _BRACKETS, len(item), False
            if not group or created_at < opened_at:
                opened_at = created_at
            resent = resent or d.attempt > 0
            group.append(d)
            size += added
        wait_until: float | None = None
        if group:
            full = len(group) >= max_events or size + _LEAST_ADDED > config.max_size
            if flush or full or resent or opened_at + config.max_wait_s <= now:
                groups.append(group)
            else:
                wait_until = opened_at + config.max_wait_s
        if len(groups) > units:  # the rest wait for a free slot, in no batch yet
            groups = groups[:units]
            wait_until = None
        # What is no longer a candidate (claimed, withdrawn) is forgotten; the rest are the candidates up
        # to one batch past the `units` sent (what the next round reads first), so this stays bounded.
        self._rendered = rendered
        self._smallest = smallest
        return Formed(batches=groups, singles=singles, wait_until=wait_until)

    def body(self, items: list[bytes]) -> bytes:
        """The request body of a batch of these payloads. Raises RequestRenderError."""
        array = b"[" + b",".join(items) + b"]"
        if self.payload is None:
            return array
        try:
            events = [jsonvalue.loads(item) for item in items]
        except (jsonvalue.JsonValueError, RecursionError) as e:
            raise RequestRenderError(f"batch.payload: a payload of the batch cannot be read: {e}") from None
        try:
            return jsonvalue.dumps(self.payload.render({"events": events, "count": len(events)}))
        except RenderError as e:
            raise RequestRenderError(f"batch.payload: {e}") from None
        except (TypeError, ValueError) as e:
            raise RequestRenderError(f"batch.payload: the rendered payload is not JSON: {e}") from None

    def request(self, batch_id: str, attempt: int, items: list[bytes], now: float) -> OutboundRequest:
        """The request of attempt `attempt` of a batch: webhook-id (and hookd-delivery-id) is the batch
        id, so a receiver that dedupes by it sees a retry as the same message; signing, added as it is
        sent, covers these exact bytes. Raises RequestRenderError."""
        return render_batch_request(self.hook, batch_id, attempt, self.body(items), self.content_type, now)
