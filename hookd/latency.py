"""Durations counted into fixed buckets, for /metrics' histograms (attempts per hook, store commits).

A histogram of prometheus-client takes a lock on every observation; these are plain counters the
event loop alone touches, read at scrape time (hookd.metrics), so an attempt pays a bisect and two
additions."""

from __future__ import annotations

from bisect import bisect_left

# Upper bounds in seconds: a webhook's answer from milliseconds to a slow receiver's 30 s timeout.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Durations:
    __slots__ = ("counts", "total_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)  # the last: over every bound
        self.total_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count at or under it) per bound, then ("+Inf", all), as a Prometheus histogram has them."""
        out, running = [], 0
        for bound, count in zip((*map(str, BOUNDS), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out
