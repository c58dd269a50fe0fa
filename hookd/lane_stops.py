"""What stops a whole lane: its pause (run-time state in the store's hook_state table, by an operator,
the receiver or disable_after) and its circuit breaker (hookd.breaker). Both close the lane without
spending attempts: what it had claimed and not started goes back. The gates of single destinations
of a templated-host hook are hookd.destination_gates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hookd.breaker import Breaker, BreakerChange
from hookd.lane import Lane, LaneContext, LaneKeeper, release
from hookd.logs import LogLine, isoformat
from hookd.senders.base import Outcome
from hookd.store.base import BreakerRecord, DueDelivery, HookPause
from hookd.units import format_duration

log = logging.getLogger("hookd.dispatcher")

# Told of each change of a lane's state, with the hook and the reason: ("hook.paused" | "hook.resumed" |
# "breaker.opened" | "breaker.closed", hook, reason). The daemon's integrator turns them into alerts.
LaneEvent = Callable[[str, str, str], None]


class LaneStops(LaneKeeper):
    """The pauses and breakers of the dispatcher's lanes."""

    def __init__(self, context: LaneContext, *, on_event: LaneEvent) -> None:
        super().__init__(context)
        lanes = context.lanes
        self.on_event = on_event  # alerts hang here
        self.lanes = lanes
        # The lanes with a breaker: only they are looked at for one (a hook without pays nothing). A
        # templated-host hook keeps its breakers per destination instead.
        self.breakers: list[Lane] = []
        for name, lane in lanes.items():
            policy = self.hooks[name].config.breaker
            if policy is not None and lane.destinations is None:
                lane.breaker = Breaker(policy)
                self.breakers.append(lane)
        self.unsaved: set[Lane] = set()  # breakers changed by tick(): stored at the round (save_unsaved)

    def tick(self, now: float) -> float | None:
        """Let the lanes whose breaker has cooled down probe; when the next one will, or None."""
        next_at: float | None = None
        for lane in self.breakers:
            breaker = lane.breaker
            assert breaker is not None
            if breaker.state != "open" or lane.paused is not None:
                continue  # a paused lane probes when it is resumed
            change = breaker.tick(now)
            if change is not None:
                self.breaker_changed(lane, change)
                self.unsaved.add(lane)
            elif next_at is None or breaker.retry_at < next_at:
                next_at = breaker.retry_at
        return next_at

    async def save_unsaved(self) -> None:
        for lane in list(self.unsaved):
            self.unsaved.discard(lane)
            await self.save_breaker(lane)

    async def pause(self, hook: str, pause: HookPause) -> None:
        """Pause `hook` now and store it (the receiver asked, or disable_after): what its lane had
        claimed and not started goes back, its attempt uncounted; what is in flight finishes."""
        lane = self.lanes[hook]
        if lane.paused is not None:
            return  # paused already: an answer to a request that was in flight then
        self._on_pause()
        unsent = self.paused(lane, pause)
        try:
            before = await self.store.pause_hook(hook, pause)
        except Exception as e:
            # Paused in this process only: the next read of the (unchanged) stored states resumes it.
            log.error(LogLine("could not store the pause; it lasts until the hook states are next read (a second)",
                              {"hook": hook, "error": str(e)}))  # fmt: skip
            self.errors.add(f"storing the pause of hook {hook!r} failed: {e}")
            before = None
        if before is not None:
            lane.paused = before  # another process paused it first: its reason stands
        if unsent:
            await release(self.store, unsent, self.clock.now())

    def paused(self, lane: Lane, pause: HookPause, *, announce: bool = True) -> list[DueDelivery]:
        """Stop `lane` for `pause`; returns what it had claimed and not started, to give back.
        `announce`: tell on_lane_event (not for a pause restored at start)."""
        first = lane.paused is None
        lane.paused = pause
        lane.restate()
        unsent = lane.take_back(self.clock.now())
        if first:
            fields = {"hook": lane.name, "by": pause.by, "reason": pause.reason, "given_back": len(unsent)}
            line = LogLine("hook paused: its deliveries are stored and wait, spending no attempt, until "
                           f"`hookd hooks resume {lane.name}`", fields)  # fmt: skip
            if pause.by == "operator":
                log.info(line)
            else:
                log.warning(line)
            if announce:
                self._event("hook.paused", lane.name, pause.reason)
        self._wake()
        return unsent

    def resumed(self, lane: Lane, reason: str = "resumed with hookd hooks resume") -> None:
        lane.paused = None
        if lane.breaker is not None:
            change = lane.breaker.resumed(self.clock.now())
            if change is not None:
                self.breaker_changed(lane, change)
                self.unsaved.add(lane)
        lane.restate()
        lane.exhausted = False
        log.info(LogLine("hook resumed: its waiting deliveries are sent", {"hook": lane.name}))
        self._event("hook.resumed", lane.name, reason)
        self._wake()

    async def saw(self, lane: Lane, breaker: Breaker, outcome: Outcome) -> None:
        """Tell `lane`'s breaker how an attempt went; pause the hook once it has failed for disable_after."""
        now = self.clock.now()
        if outcome.retryable:
            change = breaker.failed(now, outcome.error)
        elif outcome.ok or outcome.status is not None:
            change = breaker.succeeded(now)  # a final 4xx too: the receiver is there
        else:
            return  # never reached the receiver (a render error, a refused destination): neither way
        if change is not None:
            unsent = self.breaker_changed(lane, change)
            await self.save_breaker(lane)
            if unsent:
                await release(self.store, unsent, self.clock.now())
        if outcome.retryable and lane.paused is None and breaker.failing_too_long(now):
            assert breaker.policy.disable_after_s is not None and breaker.failing_since is not None
            reason = (
                f"failing for {format_duration(now - breaker.failing_since)} without a success (breaker.disable_after: "
                f"{format_duration(breaker.policy.disable_after_s)}); the last error: {outcome.error}"
            )
            await self.pause(lane.name, HookPause(by="disable_after", reason=reason, at=now))

    def breaker_changed(self, lane: Lane, change: BreakerChange) -> list[DueDelivery]:
        """Log a change of `lane`'s breaker and gate the lane by it; returns what an opened breaker
        takes back from the lane (claimed, not started), to give back with its attempt uncounted."""
        breaker = lane.breaker
        assert breaker is not None
        lane.restate()
        fields: dict[str, object] = {"hook": lane.name, "reason": breaker.reason}
        unsent: list[DueDelivery] = []
        if change in ("opened", "reopened"):
            unsent = lane.take_back(self.clock.now())
            fields["probe_at"] = isoformat(breaker.retry_at)
            fields["given_back"] = len(unsent)
            log.warning(LogLine("circuit breaker open: the hook's deliveries wait, spending no attempt, until one "
                                "probes", fields))  # fmt: skip
            if change == "opened":  # not each failed probe: one alert per outage
                self._event("breaker.opened", lane.name, breaker.reason)
        elif change == "half_open":
            lane.exhausted = False
            log.info(LogLine("circuit breaker half-open: one delivery probes", fields))
        else:
            lane.exhausted = False
            log.info(LogLine("circuit breaker closed: the hook's deliveries are sent again", fields))
            self._event("breaker.closed", lane.name, breaker.reason)
        self._wake()  # the round's wait covers the cooldown, or claims for the probe
        return unsent

    async def save_breaker(self, lane: Lane) -> None:
        """Store the breaker's state as it is now, for `hookd hooks list` (on a change only)."""
        breaker = lane.breaker
        assert breaker is not None
        record = (
            None
            if breaker.state == "closed"
            else BreakerRecord(
                state=breaker.state,
                reason=breaker.reason,
                since=breaker.since,
                retry_at=breaker.retry_at if breaker.state == "open" else None,
            )
        )
        try:
            await self.store.set_breaker(lane.name, record, self.clock.now())
        except Exception as e:  # the breaker works on; only what hooks list shows is behind
            log.error(LogLine("could not store the circuit breaker's state", {"hook": lane.name, "error": str(e)}))
            self.errors.add(f"storing the breaker state of hook {lane.name!r} failed: {e}")

    def _event(self, kind: str, hook: str, reason: str) -> None:
        try:
            self.on_event(kind, hook, reason)
        except Exception:  # a bug in what listens: the lane's change stands
            log.exception(LogLine("internal error telling of a lane change", {"hook": hook, "kind": kind}))
