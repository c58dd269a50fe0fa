"""Time, injected: the real clock in the daemon, a manual one in tests of backoff."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock: stored in the database and compared across restarts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`; safe to cancel."""
        ...

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait until `event` is set (True) or `seconds` have passed (False, unless it is set by
        then); safe to cancel. The timed waits of a loop that something can wake early."""
        ...


class RealClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), max(0.0, seconds))
        except TimeoutError:
            return event.is_set()
        return True
