"""What `GET /metrics` on the admin listener exposes, for Prometheus.

Every value is read at scrape time from what the daemon already keeps (ingest's and the dispatcher's
counters, the lanes, the delivery worker, source health) and from the per-hook counts `/status` reads
from the database: no metric adds work to the path an event or an attempt takes. Labels are bounded:
source and hook names (those configured, and hooks the database still holds deliveries of), outcome
and state words; never an event or delivery id, a URL or a destination host.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from hookd import __version__
from hookd.admin import HookCounts, StoreCounts, waiting_counts
from hookd.senders.worker import WorkerSender
from hookd.sources.base import HTTP_REJECTION_KINDS

if TYPE_CHECKING:
    from hookd.daemon import Daemon
    from hookd.lane import Lane

# What a hook's lane can be held back by, as hookd_lane_state's `state` label (each 0 or 1).
LANE_STATES = ("paused", "breaker_open", "breaker_half_open", "held", "rate_limited")
QUEUE_STATES = ("pending", "retrying", "paused", "failed")
DELIVERY_OUTCOMES = ("delivered", "failed", "retried")
_LINE_REJECTIONS = ("invalid_event", "too_large")
_REJECTION_KINDS_BY_TYPE = {
    "socket": _LINE_REJECTIONS,
    "file": _LINE_REJECTIONS,
    "http": tuple(sorted(set(HTTP_REJECTION_KINDS.values()))),
}


def exposition(daemon: Daemon, stored: StoreCounts | None) -> bytes:
    """The text exposition of one scrape. `stored` is what `read_store` read for this scrape, None
    when the database could not be read (the queue depths are then left out, and
    hookd_store_readable says why). Runs on the event loop: it reads the daemon's live state."""
    registry = CollectorRegistry()
    registry.register(DaemonCollector(daemon, stored))
    # What a Python exporter usually has beside its own metrics: CPU, memory, open files, the GC.
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)


