"""Ordering keys in the store: only the oldest unfinished delivery of a (hook, key) is ever due, the
claim stays an index range however long the backlog, and a delivery that ends for good (or is
withdrawn) lets the next of its key go."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hookd.store.base import AttemptRecord, DeliveryQuery, DeliveryState, DueDelivery, ReplayItem, RoutedEvent
from hookd.store.sqlite import _KEY_HEAD, _KEY_NEXT, _KEY_UNFINISHED, SQLiteStore, _claim_due
from tests.store_helpers import ingest_all, order_event, query_plan, vm_work

BACKLOG = 100_000


def keyed(event_id: str, key: str | None, hook: str = "h", *, claim: bool = False) -> RoutedEvent:
    return RoutedEvent(
        order_event(event_id),
        "sock",
        (hook,),
        frozenset({hook}) if claim else frozenset(),
        {},
        {hook: key} if key else None,
    )


def record(due: DueDelivery, state: DeliveryState, *, next_at: float | None = None, at: float = 200.0) -> AttemptRecord:
    return AttemptRecord(
        delivery_id=due.id, attempt=due.attempt, started_at=at, duration_s=0.1,
        status=200 if state == "delivered" else 500, error="", request={}, response_headers={},
        response_excerpt="", state=state, next_at=next_at, ordered=True,
    )  # fmt: skip


async def test_only_the_oldest_of_a_key_is_due_and_an_ending_lets_the_next_go(store: SQLiteStore) -> None:
    """1. Three events of key A, two of key B, one without a key, for hook h. 2. Claim, fail A's
    head for a retry, deliver B's, claim again; then A's head fails for good, then a withdrawn head.
    Result: the first claim gets A1, B1 and the unkeyed one; a retrying A1 holds A2 back while B2
    goes; A1 failing for good lets A2 go; withdrawing A2 (queued) lets A3 go."""
    await ingest_all(store, [keyed("a1", "A"), keyed("b1", "B"), keyed("a2", "A"), keyed("n1", None),
                         keyed("a3", "A"), keyed("b2", "B")])  # fmt: skip
    first = await store.claim_due(100.0, {"h": 10})
    assert [d.event_id for d in first] == ["a1", "b1", "n1"]
    assert await store.claim_due(100.0, {"h": 10}) == []  # a1 and b1 are delivering: their keys wait
    by_event = {d.event_id: d for d in first}
    await store.record_attempts([record(by_event["a1"], "pending", next_at=500.0), record(by_event["b1"], "delivered")])
    assert [d.event_id for d in await store.claim_due(200.0, {"h": 10})] == ["b2"]  # a2 waits for a1's retry
    [a1] = await store.claim_due(500.0, {"h": 10})
    assert a1.event_id == "a1" and a1.attempt == 2
    await store.record_attempts([record(a1, "failed", at=510.0)])
    [a2] = await store.claim_due(510.0, {"h": 10})
    assert a2.event_id == "a2"
    await store.release([a2.id], 520.0)  # given back unsent: still the key's head, due at once
    rows = await store.deliveries(DeliveryQuery(event_ids=("a2", "a3")))
    assert {(r.event_id, r.ordering_key, r.next_at) for r in rows} == {("a2", "A", 520.0), ("a3", "A", None)}
    assert await store.withdraw(DeliveryQuery(event_ids=("a2",)), 530.0, "withdrawn") == 1
    [a3] = await store.claim_due(530.0, {"h": 10})
    assert a3.event_id == "a3"


async def test_ingest_claims_a_keys_head_but_never_one_that_must_wait(store: SQLiteStore) -> None:
    """Ingest's early claim, asked for two deliveries of key A in one commit and one of A in the next:
    only the first is claimed (stored delivering with a due time); the others wait with none."""
    result = await store.ingest([keyed("a1", "A", claim=True), keyed("a2", "A", claim=True)], [], [], 100.0)
    assert [d.event_id for d in result.claimed] == ["a1"]
    result = await store.ingest([keyed("a3", "A", claim=True)], [], [], 101.0)
    assert result.claimed == () and result.pending_hooks == frozenset()
    rows = {r.event_id: (r.state, r.next_at) for r in await store.deliveries(DeliveryQuery())}
    assert rows == {"a1": ("delivering", 100.0), "a2": ("pending", None), "a3": ("pending", None)}


async def test_a_recorded_outcome_written_twice_lets_only_one_delivery_of_the_key_go(store: SQLiteStore) -> None:
    """The recorder writes a batch again after a store error: the key's next delivery goes once."""
    await ingest_all(store, [keyed(f"e{i}", "A") for i in range(3)])
    [head] = await store.claim_due(100.0, {"h": 5})
    await store.record_attempts([record(head, "delivered")])
    await store.record_attempts([record(head, "delivered")])
    assert [d.event_id for d in await store.claim_due(300.0, {"h": 5})] == ["e1"]


