"""A Clock whose time moves only when a test says so: polls and backoff happen exactly when advanced."""

from __future__ import annotations

import asyncio

FAILSAFE_S = 5.0


class ManualClock:
    """Implements hookd.clock.Clock. `sleep` waits until `advance` has moved time past its end."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        # (wake at, asked for, future, from wait() rather than sleep())
        self._sleepers: list[tuple[float, float, asyncio.Future[None], bool]] = []
        self.slept: list[float] = []  # every duration asked for, in order
        self._changed: asyncio.Condition | None = None

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self._sleep(seconds, waiting=False)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until `event` is set or time is advanced past `seconds`. Kept apart from sleeps: not listed
        in `slept` nor counted by `sleeping` (those are what tests assert on), counted by `waiting`."""
        if event.is_set():
            return True
        setting = asyncio.ensure_future(event.wait())
        timing = asyncio.ensure_future(self._sleep(seconds, waiting=True))
        try:
            await asyncio.wait({setting, timing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (setting, timing):
                task.cancel()
            await asyncio.gather(setting, timing, return_exceptions=True)
        return event.is_set()

    async def _sleep(self, seconds: float, *, waiting: bool) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._now + max(0.0, seconds), seconds, future, waiting)
        self._sleepers.append(entry)
        await self._notify()
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move time on and wake every sleeper whose time has come (they run at the next await)."""
        self._now += seconds
        for entry in list(self._sleepers):
            wake_at, _, future, _ = entry
            if wake_at <= self._now:
                self._sleepers.remove(entry)
                if not future.done():
                    future.set_result(None)

    def set_back(self, seconds: float) -> None:
        """Step the time back (NTP correcting the wall clock): what sleeps still wakes after its own
        duration, as a real sleep (on the event loop's monotonic time) does."""
        self._now -= seconds
        self._sleepers = [(at - seconds, asked, f, w) for at, asked, f, w in self._sleepers]

    def sleeping(self, seconds: float) -> int:
        """How many tasks are asleep now for a sleep of `seconds`."""
        return sum(1 for _, asked, _, waiting in self._sleepers if asked == seconds and not waiting)

    def waiting(self) -> int:
        """How many tasks are in a timed wait now (Clock.wait: the dispatcher's poll, say)."""
        return sum(1 for *_, waiting in self._sleepers if waiting)

    async def wait_sleeping(self, seconds: float) -> None:
        """Until some task is asleep for `seconds` (the timeout is only a failsafe)."""
        changed = self._condition()
        async with asyncio.timeout(FAILSAFE_S), changed:
            await changed.wait_for(lambda: self.sleeping(seconds) > 0)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        changed = self._condition()
        async with changed:
            changed.notify_all()
