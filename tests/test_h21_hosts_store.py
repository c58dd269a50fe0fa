"""Destinations in the store (issue 21): a hook with a templated url host stores each delivery's
destination; a closed destination's deliveries are parked out of the claim's range, so a dead host's
backlog costs a claim nothing, and they come back, due times kept, when it opens."""

from __future__ import annotations

from typing import Any

import pytest

from hookd.store.base import PARK_OFFSET_S, HookPause, RoutedEvent
from hookd.store.sqlite import _CLAIM, SQLiteStore, _claim_due
from tests.conftest import db_rows
from tests.store_helpers import ingest_all, order_event, query_plan, vm_work

BACKLOG = 100_000
DEAD, LIVE = "dead.example:443", "live.example:443"


def to(event_id: str, host: str, *, claim: bool = False) -> RoutedEvent:
    return RoutedEvent(
        order_event(event_id), "sock", ("h",), frozenset({"h"}) if claim else frozenset(), destinations={"h": host}
    )


async def test_a_dead_destinations_backlog_is_parked_out_of_the_claims_range(store: SQLiteStore) -> None:
    """1. 100,000 deliveries of hook h to a dead host, then 10 to a live one. 2. The dead host is paused
    (its deliveries parked). 3. Claim 10 for h; the claim's query plan. 4. Resume it.
    Result: (2) parking is one range of deliveries_destination; (3) the claim gets the live host's 10,
    each with its destination, in a few thousand VM instructions (a scan over the parked backlog would
    run millions), its plan a SEARCH on deliveries_due; (4) the backlog is due again at its own time."""
    path = store.path
    await ingest_all(store, [to(f"d{i:06d}", DEAD) for i in range(BACKLOG)])
    await ingest_all(store, [to(f"l{i:02d}", LIVE) for i in range(10)], now=200.0)
    plan = query_plan(
        path,
        "UPDATE deliveries SET next_at = next_at + ?3 WHERE hook = ?1 AND destination = ?2 AND state = 'pending' "
        "AND next_at < ?3",
        ("h", DEAD, PARK_OFFSET_S),
    )
    assert plan and "deliveries_destination" in plan[0] and all("SCAN" not in p for p in plan), plan

    pause = HookPause(by="receiver", reason="the receiver answered 410 Gone (on_gone: pause)", at=300.0)
    assert await store.pause_destination("h", DEAD, pause) is None
    assert await store.pause_destination("h", DEAD, pause) == pause  # paused already: stands
    assert await store.destination_pauses() == {"h": {DEAD: pause}}
    assert db_rows(path, "SELECT count(*) FROM deliveries WHERE next_at >= ?", (PARK_OFFSET_S,)) == [(BACKLOG,)]

    claimed, steps = vm_work(path, lambda db: _claim_due(db, 300.0, {"h": 10}))
    assert isinstance(claimed, list)
    assert [(d.event_id, d.destination) for d in claimed] == [(f"l{i:02d}", LIVE) for i in range(10)]
    assert steps < 50, steps  # thousands of instructions
    claim_plan = query_plan(path, _CLAIM, (300.0, "h", 300.0, 10))
    assert any("deliveries_due" in p for p in claim_plan) and all("SCAN" not in p for p in claim_plan), claim_plan

    lifted = await store.resume_destinations("h", None, 400.0)
    assert lifted == {DEAD: pause}
    assert await store.destination_pauses() == {}
    assert db_rows(path, "SELECT min(next_at), max(next_at) FROM deliveries WHERE destination = ?", (DEAD,)) == [
        (100.0, 100.0)
    ]


