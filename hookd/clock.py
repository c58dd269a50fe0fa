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


class RealClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
