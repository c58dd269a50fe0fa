"""How many rejections are stored and logged one by one: the first few per stream and window.

A client that sends junk as fast as it can (500,000 bad lines) once wrote a rejection row and a
WARNING line per line: 76 MB of database and 83 MB of log. Every rejected line is still counted
(status keeps exact totals) and answered on its socket, but only the first `shown_per_window` of
each stream (a socket connection, a file source) in each window, and 10 times that per source (many
connections), are stored and logged; the rest are summed up in one summary rejection per stream,
stored and logged when the window ends or the stream closes: "… and 49,812 more rejected line(s)
from conn 3 …".

Pure: time comes in as an argument (the ingest's injected Clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hookd.sources.base import Rejection

SHOWN_PER_WINDOW = 20
SOURCE_FACTOR = 10  # a source shows at most this many times SHOWN_PER_WINDOW, over all its streams
WINDOW_S = 60.0


@dataclass(slots=True)
class _Window:
    ends_at: float
    shown: int = 0
    hidden: int = 0


class RejectionLimiter:
    def __init__(self, *, shown_per_window: int = SHOWN_PER_WINDOW, window_s: float = WINDOW_S) -> None:
        self.shown_per_window = shown_per_window
        self.window_s = window_s
        self._windows: dict[tuple[str, str], _Window] = {}  # by (source, stream)
        self._by_source: dict[str, _Window] = {}  # `hidden` unused: summaries are per stream
        self._next_end = float("inf")  # no window ends before this

    def admit(self, rejections: Iterable[Rejection], now: float) -> tuple[list[Rejection], list[Rejection]]:
        """Split arriving rejections: (those to store and log one by one, summaries of ended windows)."""
        summaries = self.ended(now)
        shown = []
        for rej in rejections:
            key = (rej.source, rej.stream)
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(ends_at=now + self.window_s)
                self._next_end = min(self._next_end, window.ends_at)
            whole = self._by_source.get(rej.source)
            if whole is None or whole.ends_at <= now:
                whole = self._by_source[rej.source] = _Window(ends_at=now + self.window_s)
            if window.shown < self.shown_per_window and whole.shown < self.shown_per_window * SOURCE_FACTOR:
                window.shown += 1
                whole.shown += 1
                shown.append(rej)
            else:
                window.hidden += 1
        return shown, summaries

    def ended(self, now: float) -> list[Rejection]:
        """Summaries of the windows that ended by `now`; their streams start afresh."""
        if now < self._next_end:
            return []
        summaries = []
        for key, window in list(self._windows.items()):
            if window.ends_at <= now:
                del self._windows[key]
                if window.hidden:
                    summaries.append(self._summary(key, window))
        self._next_end = min((w.ends_at for w in self._windows.values()), default=float("inf"))
        return summaries

    def close(self, source: str, stream: str) -> list[Rejection]:
        """The stream ended (a connection closed): its summary now, if it has one."""
        window = self._windows.pop((source, stream), None)
        return [self._summary((source, stream), window)] if window is not None and window.hidden else []

    def close_all(self) -> list[Rejection]:
        """Shutdown: every pending summary."""
        summaries = [self._summary(key, w) for key, w in self._windows.items() if w.hidden]
        self._windows.clear()
        self._by_source.clear()
        self._next_end = float("inf")
        return summaries

    def next_summary_at(self) -> float | None:
        """When the earliest window with a summary to write ends (None: no summary pending)."""
        return min((w.ends_at for w in self._windows.values() if w.hidden), default=None)

    def _summary(self, key: tuple[str, str], window: _Window) -> Rejection:
        source, stream = key
        where = stream or f"source {source}"
        reason = (
            f"… and {window.hidden:,} more rejected line(s) from {where} in {self.window_s:g} s: counted, "
            f"not stored or logged one by one (only the first {self.shown_per_window} per connection or "
            f"file and {self.shown_per_window * SOURCE_FACTOR} per source are)"
        )
        return Rejection(source=source, position=stream or source, reason=reason, stream=stream)