async def test_replays_go_behind_the_queued_deliveries_of_their_key(store: SQLiteStore) -> None:
    """A replay of key A while A has a delivery queued waits for it; one of key C (nothing queued)
    is due at once."""
    await ingest_all(store, [keyed("a1", "A"), keyed("c1", "C")])
    [first_a, first_c] = await store.claim_due(100.0, {"h": 5})
    await store.record_attempts([record(first_c, "delivered")])
    ids = await store.replay(
        [ReplayItem(event_id="a1", hook="h", replay_of=None, next_at=150.0, ordering_key="A"),
         ReplayItem(event_id="c1", hook="h", replay_of=first_c.id, next_at=150.0, ordering_key="C")], 150.0,
    )  # fmt: skip
    assert [d.id for d in await store.claim_due(150.0, {"h": 5})] == [ids[1]]
    await store.record_attempts([record(first_a, "delivered", at=160.0)])
    assert [d.id for d in await store.claim_due(160.0, {"h": 5})] == [ids[0]]


async def test_a_hook_that_orders_no_more_lets_its_waiting_deliveries_go(store: SQLiteStore) -> None:
    await ingest_all(store, [keyed(f"e{i}", "A") for i in range(4)])
    assert await store.unorder(["h"], 200.0) == 3
    assert await store.unorder(["h"], 200.0) == 0
    assert len(await store.claim_due(200.0, {"h": 10})) == 4


@pytest.mark.parametrize("shape", ["one-key", "many-keys"])
async def test_a_large_backlog_is_claimed_by_index_ranges(store: SQLiteStore, db_path: Path, shape: str) -> None:
    """1. 100,000 queued deliveries of hook h, of one key or each of its own key (plus hook u, 1,000
    unordered). 2. Claim 10 for h and u; look at the query plans of the claim and of the key's head,
    next and unfinished lookups.
    Result: one key gives its oldest delivery only, 100,000 keys give the 10 oldest; the claim runs
    a few thousand VM instructions however large the backlog (a scan would run millions), and every
    lookup is a SEARCH on an index, never a SCAN."""
    one = shape == "one-key"
    await ingest_all(store, [keyed(f"e{i:06d}", "A" if one else f"k{i}") for i in range(BACKLOG)])
    await ingest_all(store, [keyed(f"u{i:04d}", None, "u") for i in range(1000)])
    claimed, steps = vm_work(db_path, lambda db: _claim_due(db, 100.0, {"h": 10, "u": 10}))
    assert isinstance(claimed, list)
    got = [d.event_id for d in claimed if d.hook == "h"]
    assert got == (["e000000"] if one else [f"e{i:06d}" for i in range(10)])
    assert len([d for d in claimed if d.hook == "u"]) == 10
    assert steps < 50, steps  # thousands of instructions

    ends, steps = vm_work(db_path, lambda db: db.execute("SELECT min(next_at) FROM deliveries WHERE state = 'pending' "
                                                      "AND hook IN ('h')").fetchone())  # fmt: skip
    assert ends == (100.0,) and steps < 50, steps  # next_due_at skips the waiting ones (next_at NULL) by index

    claim = ("SELECT id FROM deliveries WHERE state = 'pending' AND hook = ? AND next_at <= ? "
             "ORDER BY next_at, id LIMIT ?")  # fmt: skip
    plans = [
        query_plan(db_path, claim, ("h", 100.0, 10)),
        query_plan(db_path, _KEY_HEAD, ("h", "A")),
        query_plan(db_path, _KEY_NEXT, ("h", "A")),
        query_plan(db_path, _KEY_UNFINISHED, ("h", "A")),
    ]
    for plan in plans:
        assert plan and all("SCAN" not in step for step in plan), plans
    assert "deliveries_due" in plans[0][0]
    assert all("deliveries_key" in plan[0] for plan in plans[1:]), plans


async def test_ending_the_head_of_a_long_key_is_index_work(store: SQLiteStore, db_path: Path) -> None:
    """With 100,000 deliveries of one key queued, recording its head delivered lets the next go in
    a few thousand VM instructions, not a pass over the queue."""
    await ingest_all(store, [keyed(f"e{i:06d}", "A") for i in range(BACKLOG)])
    [head] = await store.claim_due(100.0, {"h": 1})
    from hookd.store.sqlite import _advance_key

    await store.record_attempts([dataclasses.replace(record(head, "delivered"), ordered=False)])  # left waiting
    advanced, steps = vm_work(db_path, lambda db: _advance_key(db, "h", "A", 300.0))
    assert advanced is True and steps < 50, steps
    await store.record_attempts([record(head, "delivered")])  # again, ordered: the next goes
    assert [d.event_id for d in await store.claim_due(300.0, {"h": 5})] == ["e000001"]
