"""A 10/s limit holds over a real run: a real daemon on the real clock sends ~30 events to a real
receiver, which notes when each request came. No timing assertion on speed, only the limit's bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from hookd.ratelimit import burst_for
from hookd.units import parse_rate
from tests.conftest import Receiver, db_rows, event_line, running_daemon, send_lines, serving_receiver
from tests.test_serve import basic_config

EVENTS = 30
RATE = "10/s"
RUN_FAILSAFE_S = 30.0  # 30 events at 10/s take about 3 s; this only stops a hung run


class TimedReceiver(Receiver):
    """Notes the wall-clock time each request arrived, before anything else is done with it."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.times.append(time.time())
        return await super().handle(request)


@pytest.fixture
async def timed_receiver() -> AsyncIterator[TimedReceiver]:
    rec = TimedReceiver()
    async with serving_receiver(rec):
        yield rec


async def test_a_ten_per_second_limit_holds_at_the_receiver(short_dir: Path, timed_receiver: TimedReceiver) -> None:
    """1. A daemon (real clock) with hook h: rate_limit 10/s (burst 1). 2. 30 events at once.
    Result: all 30 arrive, each with 1 attempt; for every request, the number that had arrived by then
    is at most burst + 10 x (seconds since the events were sent): the bucket holds at most its burst
    then, and a request arrives after its token was taken."""
    rate = parse_rate(RATE)
    burst = burst_for(rate)
    hook = f'  - {{name: h, events: ["*"], url: "{timed_receiver.url("/h")}", rate_limit: {RATE}}}'
    cfg = basic_config(short_dir, timed_receiver, hook)
    async with running_daemon(cfg):
        started = time.time()  # nothing is sent before; the bucket holds at most its burst now
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i:02}") for i in range(EVENTS)])
        assert all(a["ok"] for a in acks)
        async with asyncio.timeout(RUN_FAILSAFE_S):
            while db_rows(short_dir / "hookd.db", "SELECT count(*) FROM deliveries WHERE state = 'delivered'") != [
                (EVENTS,)
            ]:
                await asyncio.sleep(0.05)
    times = sorted(timed_receiver.times)
    assert len(times) == EVENTS
    for k, at in enumerate(times, 1):
        allowed = burst + rate.per_s * (at - started)
        assert k <= allowed + 1e-6, f"request {k} came {at - started:.3f}s in; at most {allowed:.2f} by then"
    assert db_rows(short_dir / "hookd.db", "SELECT DISTINCT attempts FROM deliveries") == [(1,)]