async def test_parking_gives_back_what_was_claimed_and_unparking_takes_the_longest_due_first(
    store: SQLiteStore,
) -> None:
    """1. Five deliveries to a host, two of them claimed (an attempt each counted). 2. Parked with the
    claimed two given back. 3. Unpark 1, then all. 4. At start: unpark the hook's parked deliveries but
    a paused destination's.
    Result: (2) all five parked, due times kept (the claimed two at the time they were claimed at), the
    two claimed pending again with their attempt uncounted; (3) the longest due first (one unparked is
    due at its own time), then the rest; (4) a paused destination's stay parked."""
    path = store.path
    await ingest_all(store, [to(f"e{i}", DEAD) for i in range(5)])
    claimed = await store.claim_due(100.0, {"h": 2})
    assert [d.attempt for d in claimed] == [1, 1]
    assert await store.park("h", DEAD, [d.id for d in claimed], 150.0) == 5
    rows = db_rows(path, "SELECT event_id, state, attempts, next_at FROM deliveries ORDER BY event_id")
    assert rows == [
        ("e0", "pending", 0, 100.0 + PARK_OFFSET_S),
        ("e1", "pending", 0, 100.0 + PARK_OFFSET_S),
        ("e2", "pending", 0, 100.0 + PARK_OFFSET_S),
        ("e3", "pending", 0, 100.0 + PARK_OFFSET_S),
        ("e4", "pending", 0, 100.0 + PARK_OFFSET_S),
    ]
    assert await store.claim_due(200.0, {"h": 10}) == []
    assert await store.unpark("h", DEAD, 200.0, 1) == 1
    [probe] = await store.claim_due(200.0, {"h": 10})
    assert probe.event_id == "e0" and probe.destination == DEAD  # stored first, due first: its place kept
    assert await store.unpark("h", DEAD, 200.0) == 4

    await store.park("h", DEAD, [probe.id], 250.0)
    await ingest_all(store, [to("x0", LIVE)])
    await store.park("h", LIVE, [], 250.0)
    await store.pause_destination("h", DEAD, HookPause(by="receiver", reason="410", at=250.0))
    assert await store.unpark("h", None, 300.0) == 1  # the live host's; the paused one's stay
    assert db_rows(path, "SELECT count(*) FROM deliveries WHERE next_at >= ?", (PARK_OFFSET_S,)) == [(5,)]
    plan = query_plan(
        path,
        "UPDATE deliveries SET next_at = next_at - ?3 WHERE id IN (SELECT id FROM deliveries WHERE hook = ?1 "
        "AND destination = ?2 AND state = 'pending' AND next_at >= ?3 ORDER BY next_at LIMIT ?4)",
        ("h", DEAD, PARK_OFFSET_S, 1),
    )
    assert any("deliveries_destination" in p for p in plan) and all("SCAN d" not in p for p in plan), plan


async def test_a_start_unparks_every_hook_in_one_transaction_and_lifts_pauses_of_hosts_no_longer_templated(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hooks h and g each have a destination parked by a gate that is not stored (a breaker, tokens),
    and h one paused; g's host was templated before and is not any more (`templated` names only h).
    2. unpark_at_start for both, counting the store's commits.
    Result: h's unpaused host and g's deliveries (its stored pause lifted, or they would stay parked for
    good) are due again, h's paused one stays parked; one commit for all of it."""
    path = store.path
    await ingest_all(store, [to("h-live", LIVE), to("h-dead", DEAD)])
    await store.ingest(
        [RoutedEvent(order_event("g-0"), "sock", ("g",), frozenset(), destinations={"g": DEAD})], [], [], 100.0
    )
    await store.park("h", LIVE, [], 150.0)
    await store.pause_destination("h", DEAD, HookPause(by="receiver", reason="410", at=150.0))
    await store.pause_destination("g", DEAD, HookPause(by="receiver", reason="410", at=150.0))
    assert db_rows(path, "SELECT count(*) FROM deliveries WHERE next_at >= ?", (PARK_OFFSET_S,)) == [(3,)]

    transactions = 0
    write = store._write

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await write(*args, **kwargs)

    monkeypatch.setattr(store, "_write", counted)
    assert await store.unpark_at_start(["h"], ["h", "g"], 200.0) == 2
    assert transactions == 1
    assert db_rows(path, "SELECT event_id FROM deliveries WHERE next_at >= ?", (PARK_OFFSET_S,)) == [("h-dead",)]
    assert await store.destination_pauses() == {"h": {DEAD: HookPause(by="receiver", reason="410", at=150.0)}}
    assert await store.unpark_at_start(["h"], ["h", "g"], 300.0) == 0  # idempotent
