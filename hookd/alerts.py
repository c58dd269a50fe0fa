"""Alerts: hookd's own happenings as events of the built-in source `hookd`, routed like any other.

An alert is an ordinary event whose type starts with `hookd.` (TYPES), made here and handed to ingest
as a batch of the source `hookd`: the router matches it and the store commits it with its deliveries
in one transaction, so a hook with `events: ["hookd.*"]` tells an operator, with every retry, history
and replay the other hooks have. Only globs that start with `hookd.` match these types
(hookd.router.compile_globs), and producers may not use the prefix or the source name
(hookd.events.parse_event_line), so an alert always comes from hookd itself.

`emit` only queues: one task commits what queued (hookd.ingest groups it with the sources' batches),
so a delivery never waits for its alert, and a store error costs the alerts of that commit and one log
line each, never the daemon. An alert about a delivery of a `hookd.*` event is not raised (an alert
hook that fails would otherwise alert about itself for ever), and each (hook, type) is rate-limited
on the Clock (AlertLimiter).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from hookd import jsonvalue
from hookd.clock import Clock
from hookd.errors import EventError
from hookd.events import RESERVED_PREFIX, RESERVED_SOURCE, Event, event_from_object, utc_now_rfc3339
from hookd.ids import uuid7
from hookd.logs import LogLine, isoformat
from hookd.senders.base import Outcome
from hookd.sources.base import Accepted, Batch
from hookd.store.base import DueDelivery

log = logging.getLogger("hookd.alerts")

SOURCE = RESERVED_SOURCE

# Every alert type, with the fields of its `data` (README "Alerts"; man hookd.yaml(5)). Each also
# carries `hook` (the hook it is about) and `suppressed` (how many alerts of this type for this hook
# the rate limit left out since the last one sent). The lane events' `reason` is a sentence; their
# `destination` (the host) is there only when the change is one destination's, of a hook whose url host
# is templated (hookd.destinations): that hook's other destinations go on.
TYPES: Mapping[str, tuple[str, ...]] = {
    "hookd.hook.paused": ("hook", "reason", "destination", "suppressed"),
    "hookd.hook.resumed": ("hook", "reason", "destination", "suppressed"),
    "hookd.breaker.opened": ("hook", "reason", "destination", "suppressed"),
    "hookd.breaker.closed": ("hook", "reason", "destination", "suppressed"),
    "hookd.delivery.failed": (
        "hook", "delivery_id", "event_id", "event_type", "attempts", "last_status", "error", "suppressed",
    ),
}  # fmt: skip
DELIVERY_FAILED = "hookd.delivery.failed"

# At most this many alerts of one type about one hook per window: a dead receiver failing a thousand
# deliveries must not send a thousand messages to the operator's chat. Per type, so a flood of
# failures cannot hide the breaker opening.
ALERTS_PER_WINDOW = 5
WINDOW_S = 60.0
# Windows kept before those that ended are forgotten (one per hook, or destination, and type).
MAX_WINDOWS = 10_000

Submit = Callable[[Batch], Awaitable[list[Accepted]]]

# A stored body is the envelope hookd.events wrote, which starts with its id and type: the type of a
# failed delivery's event is read from there, not by parsing a body that may be megabytes.
_HEAD = re.compile(rb'\{"id":"(?:[^"\\]|\\.)*","type":("(?:[^"\\]|\\.)*")')


@dataclass(slots=True)
class _Window:
    start: float
    sent: int = 0
    suppressed: int = 0  # left out since the last one sent (reported in the next one)
    said: bool = False  # the log line for this window's first one left out is written


class AlertLimiter:
    """At most `per_window` alerts of one type about one hook in a window of `window_s` seconds (Clock
    time), the window starting at the first alert after the last one ended. The others are counted,
    and the next alert sent says how many (`suppressed`). Pure: time is given."""

    def __init__(self, per_window: int = ALERTS_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._windows: dict[tuple[str, str], _Window] = {}  # hooks (or destinations) x TYPES
        self._forget_at = MAX_WINDOWS  # the size at which a new window makes room first

    def _forget(self, now: float) -> None:
        """Make room for a tenth of the bound at once (counted per destination too, hooks with a templated
        url host, so the producer picks how many): first the windows that ended with nothing left out,
        which a new one would start the same, then the oldest others (at worst an alert more goes out
        in a window: the price of the bound)."""
        spare = max(1, MAX_WINDOWS // 10)
        target = MAX_WINDOWS - spare
        for ended_only in (True, False):
            excess = len(self._windows) - target
            if excess <= 0:
                break
            stale = [
                k for k, w in self._windows.items()
                if not ended_only or (now >= w.start + self.window_s and not w.suppressed)
            ][:excess]  # fmt: skip
            for k in stale:
                del self._windows[k]
        self._forget_at = len(self._windows) + spare

    def admit(self, hook: str, type_: str, now: float) -> int | None:
        """How many were left out before this one, if it may go; None if it is left out."""
        window = self._windows.get((hook, type_))
        if window is None:
            if len(self._windows) >= self._forget_at:
                self._forget(now)
            window = self._windows[(hook, type_)] = _Window(now)
        elif now >= window.start + self.window_s:
            window.start, window.sent, window.said = now, 0, False
        if window.sent < self.per_window:
            window.sent += 1
            left_out, window.suppressed = window.suppressed, 0
            return left_out
        window.suppressed += 1
        if not window.said:
            window.said = True
            log.warning(LogLine(
                f"alerts: more than {self.per_window} of this type about this hook within {self.window_s:.0f}s; "
                "the rest of this window are left out, and the next alert sent counts them (data.suppressed)",
                {"hook": hook, "type": type_, "until": isoformat(window.start + self.window_s)},
            ))  # fmt: skip
        return None


class Alerts:
    """Makes alert events and commits them through ingest. `listening`: some hook has a glob that
    starts with `hookd.`; when none has, every call returns at once and nothing is stored."""

    def __init__(self, clock: Clock, *, listening: bool, limiter: AlertLimiter | None = None) -> None:
        self.clock = clock
        self.listening = listening
        self.limiter = limiter or AlertLimiter()
        self._queued: list[Event] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.emitted_total = 0
        self.suppressed_total = 0
        self.lost_total = 0  # queued, then not stored (the store failed)

    def emit(self, type_: str, hook: str, data: Mapping[str, object], *, about: str | None = None) -> None:
        """Queue an alert of `type_` (one of TYPES) about `hook`. Never blocks; safe to call from any
        task of the event loop. `data` holds the type's fields other than hook and suppressed: never a
        secret (errors are redacted before they get here). `about`: what the rate limit counts by, when
        not the hook (one destination of it: a dead tenant's alerts do not use up another's)."""
        if not self.listening:
            return
        if type_ not in TYPES:
            raise ValueError(f"unknown alert type {type_!r}; add it to hookd.alerts.TYPES and the docs")
        now = self.clock.now()
        left_out = self.limiter.admit(about if about is not None else hook, type_, now)
        if left_out is None:
            self.suppressed_total += 1
            return
        value = {
            "id": uuid7(),
            "type": type_,
            "time": utc_now_rfc3339(now),
            "source": SOURCE,
            "data": {"hook": hook, **data, "suppressed": left_out},
        }
        try:
            event = event_from_object(value, now=now)
        except EventError as e:  # a value that cannot be JSON: a bug, but never one that stops a delivery
            log.error(LogLine("alerts: could not make the alert", {"hook": hook, "type": type_, "error": str(e)}))
            return
        self._queued.append(event)
        self.emitted_total += 1
        self._wake.set()

    def lane_changed(self, kind: str, hook: str, reason: str) -> None:
        """The dispatcher's on_lane_event: a hook was paused or resumed, its breaker opened or closed
        (`kind` is the type without `hookd.`: hook.paused, hook.resumed, breaker.opened, breaker.closed)."""
        self.emit(f"{RESERVED_PREFIX}{kind}", hook, {"reason": reason})

    def destination_changed(self, kind: str, hook: str, reason: str, destination: str) -> None:
        """The dispatcher's on_destination_event: `lane_changed` for one destination host of a hook whose
        url host is templated; the alert's data names it (`destination`)."""
        self.emit(
            f"{RESERVED_PREFIX}{kind}",
            hook,
            {"reason": reason, "destination": destination},
            about=f"{hook}\x00{destination}",
        )

    def delivery_failed(
        self,
        *,
        hook: str,
        delivery_id: str,
        event_id: str,
        event_type: str | None,
        attempts: int,
        last_status: int | None,
        error: str,
    ) -> None:
        """A delivery failed for good (dead-lettered). Not about a delivery of an alert: an alert
        hook that fails for good would otherwise alert about its own alert, and so on."""
        if event_type is not None and event_type.startswith(RESERVED_PREFIX):
            return
        self.emit(DELIVERY_FAILED, hook, {
            "delivery_id": delivery_id,
            "event_id": event_id,
            "event_type": event_type,
            "attempts": attempts,
            "last_status": last_status,
            "error": error,
        })  # fmt: skip

    def attempt_failed(self, d: DueDelivery, outcome: Outcome) -> None:
        """The dispatcher's callback: `d`'s attempt failed and it is not retried (out of attempts, a
        permanent 4xx, a template that cannot render on its event). `outcome.error` is redacted."""
        self.delivery_failed(
            hook=d.hook,
            delivery_id=d.id,
            event_id=d.event_id,
            event_type=event_type_of(d.body),
            attempts=d.attempt,
            last_status=outcome.status,
            error=outcome.error,
        )

    def filter_failed(self, delivery_id: str, event: Event, hook: str, reason: str) -> None:
        """Ingest's callback: the hook's filter could not be evaluated on `event`, so its delivery was
        stored failed with no attempt (hookd.router.FILTER_FAILED). `reason` is redacted."""
        self.delivery_failed(
            hook=hook,
            delivery_id=delivery_id,
            event_id=event.id,
            event_type=event.type,
            attempts=0,
            last_status=None,
            error=reason,
        )

    # -- committing ---------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queued)

    def start(self, submit: Submit) -> None:
        """Commit queued alerts through `submit` (Ingest.submit) from one task, until `close`."""
        if self.listening:
            self._task = asyncio.create_task(self._run(submit), name="hookd-alerts")

    async def _run(self, submit: Submit) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush(submit)

    async def flush(self, submit: Submit) -> None:
        """Commit what is queued now. A store error is logged, one line per alert, and those are left
        out: alerts about a failing store would fail the same way."""
        if not self._queued:
            return
        events, self._queued = self._queued, []
        try:
            await submit(Batch(events=events, source=SOURCE))
        except asyncio.CancelledError:
            raise  # the batch is in ingest's queue by then, and committed with it
        except Exception as e:
            self.lost_total += len(events)
            for event in events:
                data = event.envelope.get("data")
                hook = data.get("hook") if isinstance(data, dict) else None
                # The alert itself goes in the line (its data holds no secret): the log is all it gets.
                fields = {"event": event.id, "type": event.type, "hook": str(hook), "error": str(e),
                          "alert": event.body.decode()}  # fmt: skip
                log.error(LogLine("alerts: could not store the alert, so no hook gets it", fields))

    async def close(self, submit: Submit | None) -> None:
        """Stop the task, then commit what is queued through `submit` (None: keep it queued). Alerts
        raised later (by the last in-flight attempts) stay queued for a last `flush`. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if submit is not None:
            await self.flush(submit)


def event_type_of(body: bytes) -> str | None:
    """The type of the event whose stored envelope is `body`; None if it cannot be read."""
    head = _HEAD.match(body)
    try:
        if head is not None:
            found = json.loads(head.group(1))
        else:
            envelope = jsonvalue.loads(body)
            found = envelope.get("type") if isinstance(envelope, dict) else None
    except ValueError:
        return None
    return found if isinstance(found, str) else None


def is_listening(globs: tuple[str, ...] | list[str]) -> bool:
    """Whether a hook with these event globs hears alerts."""
    return any(g.startswith(RESERVED_PREFIX) for g in globs)
