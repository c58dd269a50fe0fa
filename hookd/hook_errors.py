"""Filters and templates that could not be evaluated on an event, per hook.

Each one is also a failed delivery in the store (history shows its reason); this is the daemon's
live view of them: counts since start for `hookd status`, the latest one for health, and a limit on
log lines, so a filter that fails on every event of a busy stream writes one line per hook a
minute, not one per event.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

EvaluationKind = Literal["filter", "template", "ordering_key"]

LOG_INTERVAL_S = 60.0  # at most one log line per hook and kind in this long


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationFailure:
    kind: EvaluationKind
    hook: str
    event_id: str
    error: str  # the reason recorded with the delivery
    at: float  # clock time


class HookErrors:
    """Counts and the latest failure per hook. Not thread-safe: the daemon's event loop owns it."""

    def __init__(self, log_interval_s: float = LOG_INTERVAL_S) -> None:
        self.log_interval_s = log_interval_s
        self.filter_errors: Counter[str] = Counter()
        self.template_errors: Counter[str] = Counter()
        self.ordering_key_errors: Counter[str] = Counter()
        self.latest: dict[str, EvaluationFailure] = {}
        self._logged_at: dict[tuple[str, EvaluationKind], float] = {}
        self._unlogged: Counter[tuple[str, EvaluationKind]] = Counter()

    def add(self, failure: EvaluationFailure) -> int | None:
        """Count `failure`. Returns None when it should not be logged (one was, less than
        log_interval_s ago), else how many went unlogged since the last line, to say so in this one."""
        counts = {
            "filter": self.filter_errors,
            "template": self.template_errors,
            "ordering_key": self.ordering_key_errors,
        }[failure.kind]
        counts[failure.hook] += 1
        self.latest[failure.hook] = failure
        key = (failure.hook, failure.kind)
        last = self._logged_at.get(key)
        if last is not None and failure.at - last < self.log_interval_s:
            self._unlogged[key] += 1
            return None
        self._logged_at[key] = failure.at
        return self._unlogged.pop(key, 0)

    def recent(self, hook: str, since: float) -> EvaluationFailure | None:
        """The hook's latest failure if it happened at or after `since`."""
        latest = self.latest.get(hook)
        return latest if latest is not None and latest.at >= since else None


def unlogged_note(unlogged: int) -> str:
    """The tail of a rate-limited log line: how many like it were not logged."""
    return f" ({unlogged} more like this since the last such line were not logged)" if unlogged else ""
