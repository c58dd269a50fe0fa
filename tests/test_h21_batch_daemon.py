"""Batching (issue 21): a hook with `batch:` sends its deliveries several per request, as a JSON array,
formed by count, size and wait (on a fake clock), and retried or failed as a whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from tests.conftest import Receiver, Reply, db_rows, event_line, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_h19_tail_health import daemon_on
from tests.test_serve import basic_config


def batched(receiver: Receiver, batch: str, *, extra: str = "") -> str:
    return (
        f'  - {{name: b, events: ["*"], url: "{receiver.url("/b")}", batch: {batch}, '
        f"retry: {{initial_delay: 30s, jitter: false}}{extra}}}"
    )


def ids_in(body: bytes) -> list[str]:
    items = orjson.loads(body)
    assert isinstance(items, list)
    return [str(item["id"]) for item in items]


async def test_batches_close_at_max_events_and_the_rest_goes_after_max_wait(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook b batches {max_events: 3, max_wait: 10s}.
    2. Seven events, one connection.
    3. The clock moves 10 s on.
    Result: (2) two requests, each a JSON array of three envelopes in event order, and nothing for the
    seventh while the clock stands; (3) a third request with the seventh alone. Every delivery stored
    with the batch id its request carried as webhook-id, one attempt record per request."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 3, max_wait: 10s}"))
    async with daemon_on(cfg, clock):
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(1, 8)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(6,)])
        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):  # turns for anything that would wrongly send the seventh now
            await asyncio.sleep(0)
        requests = receiver.at("/b")
        assert len(requests) == 2
        assert sorted(ids_in(r.body) for r in requests) == [["e1", "e2", "e3"], ["e4", "e5", "e6"]]
        assert db_rows(db, "SELECT state FROM deliveries WHERE event_id = 'e7'") == [("pending",)]

        clock.advance(10.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(7,)])
    requests = receiver.at("/b")
    assert len(requests) == 3 and ids_in(requests[2].body) == ["e7"]
    for r in requests:
        batch_id = r.headers["webhook-id"]
        members = db_rows(db, "SELECT event_id FROM deliveries WHERE batch_id = ? ORDER BY id", (batch_id,))
        assert [m[0] for m in members] == ids_in(r.body)
        assert db_rows(db, "SELECT attempt, status FROM attempts WHERE delivery_id = ?", (batch_id,)) == [(1, 200)]
    assert db_rows(db, "SELECT count(*) FROM attempts") == [(3,)]
    assert db_rows(db, "SELECT count(*), sum(members) FROM batches") == [(3, 7)]
