"""What makes the daemon `degraded`: errors that left work undone (a failed ingest commit, an attempt
not recorded), sources that are failing now, and hooks that stopped sending without an operator
asking (paused by the receiver or by disable_after, or stopped by their circuit breaker)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from hookd.store.base import HookPause


class RecentErrors:
    """A short memory of internal errors: `hookd status` reports the daemon degraded while any is recent."""

    def __init__(self, keep: int = 100) -> None:
        self._seen: deque[tuple[float, str]] = deque(maxlen=keep)

    def add(self, message: str) -> None:
        self._seen.append((time.monotonic(), message))

    def recent(self, window_s: float) -> list[str]:
        now = time.monotonic()
        return [message for at, message in self._seen if now - at <= window_s]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceFailure:
    """A source that is not working now: why, since when, and when it is tried again (clock times)."""

    reason: str
    since: float  # the first failure of this run of failures
    failures: int  # failed attempts in a row
    retry_at: float


class SourceHealth:
    """Which sources are failing now. The supervisor writes it; `hookd status` reports each one."""

    def __init__(self) -> None:
        self._failing: dict[str, SourceFailure] = {}

    def failed(self, source: str, reason: str, *, now: float, retry_at: float) -> SourceFailure:
        """Record one more failed attempt of `source`; returns the failure as now recorded."""
        before = self._failing.get(source)
        failure = SourceFailure(
            reason=reason,
            since=before.since if before is not None else now,
            failures=before.failures + 1 if before is not None else 1,
            retry_at=retry_at,
        )
        self._failing[source] = failure
        return failure

    def recovered(self, source: str) -> SourceFailure | None:
        """The source works again; returns the failure it recovered from, None if it was not failing."""
        return self._failing.pop(source, None)

    def failing(self) -> dict[str, SourceFailure]:
        return dict(self._failing)


def paused_hook_reason(hook: str, pause: HookPause, since: str, backlog: int) -> str | None:
    """Why a paused hook makes health `degraded`, or None for an operator's pause (meant, not a problem)."""
    if pause.by == "operator":
        return None
    who = "the receiver" if pause.by == "receiver" else "breaker.disable_after"
    return (
        f"hook {hook!r} is paused by {who} since {since}: {pause.reason}; its {backlog} delivery(ies) wait "
        f"until `hookd hooks resume {hook}`"
    )


def breaker_reason(hook: str, state: str, reason: str, since: str, probe_at: str | None, backlog: int) -> str:
    """Why a hook whose circuit breaker is open or half-open makes health `degraded`."""
    if state == "open":
        return (
            f"hook {hook!r}: its circuit breaker is open since {since} ({reason}); its {backlog} delivery(ies) "
            f"wait, and one probes at {probe_at}"
        )
    return f"hook {hook!r}: its circuit breaker is half-open since {since}: one delivery probes ({reason})"


def paused_destination_reason(hook: str, host: str, pause: HookPause, since: str) -> str | None:
    """Why a paused destination of a hook with a templated url host makes health `degraded`, or None for
    an operator's pause (meant, not a problem: as a hook's)."""
    if pause.by == "operator":
        return None
    who = "the receiver" if pause.by == "receiver" else "breaker.disable_after"
    return (
        f"hook {hook!r}: its destination {host} is paused by {who} since {since}: {pause.reason}; its deliveries "
        f"wait until `hookd hooks resume {hook}` (or `--destination {host}`), the other destinations go on"
    )


def destination_breaker_reason(hook: str, host: str, state: str, reason: str, since: str, probe_at: str | None) -> str:
    """Why a destination whose circuit breaker is open or half-open makes health `degraded`."""
    if state == "open":
        return (
            f"hook {hook!r}: the circuit breaker of its destination {host} is open since {since} ({reason}); its "
            f"deliveries wait, and one probes at {probe_at}"
        )
    return (
        f"hook {hook!r}: the circuit breaker of its destination {host} is half-open since {since}: one delivery probes"
    )