class DaemonCollector(Collector):
    """hookd's own metrics, built from one reading of the daemon's state (prometheus-client calls
    `collect` once per scrape of the registry it is in)."""

    def __init__(self, daemon: Daemon, stored: StoreCounts | None) -> None:
        self._daemon = daemon
        self._stored = stored

    def collect(self) -> Iterator[Metric]:
        yield from self._daemon_metrics()
        yield from self._source_metrics()
        yield from self._delivery_metrics()
        yield from self._hook_metrics()

    def _daemon_metrics(self) -> Iterator[Metric]:
        d = self._daemon
        info = GaugeMetricFamily(
            "hookd_info", "hookd's version and config hash (always 1).", labels=["version", "config_sha256"]
        )
        info.add_metric([__version__, d.settings.config_sha256], 1)
        yield info
        yield GaugeMetricFamily("hookd_up", "1 while the daemon answers on its admin listener.", value=1)
        yield GaugeMetricFamily(
            "hookd_ready",
            "1 once every source, the delivery worker and the admin listener started.",
            value=1 if d.ready.is_set() else 0,
        )
        yield GaugeMetricFamily(
            "hookd_store_readable",
            "1 if this scrape could read the queue depths from the database.",
            value=1 if self._stored is not None else 0,
        )
        sender = d.sender
        running = not isinstance(sender, WorkerSender) or sender.pid is not None
        yield GaugeMetricFamily(
            "hookd_worker_up",
            "1 while the delivery worker process runs (a new one starts with the next delivery).",
            value=1 if running else 0,
        )
        yield CounterMetricFamily(
            "hookd_worker_restarts",
            "Delivery worker processes started again after one died or hung.",
            value=sender.restarts if isinstance(sender, WorkerSender) else 0,
        )
        http = d.http_worker_state()
        if http is not None:  # only with http sources: no series that can never move
            yield GaugeMetricFamily(
                "hookd_http_worker_up", "1 while the http worker process (the http sources') runs.",
                value=0 if http[0] is None else 1,
            )  # fmt: skip
            yield CounterMetricFamily(
                "hookd_http_worker_restarts", "Http worker processes started again after one exited unasked.",
                value=http[1],
            )  # fmt: skip

    def _source_metrics(self) -> Iterator[Metric]:
        d = self._daemon
        ingest = d.ingest
        # Configured sources first, each from start (a counter that appears at its first event
        # breaks rate() over its first increase); then any other name ingest counted (hookd's own alerts).
        names = [s.name for s in d.settings.sources]
        names += sorted((set(ingest.events_by_source) | set(ingest.rejected_by_source)) - set(names))
        received = CounterMetricFamily(
            "hookd_events_received", "Events stored, per source (duplicates not counted).", labels=["source"]
        )
        rejected = CounterMetricFamily(
            "hookd_events_rejected",
            "Input refused as no valid event, per source and reason (a word from a fixed set).",
            labels=["source", "reason"],
        )
        # Each configured source shows the reasons its type can give from start; others when counted.
        reasons = {(s.name, kind) for s in d.settings.sources for kind in _REJECTION_KINDS_BY_TYPE[s.type]}
        reasons |= set(ingest.rejected_by_kind)
        for name in names:
            received.add_metric([name], ingest.events_by_source.get(name, 0))
        for name, kind in sorted(reasons):
            rejected.add_metric([name, kind], ingest.rejected_by_kind.get((name, kind), 0))
        yield received
        yield rejected
        yield CounterMetricFamily(
            "hookd_events_duplicate",
            "Events not stored again: their id was stored before.",
            value=ingest.duplicates_total,
        )
        failing = d.source_health.failing()
        up = GaugeMetricFamily("hookd_source_up", "0 while a source is failing and being restarted.", labels=["source"])
        for config in d.settings.sources:
            up.add_metric([config.name], 0 if config.name in failing else 1)
        yield up

    def _delivery_metrics(self) -> Iterator[Metric]:
        dispatcher = self._daemon.dispatcher
        # The dispatcher counts outcomes for all hooks together; per hook, the failed queue depth and
        # hookd_in_flight say where.
        outcomes = CounterMetricFamily(
            "hookd_deliveries",
            "Attempts' outcomes since start: delivered, failed for good, or to retry (a batch counts each member).",
            labels=["outcome"],
        )
        counts = (dispatcher.delivered_total, dispatcher.failed_total, dispatcher.retried_total)
        for outcome, n in zip(DELIVERY_OUTCOMES, counts, strict=True):
            outcomes.add_metric([outcome], n)
        yield outcomes
        by_hook = CounterMetricFamily(
            "hookd_hook_deliveries",
            "Attempts' outcomes since start, per hook: delivered, failed (for good) or retried.",
            labels=["hook", "outcome"],
        )
        words = {"delivered": "delivered", "failed": "failed", "pending": "retried"}
        # Every configured hook's outcomes from start (an alert on increase() must see the first failure).
        counted = Counter({(h.name, outcome): 0 for h in self._daemon.settings.hooks for outcome in DELIVERY_OUTCOMES})
        for (hook, state), n in dispatcher.outcomes.items():
            counted[(hook, words.get(state, state))] += n
        for (hook, outcome), n in sorted(counted.items()):
            by_hook.add_metric([hook, outcome], n)
        yield by_hook
        attempts = HistogramMetricFamily(
            "hookd_attempt_duration_seconds",
            "How long each attempt took, per hook (to its answer, or to its error).",
            labels=["hook"],
        )
        for hook, durations in sorted(dispatcher.durations.items()):
            attempts.add_metric([hook], durations.cumulative(), sum_value=durations.total_s)
        yield attempts
        commits = HistogramMetricFamily(
            "hookd_store_commit_duration_seconds", "How long each ingest commit took (events, deliveries, rejections)."
        )
        ingest = self._daemon.ingest.commit_durations
        commits.add_metric([], ingest.cumulative(), sum_value=ingest.total_s)
        yield commits
        reloads = CounterMetricFamily(
            "hookd_config_reloads",
            "Config reloads since start, by result: applied, invalid (kept the running config), needs_restart.",
            labels=["result"],
        )
        for result in ("applied", "invalid", "needs_restart"):
            reloads.add_metric([result], self._daemon.reloads[result])
        yield reloads

    def _hook_metrics(self) -> Iterator[Metric]:
        d = self._daemon
        lanes = d.dispatcher.lanes
        configured = [h.name for h in d.router.hooks]
        stored = self._stored
        orphans = sorted(set(stored.hooks) - set(configured)) if stored is not None else []

        depth = GaugeMetricFamily(
            "hookd_queue_depth",
            "Deliveries stored per hook and state: pending (not attempted yet), retrying (waiting after a failed "
            "attempt), paused (either, of a paused hook), failed (kept as dead letters).",
            labels=["hook", "state"],
        )
        in_flight = GaugeMetricFamily("hookd_in_flight", "Attempts being sent now, per hook.", labels=["hook"])
        lane_state = GaugeMetricFamily(
            "hookd_lane_state",
            "1 while a hook is held back: paused, its circuit breaker open or half-open, held by the receiver's "
            "Retry-After, or waiting for its rate limit's tokens.",
            labels=["hook", "state"],
        )
        gated = GaugeMetricFamily(
            "hookd_destinations_held",
            "A hook with a templated url host: its destination hosts held back now (paused, breaker, Retry-After, "
            "rate limit).",
            labels=["hook"],
        )
        errors = CounterMetricFamily(
            "hookd_hook_evaluation_errors",
            "Events a hook's filter, template or ordering_key could not be evaluated on, since start.",
            labels=["hook", "kind"],
        )
        for name in [*configured, *orphans]:
            lane = lanes.get(name)
            sending = lane.in_flight if lane is not None else 0
            waiting = len(lane.ready) if lane is not None else 0  # claimed, not started: without the database
            if stored is not None:
                c = stored.hooks.get(name, HookCounts())
                pending, retrying = waiting_counts(c, sending)
                waiting = pending + retrying
                paused = lane is not None and lane.paused is not None
                # One state per delivery, so the states of a hook add up to what it holds.
                values = (0, 0, pending + retrying, c.failed) if paused else (pending, retrying, 0, c.failed)
                for state, n in zip(QUEUE_STATES, values, strict=True):
                    depth.add_metric([name, state], n)
            if lane is None:
                continue
            in_flight.add_metric([name], sending)
            for state, on in zip(LANE_STATES, _lane_flags(lane, waiting), strict=True):
                lane_state.add_metric([name, state], 1 if on else 0)
            if lane.destinations is not None:
                gated.add_metric([name], len(lane.destinations.gated))
            for kind, counter in (
                ("filter", d.hook_errors.filter_errors),
                ("template", d.hook_errors.template_errors),
                ("ordering_key", d.hook_errors.ordering_key_errors),
            ):
                errors.add_metric([name, kind], counter.get(name, 0))
        yield depth
        yield in_flight
        yield lane_state
        yield gated
        yield errors


def _lane_flags(lane: Lane, waiting: int) -> tuple[bool, bool, bool, bool, bool]:
    """A lane's gates in LANE_STATES order, as `/status` shows them. Rate-limited means out of tokens
    while deliveries wait (`waiting`), and not for another reason: a limit not reached is no state."""
    b = lane.breaker
    held = bool(lane.held_until)
    out_of_tokens = lane.bucket is not None and lane.bucket.available() == 0
    return (
        lane.paused is not None,
        b is not None and b.state == "open",
        b is not None and b.state == "half_open",
        held,
        out_of_tokens and waiting > 0 and not held and lane.paused is None,
    )
