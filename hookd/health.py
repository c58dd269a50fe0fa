"""Errors that leave work undone (a failed ingest commit, an attempt not recorded), kept for health."""

from __future__ import annotations

import time
from collections import deque


class RecentErrors:
    """A short memory of internal errors: `hookd status` reports the daemon degraded while any is recent."""

    def __init__(self, keep: int = 100) -> None:
        self._seen: deque[tuple[float, str]] = deque(maxlen=keep)

    def add(self, message: str) -> None:
        self._seen.append((time.monotonic(), message))

    def recent(self, window_s: float) -> list[str]:
        now = time.monotonic()
        return [message for at, message in self._seen if now - at <= window_s]
