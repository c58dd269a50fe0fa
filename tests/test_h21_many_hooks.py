"""1,000 hooks behind one slow receiver: what the daemon holds in memory is bounded by its limits,
not by its backlog (no task, and no claimed delivery, per queued delivery)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from hookd.store.base import DueDelivery
from tests.conftest import (
    Receiver,
    Reply,
    daemon_config,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    wait_until,
)

HOOKS = 1000
EVENTS = 5
CONCURRENCY = 40


def _alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


async def test_a_thousand_hooks_behind_a_slow_receiver_hold_memory_to_the_limits(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. 1,000 hooks, each catching every event, to one receiver that holds every request until
       released; delivery.concurrency 40. 2. 5 events: 5,000 deliveries, stored at once.
    Result: while the receiver holds the first requests, the daemon runs at most 40 delivery tasks
    and keeps at most two rounds (2 x 40) of claimed deliveries in memory, whatever the backlog; the
    other deliveries wait in the database, pending with no attempt. Once released, all 5,000 arrive."""
    hold = asyncio.Event()
    receiver.default["/slow"] = Reply(hold=hold)
    hooks = "\n".join(
        f'  - {{name: h{i:04d}, events: ["*"], url: "{receiver.url("/slow")}", concurrency: 2}}' for i in range(HOOKS)
    )
    config = daemon_config(
        short_dir,
        f"""
        delivery: {{concurrency: {CONCURRENCY}}}
        sources:
          - {{name: app, type: socket, path: {short_dir}/s.sock}}
        hooks:
        """,
    )
    config.write_text(config.read_text() + hooks + "\n", encoding="utf-8")
    db = short_dir / "hookd.db"
    async with running_daemon(config) as daemon:
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in range(EVENTS)])
        assert all(a["ok"] for a in acks)
        await receiver.wait_count(CONCURRENCY)
        for _ in range(50):  # turns in which an unbounded dispatcher would start or buffer more
            await asyncio.sleep(0)

        delivery_tasks = [t for t in asyncio.all_tasks() if t.get_name() == "hookd-delivery"]
        assert len(delivery_tasks) <= CONCURRENCY
        assert daemon.dispatcher is not None
        assert daemon.dispatcher.in_flight_total == CONCURRENCY
        assert daemon.dispatcher.buffered_total <= CONCURRENCY  # the reserve: one more round
        # Every DueDelivery alive is one the dispatcher sends or keeps in reserve: none per queued one.
        gc.collect()
        assert _alive(DueDelivery) <= 2 * CONCURRENCY
        assert len(receiver.requests) == CONCURRENCY
        assert db_rows(db, "SELECT count(*) FROM deliveries") == [(HOOKS * EVENTS,)]
        waiting = db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND attempts = 0")
        assert waiting[0][0] >= HOOKS * EVENTS - 2 * CONCURRENCY

        hold.set()
        await wait_until(lambda: daemon.dispatcher is not None and daemon.dispatcher.delivered_total == HOOKS * EVENTS)
    assert len(receiver.requests) == HOOKS * EVENTS
