"""How many due deliveries a batched hook reads and renders to form its batches (issue 21, attacker's
finding: with max_events 10,000 and max_size 64 KB, each claim read and rendered 10,000 candidates a
slot for 31 to go, so draining a backlog cost its square). Pure, on Batcher."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from hookd.batching import Batcher
from hookd.store.base import BatchCandidates, DueDelivery
from tests.test_h21_batch_config import batcher


def backlog(pads: list[int], name: str = "d") -> BatchCandidates:
    """Due deliveries (ids `name`0, `name`1, …) of events with these pad sizes, all stored just now
    (formed_ids' time): a batch of them goes only once it is full, so one formed from too few
    candidates would wait instead."""
    due = tuple(
        DueDelivery(id=f"{name}{i}", event_id=f"e{i}", hook="b", attempt=0, replay_of=None,
                    body=orjson.dumps({"id": f"e{i}", "data": {"pad": "x" * pad}}))
        for i, pad in enumerate(pads)
    )  # fmt: skip
    return BatchCandidates(due=due, created_at=(100.0,) * len(due), retry_at=None, later_at=None)


def first(found: BatchCandidates, n: int) -> BatchCandidates:
    return BatchCandidates(due=found.due[:n], created_at=found.created_at[:n], retry_at=None, later_at=None)


def formed_ids(b: Batcher, found: BatchCandidates, units: int) -> list[list[str]]:
    return [[d.id for d in g] for g in b.form(found, now=100.0, units=units).batches]


def test_a_claim_reads_what_can_fit_in_its_batches_and_renders_no_further(tmp_path: Path) -> None:
    """1. Hook b batches {max_events: 1000, max_size: 64KB}; 3,000 events of ~2 KB are due, stored
    just now (a batch goes only when full).
    2. Batcher.candidates_for(2) before any payload is rendered, then form() over all 3,000 for 2 units.
    3. candidates_for(2) again, and form() over only that many.
    Result: (2) 200 (100 each: nothing is known of the payloads yet); two batches of 31 (a
    32nd passes 64,000 bytes); the batcher rendered and keeps the payloads of one batch more than it
    sent and the one that closed it (what the next round reads first), not the 3,000. (3) 2 x (64,000
    // the smallest payload + 1) = 64, and those 64 form the same two batches: reading them is enough."""
    b = batcher(tmp_path, "{max_events: 1000, max_size: 64KB}")
    assert b.candidates_for(2) == 200
    found = backlog([2000] * 3000)
    sent = formed_ids(b, found, 2)
    assert [len(g) for g in sent] == [31, 31]
    assert len(b.known) == 31 * 3 + 1
    bound = b.candidates_for(2)
    assert formed_ids(batcher(tmp_path, "{max_events: 1000, max_size: 64KB}"), first(found, bound), 2) == sent
    assert bound == 2 * (64_000 // len(b.item(found.due[0])) + 1) == 64


def test_the_bound_is_enough_for_any_payload_sizes_and_follows_max_events(tmp_path: Path) -> None:
    """Payloads of 1,000 to 1,010 bytes in random order, stored just now: once the smallest is seen, the first
    candidates_for(units) candidates form the same batches as all of them do, for 1 to 4 units. With
    max_events below what fits (before any payload is rendered too), or lowered by a split,
    max_events bounds it; a smaller payload seen later raises the bound."""
    pads = random.Random(21).choices(range(1000, 1010), k=2000)
    found = backlog(pads)
    everything = batcher(tmp_path, "{max_events: 1000, max_size: 16KB}")  # forms from all 2,000
    for units in range(1, 5):
        seen = batcher(tmp_path, "{max_events: 1000, max_size: 16KB}")
        seen.form(backlog(sorted(pads)[:1], "other"), now=100.0, units=1)  # knows the smallest of them all
        bound = seen.candidates_for(units)
        assert bound < len(pads)
        assert formed_ids(seen, first(found, bound), units) == formed_ids(everything, found, units)

    few = batcher(tmp_path, "{max_events: 5, max_size: 64KB}")
    assert few.candidates_for(3) == 15
    formed_ids(few, backlog([2000] * 20), 1)
    assert few.candidates_for(3) == 15  # 5 a batch, though 31 of these would fit in 64 KB
    few.split(5)
    assert few.candidates_for(3) == 6

    b = batcher(tmp_path, "{max_events: 1000, max_size: 64KB}")
    formed_ids(b, backlog([2000] * 40), 1)
    assert b.candidates_for(1) == 32
    formed_ids(b, backlog([100], "small"), 1)
    smallest = len(b.item(backlog([100], "small").due[0]))
    assert b.candidates_for(1) == 64_000 // smallest + 1 > 32
