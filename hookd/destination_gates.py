"""The gates kept per destination host, for the hooks whose url host is templated (one url, many
tenants): a destination's rate limit, breaker, Retry-After hold and receiver's pause close it alone,
so one tenant's dead endpoint does not stop the others.

A closed destination's deliveries are parked in the store (their due time moved out of every claim's
range, kept otherwise) rather than held in memory, and unparked as its gate opens: tokens come, the
breaker probes, a hold ends, or an operator resumes it. Only pauses are stored (destination_state); at
start the rest is unparked (Store.unpark_at_start).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import orjson

from hookd.breaker import BreakerChange
from hookd.destinations import Destination
from hookd.lane import Lane, LaneContext, LaneKeeper, release
from hookd.logs import LogLine, isoformat
from hookd.senders.base import Outcome
from hookd.store.base import DueBatch, DueDelivery, HookPause
from hookd.units import format_duration

log = logging.getLogger("hookd.dispatcher")

# Told of each change of one destination's state: (kind, hook, reason, destination host).
DestinationEvent = Callable[[str, str, str, str], None]


class DestinationGates(LaneKeeper):
    """The per-destination gates of the lanes that have them (Lane.destinations), for the dispatcher."""

    def __init__(self, context: LaneContext, *, on_event: DestinationEvent) -> None:
        super().__init__(context)
        lanes = context.lanes
        self.on_event = on_event  # alerts hang here
        self._all = lanes
        # The lanes with gates per destination: only they are looked at.
        self.lanes = tuple(lane for lane in lanes.values() if lane.destinations is not None)
        # Deliveries claimed (by a round or at ingest) for a destination that is closed: parked at the
        # next round (park_claimed).
        self.to_park: list[tuple[Lane, DueDelivery]] = []
        self.gate_at: float | None = None  # when the next destination's gate opens (the last round's)

    async def unpark_unkept(self) -> None:
        """A command that drains (replay --wait) leaves nothing parked for a gate that only it knows (a
        destination's tokens): the running daemon would not know to unpark it. A stored pause stays."""
        for lane in self.lanes:
            assert lane.destinations is not None
            for dest in lane.destinations:
                if dest.parked and dest.paused is None:
                    await self.unpark(lane, dest)

    def admit(self, due: Sequence[DueDelivery]) -> None:
        """Put claimed deliveries on their lanes; one whose destination is closed (paused, held, its
        breaker open or probing, no token) goes to `park` instead, to be given back parked."""
        now = self.clock.now()
        for d in due:
            lane = self._all[d.hook]
            dests = lane.destinations
            if dests is None or type(d) is DueBatch:
                lane.ready.append(d)
                continue
            host = d.destination if d.destination is not None else self._destination_of(d)
            if host is None:  # its url cannot be rendered: the attempt fails with the reason
                lane.ready.append(d)
                continue
            d.destination = host
            dest = dests.get(host)
            if dest.closed(now) or (dest.bucket is not None and not dest.bucket.take(1)):
                self.to_park.append((lane, d))
                continue
            if dest.breaker is not None and dest.breaker.state == "half_open":
                dest.probe = d.id
            lane.ready.append(d)

    def _destination_of(self, d: DueDelivery) -> str | None:
        """The destination of a delivery stored without one (a replay, a row from before it was stored)."""
        hook = self.hooks[d.hook]
        if hook.url is None:
            return None
        try:
            envelope = orjson.loads(d.body)
            return hook.url.destination(envelope if isinstance(envelope, dict) else {}, hook.redactor.text)
        except Exception:
            return None

    async def park_claimed(self) -> None:
        """Give back, parked, the deliveries _admit found for closed destinations (their attempt
        uncounted), with the rest of each destination's pending deliveries."""
        parked, self.to_park = self.to_park, []
        by_dest: dict[tuple[Lane, str], list[str]] = {}
        for lane, d in parked:
            assert d.destination is not None
            by_dest.setdefault((lane, d.destination), []).append(d.id)
        now = self.clock.now()
        for (lane, host), ids in by_dest.items():
            assert lane.destinations is not None
            dest = lane.destinations.get(host)
            await self.store.park(lane.name, host, ids, now)
            dest.parked = True
            lane.destinations.gated.add(dest)

    async def close(self, lane: Lane, dest: Destination) -> int:
        """Park `dest`'s deliveries: those its lane holds unsent and those waiting in the store."""
        assert lane.destinations is not None
        unsent = lane.take_back_destination(dest)
        dest.parked = True
        lane.destinations.gated.add(dest)
        try:
            await self.store.park(lane.name, dest.host, [d.id for d in unsent], self.clock.now())
        except Exception as e:  # those claimed go back at the next start; the rest are parked at their claim
            fields = {"hook": lane.name, "destination": dest.host, "error": str(e)}
            log.error(LogLine("could not park a destination's deliveries", fields))
            self.errors.add(f"parking the deliveries of hook {lane.name!r} to {dest.host} failed: {e}")
        return len(unsent)

    async def unpark(self, lane: Lane, dest: Destination, limit: int | None = None) -> int:
        """Unpark up to `limit` (None: all) of `dest`'s parked deliveries; when all are, it is no
        longer parked. Returns how many were."""
        assert lane.destinations is not None
        n = await self.store.unpark(lane.name, dest.host, self.clock.now(), limit)
        if limit is None or n < limit:
            dest.parked = False
        if not dest.parked and not dest.held_until and (dest.breaker is None or dest.breaker.is_closed):
            lane.destinations.gated.discard(dest)
        if n:
            lane.exhausted = False
            if lane.bucket is not None:  # a rate_limit_group's: retries among them may be due now
                lane.retry_at = min(lane.retry_at, self.clock.now())
            self._wake()
        return n

    async def open(self) -> float | None:
        """Open the destinations whose gate opens now: a hold that ended, a breaker that cooled down
        (one delivery unparked to probe), tokens for a rate-limited one (that many unparked). Returns
        when the next gate opens, or None."""
        now = self.clock.now()
        next_at: float | None = None
        for lane in self.lanes:
            dests = lane.destinations
            assert dests is not None
            if not dests.gated or lane.stopped:
                continue
            for dest in list(dests.gated):
                if dest.paused is not None:
                    continue  # until `hookd hooks resume`
                at: float | None = None
                if dest.held_until:
                    if dest.held_until > now:
                        # Capped as a lane's hold is, should the wall clock have been stepped back.
                        cap = self.hooks[lane.name].config.retry.max_delay_s
                        at = dest.held_until = min(dest.held_until, now + cap)
                    else:
                        dest.held_until = 0.0
                breaker = dest.breaker
                if at is None and breaker is not None and breaker.state == "open":
                    if breaker.tick(now) is not None:
                        self._breaker_changed(lane, dest, "half_open")
                        dest.probe = None
                        await self.unpark(lane, dest, 1)
                    else:
                        at = breaker.retry_at
                elif at is None and (breaker is None or breaker.is_closed) and dest.parked:
                    if dest.bucket is None:
                        await self.unpark(lane, dest)
                    elif (tokens := dest.bucket.available()) > 0:
                        # Unparking takes no token (the claim does): no more than the lane can claim now,
                        # or while its slots are full each round would unpark the tokens' worth again
                        # until the whole backlog was back in the claims' range.
                        if (n := min(tokens, lane.room())) > 0:
                            await self.unpark(lane, dest, n)
                    else:
                        at = dest.bucket.next_token_at()
                elif at is None and breaker is not None and dest.probe is None and dest.parked:
                    # Half-open with no probe out: the one unparked to probe went back parked (no token
                    # then) or went away (cancelled). Another probes, once a token is there.
                    if dest.bucket is not None and not dest.bucket.available():
                        at = dest.bucket.next_token_at()
                    elif lane.room() > 0:
                        await self.unpark(lane, dest, 1)
                elif at is None and not dest.parked and (breaker is None or breaker.is_closed):
                    dests.gated.discard(dest)
                if at is not None and (next_at is None or at < next_at):
                    next_at = at
        return next_at

    def ended(self, dest: Destination, delivery_id: str) -> None:
        """An attempt of `dest` ended, whatever its outcome: if it was the probe, none is out now."""
        if dest.probe == delivery_id:
            dest.probe = None

    async def saw(self, lane: Lane, dest: Destination, outcome: Outcome) -> None:
        """`_breaker_saw` for one destination: its breaker, and disable_after pausing it only."""
        breaker = dest.breaker
        if breaker is None:
            return
        now = self.clock.now()
        if outcome.retryable:
            change: BreakerChange | None = breaker.failed(now, outcome.error)
        elif outcome.ok or outcome.status is not None:
            change = breaker.succeeded(now)
        else:
            change = None  # never reached the receiver (a render error, a refused address): no verdict
        if change is not None:
            self._breaker_changed(lane, dest, change)
            if change in ("opened", "reopened"):
                await self.close(lane, dest)
            elif change == "closed" and dest.paused is None:
                await self.unpark(lane, dest)
        elif breaker.state == "half_open" and dest.probe is None and dest.paused is None:
            await self.unpark(lane, dest, 1)  # the probe got no verdict: the next one probes
        if outcome.retryable and dest.paused is None and breaker.failing_too_long(now):
            assert breaker.policy.disable_after_s is not None and breaker.failing_since is not None
            reason = (
                f"failing for {format_duration(now - breaker.failing_since)} without a success (breaker.disable_after: "
                f"{format_duration(breaker.policy.disable_after_s)}); the last error: {outcome.error}"
            )
            await self.pause(lane.name, dest.host, HookPause(by="disable_after", reason=reason, at=now))

    def _breaker_changed(self, lane: Lane, dest: Destination, change: BreakerChange) -> None:
        breaker = dest.breaker
        assert breaker is not None and lane.destinations is not None
        fields: dict[str, object] = {"hook": lane.name, "destination": dest.host, "reason": breaker.reason}
        if change in ("opened", "reopened"):
            lane.destinations.gated.add(dest)
            fields["probe_at"] = isoformat(breaker.retry_at)
            log.warning(LogLine("circuit breaker open for a destination: its deliveries wait, spending no attempt, "
                                "until one probes; the hook's other destinations go on", fields))  # fmt: skip
            if change == "opened":
                self._event("breaker.opened", lane.name, breaker.reason, dest.host)
        elif change == "half_open":
            log.info(LogLine("circuit breaker half-open for a destination: one delivery probes", fields))
        else:
            log.info(LogLine("circuit breaker closed for a destination: its deliveries are sent again", fields))
            self._event("breaker.closed", lane.name, breaker.reason, dest.host)
        self._wake()

    async def pause(self, hook: str, host: str, pause: HookPause) -> None:
        """Pause one destination of `hook` (the receiver asked, or disable_after) and store it: its
        deliveries are parked; what the lane had claimed for it and not started goes back uncounted."""
        lane = self._all[hook]
        assert lane.destinations is not None
        dest = lane.destinations.get(host)
        if dest.paused is not None:
            return
        self._on_pause()
        dest.paused = pause
        unsent = lane.take_back_destination(dest)
        dest.parked = True
        lane.destinations.gated.add(dest)
        log.warning(LogLine("destination paused: its deliveries are stored and wait, spending no attempt, until "
                            f"`hookd hooks resume {hook}`; the hook's other destinations go on",
                            {"hook": hook, "destination": host, "by": pause.by, "reason": pause.reason,
                             "given_back": len(unsent)}))  # fmt: skip
        self._event("hook.paused", hook, pause.reason, host)
        try:
            before = await self.store.pause_destination(hook, host, pause)
            await self.store.park(hook, host, [d.id for d in unsent], self.clock.now())
        except Exception as e:
            log.error(LogLine("could not store the pause of a destination; it lasts until the hook states are next "
                              "read (a second)", {"hook": hook, "destination": host, "error": str(e)}))  # fmt: skip
            self.errors.add(f"storing the pause of hook {hook!r} for {host} failed: {e}")
            before = None
            if unsent:
                await release(self.store, unsent, self.clock.now())
        if before is not None:
            dest.paused = before

    async def read(self, pauses: dict[str, dict[str, HookPause]], *, restoring: bool, telling: bool = True) -> None:
        """Take up the stored pauses of destinations (a resume by `hookd hooks resume`; at start, the
        pauses from before, not told as news)."""
        now = self.clock.now()
        for lane in self.lanes:
            dests = lane.destinations
            assert dests is not None
            stored = pauses.get(lane.name, {})
            for host, pause in stored.items():
                dest = dests.get(host)
                if dest.paused is None:
                    dest.paused = pause
                    dest.parked = True
                    dests.gated.add(dest)
                    unsent = lane.take_back_destination(dest)
                    if unsent:
                        await self.store.park(lane.name, host, [d.id for d in unsent], now)
                    log.warning(LogLine("destination paused", {"hook": lane.name, "destination": host,
                                                               "by": pause.by, "reason": pause.reason}))  # fmt: skip
                    if not restoring or not pause.announced:
                        self._event("hook.paused", lane.name, pause.reason, host)
                    if not pause.announced and telling:  # (a command that drains tells no alert hook)
                        await self.store.mark_destination_announced(lane.name, host)
            for dest in [d for d in dests.gated if d.paused is not None and d.host not in stored]:
                dest.paused = None
                log.info(LogLine("destination resumed: its waiting deliveries are sent",
                                 {"hook": lane.name, "destination": dest.host}))  # fmt: skip
                self._event("hook.resumed", lane.name, "resumed with hookd hooks resume", dest.host)
                breaker = dest.breaker
                if breaker is not None and (change := breaker.resumed(now)) is not None:
                    dest.probe = None
                    self._breaker_changed(lane, dest, change)  # an open one probes at once
                await self.unpark(lane, dest, None if breaker is None or breaker.is_closed else 1)

    def _event(self, kind: str, hook: str, reason: str, host: str) -> None:
        try:
            self.on_event(kind, hook, reason, host)
        except Exception:
            log.exception(LogLine("internal error telling of a destination change", {"hook": hook, "kind": kind}))
