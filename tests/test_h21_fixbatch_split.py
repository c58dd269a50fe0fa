"""A batch the receiver answers 413 (too large) is split, and a split spends no attempt of its
deliveries (issue 21, attacker's finding: with retry.max_attempts 2, splits down to one brought each
delivery to 5 attempts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import daemon_config, db_rows, event_line, running_daemon, send_lines, serving, wait_db
from tests.manual_clock import ManualClock


@asynccontextmanager
async def taking_at_most(most: int, items: list[list[str]]) -> AsyncIterator[TestServer]:
    """A receiver that answers 413 to a batch of more than `most` items, 200 to the others; the event
    ids of every body it was sent are appended to `items`."""

    async def take(request: web.Request) -> web.Response:
        ids = [str(item["id"]) for item in orjson.loads(await request.read())]
        items.append(ids)
        return web.Response(status=413 if len(ids) > most else 200, text="ok")

    app = web.Application()
    app.router.add_post("/b", take)
    async with serving(app) as server:
        yield server


async def deliver(short_dir: Path, most: int, events: int) -> list[list[str]]:
    """Hook b batches {max_events: `events`, max_wait: 1h} with retry.max_attempts 2, its receiver
    taking at most `most` items; `events` events (a full batch at once); a ManualClock that never moves
    (nothing waits out max_wait). Returns the event ids of each request, once every event is delivered."""
    items: list[list[str]] = []
    async with taking_at_most(most, items) as server:
        cfg = daemon_config(
            short_dir,
            f"""
            sources:
              - {{name: app, type: socket, path: {short_dir}/s.sock}}
            hooks:
              - name: b
                events: ["*"]
                url: "{server.make_url("/b")}"
                batch: {{max_events: {events}, max_wait: 1h}}
                retry: {{max_attempts: 2}}
            """,
        )
        async with running_daemon(cfg, clock=ManualClock()):
            acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(events)])
            assert all(a["ok"] for a in acks)
            await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
                          lambda r: r == [(events,)])  # fmt: skip
    return items


def splits_of(db: Path) -> dict[str, int]:
    """How many split batches carried each event's delivery (the batches it left, batch_departures)."""
    return dict(db_rows(db, "SELECT d.event_id, count(p.batch_id) FROM deliveries d "
                            "LEFT JOIN batch_departures p ON p.delivery_id = d.id GROUP BY d.id"))  # fmt: skip


async def test_splits_down_to_one_spend_no_attempt(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1. Hook b batches {max_events: 16} with retry.max_attempts 2; its receiver answers 413 to any batch
    of more than one. 2. 16 events.
    Result: the batch of 16 is split, its halves split again, down to one: every event is delivered
    alone. Each delivery has spent 1 attempt (the request that delivered it), under max_attempts,
    though up to 5 requests carried it: a split each (at most log2 16 = 4), and the last."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    items = await deliver(short_dir, 1, 16)
    assert sorted(ids for ids in items if len(ids) == 1) == sorted([f"e{i}"] for i in range(16))
    assert items[0] == [f"e{i}" for i in range(16)]  # the first request carried them all
    db = short_dir / "hookd.db"
    assert db_rows(db, "SELECT DISTINCT attempts FROM deliveries") == [(1,)]
    splits = splits_of(db)
    assert {e: sum(1 for ids in items if e in ids) for e in splits} == {e: n + 1 for e, n in splits.items()}
    # Each split at least halves the batches (one formed before a sibling's 413 lowered the limit may
    # skip a halving): 16, 8, 4, 2, then alone.
    assert all(1 <= n <= 4 for n in splits.values())


async def test_what_is_left_of_a_split_goes_at_once(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1. Hook b batches {max_events: 9, max_wait: 1h}; its receiver answers 413 to a batch of more than
    two. 2. Nine events (a full batch).
    Result: the batch of 9 is split into 4, 4 and 1; the 4s again into 2s, delivered. The one left over
    goes at once though no max_wait has passed and nothing joins it: split off, it was sent before,
    even though the split spent no attempt of its. Each delivery has spent 1 attempt."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    items = await deliver(short_dir, 2, 9)
    assert sorted(len(ids) for ids in items) == [1, 2, 2, 2, 2, 4, 4, 9]
    db = short_dir / "hookd.db"
    assert db_rows(db, "SELECT DISTINCT attempts FROM deliveries") == [(1,)]
    assert splits_of(db) == {**{f"e{i}": 2 for i in range(8)}, "e8": 1}
