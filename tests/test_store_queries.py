"""The store's history and replay methods on a real SQLite file: filters, statuses, stats, replays, prune."""

from __future__ import annotations

from pathlib import Path

from hookd.events import event_from_object
from hookd.store.base import (
    AttemptRecord,
    DeliveryQuery,
    DeliveryState,
    DueDelivery,
    FailureReason,
    ReplayItem,
    RoutedEvent,
)
from hookd.store.sqlite import SQLiteStore
from tests.conftest import db_rows


def routed(event_id: str, *hooks: str, etype: str = "order.created") -> RoutedEvent:
    event = event_from_object({"id": event_id, "type": etype, "time": "2026-01-31T12:00:00Z", "data": {"n": 1}})
    return RoutedEvent(event=event, source="app", hooks=hooks)


def record(
    due: DueDelivery, state: DeliveryState, *, status: int | None, duration_s: float = 0.5, error: str = "",
    started_at: float = 200.0, next_at: float | None = None,
) -> AttemptRecord:  # fmt: skip
    return AttemptRecord(
        delivery_id=due.id,
        attempt=due.attempt,
        started_at=started_at,
        duration_s=duration_s,
        status=status,
        error=error,
        request={"method": "POST", "url": "https://example.com/h", "headers": {"Authorization": "***"}},
        response_headers={"content-type": "text/plain"},
        response_excerpt="thanks" if state == "delivered" else "nope",
        state=state,
        next_at=next_at,
    )


async def one_of_each_status(store: SQLiteStore) -> dict[str, str]:
    """Five events to hook h, left pending, retrying, delivering, delivered and failed. Returns event -> delivery."""
    await store.ingest([routed(e, "h") for e in ("pend", "retry", "busy", "ok", "bad")], [], [], 100.0)
    due = {d.event_id: d for d in await store.claim_due(150.0, {"h": 10})}
    await store.release([due["pend"].id], 150.0)
    await store.record_attempts(
        [
            record(due["retry"], "pending", status=503, error="HTTP 503", next_at=500.0),
            record(due["ok"], "delivered", status=200),
            record(due["bad"], "failed", status=None, error="cannot connect to h:80: Connection refused"),
        ]
    )
    return {e: d.id for e, d in due.items()}


async def test_statuses_split_pending_by_whether_an_attempt_was_made(store: SQLiteStore) -> None:
    ids = await one_of_each_status(store)

    rows = await store.deliveries(DeliveryQuery(newest_first=False))
    by_event = {r.event_id: r.status for r in rows}
    assert by_event == {
        "pend": "pending", "retry": "retrying", "busy": "delivering", "ok": "delivered", "bad": "failed"
    }  # fmt: skip
    for status, event in [("pending", "pend"), ("retrying", "retry"), ("delivering", "busy"), ("failed", "bad")]:
        [row] = await store.deliveries(DeliveryQuery(statuses=(status,)))  # type: ignore[arg-type]
        assert (row.event_id, row.id) == (event, ids[event])
    both = await store.deliveries(DeliveryQuery(statuses=("delivered", "failed"), newest_first=False))
    assert [r.event_id for r in both] == ["ok", "bad"]
    [retry] = await store.deliveries(DeliveryQuery(ids=(ids["retry"],)))
    assert (retry.attempts, retry.last_status, retry.last_error, retry.next_at) == (1, 503, "HTTP 503", 500.0)
    assert retry.event_type == "order.created"


async def test_filters_by_hook_event_type_glob_and_window_newest_first(store: SQLiteStore) -> None:
    await store.ingest([routed("a", "h1", "h2", etype="order.created")], [], [], 100.0)
    await store.ingest([routed("b", "h1", etype="order.line.added")], [], [], 200.0)
    await store.ingest([routed("c", "h2", etype="user.signed_up")], [], [], 300.0)

    async def pairs(**kw: object) -> list[tuple[str, str]]:
        rows = await store.deliveries(DeliveryQuery(**kw))  # type: ignore[arg-type]
        return [(r.event_id, r.hook) for r in rows]

    # Ties on created_at go by id (UUIDv7: creation order), newest first too.
    assert await pairs() == [("c", "h2"), ("b", "h1"), ("a", "h2"), ("a", "h1")]
    assert await pairs(hooks=("h1",)) == [("b", "h1"), ("a", "h1")]
    assert sorted(await pairs(event_ids=("a", "c"))) == [("a", "h1"), ("a", "h2"), ("c", "h2")]
    assert [e for e, _ in await pairs(type_glob="order.*")] == ["b", "a", "a"]  # `*` spans dots
    assert await pairs(type_glob="[!o]*") == [("c", "h2")]  # fnmatch's negation
    assert await pairs(type_glob="order.created", hooks=("h2",)) == [("a", "h2")]
    assert await pairs(since=200.0) == [("c", "h2"), ("b", "h1")]
    assert await pairs(until=200.0, hooks=("h1",)) == [("a", "h1")]
    assert await pairs(since=150.0, until=250.0) == [("b", "h1")]
    assert len(await pairs(limit=2)) == 2 and (await pairs(limit=1)) == [("c", "h2")]
    assert (await pairs(newest_first=False, limit=1))[0][0] == "a"
    assert await pairs(hooks=("nope",)) == []


async def test_delivery_event_and_attempts_read_back_what_was_stored(store: SQLiteStore) -> None:
    ids = await one_of_each_status(store)

    row = await store.delivery(ids["ok"])
    assert row is not None and row.status == "delivered" and row.last_duration_s == 0.5
    assert await store.delivery("no-such-id") is None
    event = await store.event("ok")
    assert event is not None
    assert (event.type, event.source, event.received_at) == ("order.created", "app", 100.0)
    assert b'"id":"ok"' in event.body
    assert await store.event("nope") is None
    [attempt] = await store.attempts(ids["retry"])
    assert (attempt.attempt, attempt.status, attempt.outcome, attempt.next_at) == (1, 503, "pending", 500.0)
    assert attempt.request["headers"] == {"Authorization": "***"}
    assert attempt.response_headers == {"content-type": "text/plain"}
    assert attempt.response_excerpt == "nope"
    assert await store.attempts(ids["pend"]) == []
    assert await store.known_events(["ok", "bad", "ghost"]) == frozenset({"ok", "bad"})
    assert await store.known_events([]) == frozenset()


async def test_replay_adds_pending_deliveries_of_the_same_event_marked_as_replays(store: SQLiteStore) -> None:
    ids = await one_of_each_status(store)
    original = await store.delivery(ids["bad"])
    assert original is not None

    [new_id] = await store.replay(
        [ReplayItem(event_id="bad", hook="h", replay_of=original.id, next_at=1000.0)], now=900.0
    )

    replay = await store.delivery(new_id)
    assert replay is not None
    assert (replay.event_id, replay.hook, replay.state, replay.attempts) == ("bad", "h", "pending", 0)
    assert (replay.replay_of, replay.next_at, replay.created_at) == (original.id, 1000.0, 900.0)
    # The original is unchanged, and now counts as replayed.
    assert await store.delivery(original.id) == original
    replayed = await store.deliveries(DeliveryQuery(replayed=True))
    assert [r.id for r in replayed] == [original.id]
    fresh = await store.deliveries(DeliveryQuery(event_ids=("bad",), replayed=False))
    assert [r.id for r in fresh] == [new_id]
    # Due at next_at, not before: the dispatcher honours a --rate spacing.
    assert new_id not in [d.id for d in await store.claim_due(999.0, {"h": 10})]
    [claimed] = await store.claim_due(1000.0, {"h": 10})
    assert (claimed.id, claimed.event_id, claimed.replay_of) == (new_id, "bad", original.id)
    assert await store.replay([], now=1.0) == []


async def test_stats_per_hook_rates_percentiles_and_failure_reasons(store: SQLiteStore) -> None:
    """1. Hook fast: 10 deliveries delivered at 0.1 .. 1.0 s; hook slow: 2 delivered, 1 failed after
    2 attempts (HTTP 503, then a timeout), 1 failed (HTTP 503), 1 pending;
    2. an older delivery outside the window.
    Result: counts, success rate over finished ones, nearest-rank p50/p95, failed attempts by reason."""
    await store.ingest([routed("old", "fast")], [], [], 10.0)
    await store.ingest([routed(f"f{i}", "fast") for i in range(10)], [], [], 100.0)
    await store.ingest([routed(f"s{i}", "slow") for i in range(4)], [], [], 100.0)
    due = {d.event_id: d for d in await store.claim_due(150.0, {"fast": 20, "slow": 4})}
    records = [record(due[f"f{i}"], "delivered", status=200, duration_s=(i + 1) / 10) for i in range(10)]
    records += [
        record(due["s0"], "delivered", status=200, duration_s=2.0),
        record(due["s1"], "delivered", status=200, duration_s=4.0),
        record(due["s2"], "pending", status=503, duration_s=1.0, error="HTTP 503", next_at=160.0),
        record(due["s3"], "failed", status=503, duration_s=1.0, error="HTTP 503"),
        record(due["old"], "failed", status=500, duration_s=9.0, error="HTTP 500"),
    ]
    await store.record_attempts(records)
    [again] = await store.claim_due(160.0, {"slow": 4})
    timeout = "timed out after 30s (hook timeout)"
    await store.record_attempts([record(again, "failed", status=None, duration_s=30.0, error=timeout)])
    await store.ingest([routed("s4", "slow")], [], [], 100.0)  # left pending

    fast, slow = await store.stats(50.0, 200.0)

    assert (fast.hook, fast.deliveries, fast.delivered, fast.failed, fast.unfinished) == ("fast", 10, 10, 0, 0)
    assert (fast.attempts, fast.p50_s, fast.p95_s, fast.success_rate, fast.failures) == (10, 0.5, 1.0, 1.0, ())
    assert (slow.hook, slow.deliveries, slow.delivered, slow.failed, slow.unfinished) == ("slow", 5, 2, 2, 1)
    assert slow.attempts == 5  # durations 1, 1, 2, 4, 30
    assert (slow.p50_s, slow.p95_s, slow.success_rate) == (2.0, 30.0, 0.5)
    assert slow.failures == (FailureReason(reason="HTTP 503", attempts=2), FailureReason(reason=timeout, attempts=1))
    [only_old] = await store.stats(0.0, 50.0)
    assert (only_old.hook, only_old.failed) == ("fast", 1)
    assert only_old.failures == (FailureReason(reason="HTTP 500", attempts=1),)
    assert await store.stats(500.0, 600.0) == []


async def test_prune_counts_each_kind_and_keeps_unfinished_work(store: SQLiteStore, tmp_path: Path) -> None:
    await one_of_each_status(store)  # created at 100: pend, retry, busy unfinished; ok, bad finished
    await store.ingest([routed("nomatch")], [], [], 100.0)
    await store.ingest([routed("new", "h")], [], [], 10_000.0)

    counts = await store.prune_counts(1000.0)

    assert (counts.deliveries, counts.attempts, counts.events, counts.rejected) == (2, 2, 3, 0)
    assert counts.total == 7
    left = db_rows(tmp_path / "hookd.db", "SELECT event_id FROM deliveries ORDER BY event_id")
    assert left == [("busy",), ("new",), ("pend",), ("retry",)]
    assert (await store.prune_counts(1000.0)).total == 0
