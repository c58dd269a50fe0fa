"""Fixes to issue 21's lanes (round "fixa"): a batched, ordered hook's render failure releases its key;
a gate that closes while a claim is awaited gives back what the claim brought; a clock stepped back
neither freezes a token bucket nor the hook-state poll; one answer raises one alert; a batch's
max_wait counts from when its oldest delivery was stored."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hookd.breaker import Breaker
from hookd.config.model import BreakerConfig
from hookd.daemon import Daemon
from hookd.lane import Lane
from hookd.ratelimit import TokenBucket
from hookd.store.base import HookPause
from hookd.units import parse_rate
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_h19_history import hookd
from tests.test_h21_alerts_lanes import alerting_config, alerts_at
from tests.test_h21_batch_config import batcher, candidates
from tests.test_serve import basic_config


async def test_a_batched_ordered_hooks_render_failure_releases_its_key(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h batches and orders by data.order_id; its payload cannot render a1 (items is no list).
    2. a1, a2 (key A) and b1 (key B).
    Result: a1 fails alone (final, the render error), and a2, the next of its key, is delivered; b1 too."""
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/b")}", ordering_key: data.order_id, '
        '    payload: {n: "{{ length(data.items) }}", id: "{{ id }}"}, '
        "batch: {max_events: 10, max_wait: 10ms}, retry: {schedule: [10ms], jitter: false}}"
    )
    db = short_dir / "hookd.db"
    lines = [
        event_line("o", id="a1", data={"order_id": "A", "items": 5}),
        event_line("o", id="a2", data={"order_id": "A", "items": [1]}),
        event_line("o", id="b1", data={"order_id": "B", "items": [1]}),
    ]
    async with running_daemon(basic_config(short_dir, receiver, hook)):
        await send_lines(short_dir / "s.sock", lines)
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: all(s in ("delivered", "failed") for _, s, _ in r))  # fmt: skip
    assert rows == [("a1", "failed", 1), ("a2", "delivered", 1), ("b1", "delivered", 1)]
    assert db_rows(db, "SELECT batch_id IS NULL FROM deliveries WHERE event_id = 'a1'") == [(1,)]
    sent = [item["id"] for r in receiver.at("/b") for item in r.json()]  # type: ignore[union-attr]
    assert sorted(sent) == ["a2", "b1"]


async def _stop_by_pause(daemon: Daemon, clock: ManualClock) -> None:
    await daemon.dispatcher.pause("h", HookPause(by="operator", reason="a test", at=clock.now()))


async def _stop_by_hold(daemon: Daemon, clock: ManualClock) -> None:
    await daemon.dispatcher._hold(daemon.dispatcher.lanes["h"], clock.now() + 60.0)


@pytest.mark.parametrize("stop", [_stop_by_pause, _stop_by_hold], ids=["pause", "hold"])
@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
async def test_a_lane_stopped_while_its_claim_is_awaited_gives_back_what_the_claim_brought(
    short_dir: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    stop: Callable[[Daemon, ManualClock], Awaitable[None]],
    batched: bool,
) -> None:
    """1. A daemon on a ManualClock; hook h (batched or not); ingest claims nothing itself, and the
       dispatcher's claim transaction is held open once it has claimed. 2. e1..e3 are sent; while
       their claim is awaited the hook is paused (or held by a Retry-After). 3. The claim returns.
    Result: the three go back to pending with no attempt counted, nothing waits in the lane, and the
    receiver gets nothing."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    batch = ", batch: {max_events: 3, max_wait: 1s}" if batched else ""
    hook = f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", concurrency: 10{batch}}}'
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock) as daemon:
        monkeypatch.setattr(daemon.dispatcher, "reserve", lambda hook, n: 0)
        store = daemon.dispatcher.store
        name = "claim_formed" if batched else "claim_due"
        real = getattr(store, name)
        claimed, go_on = asyncio.Event(), asyncio.Event()

        async def held_open(*args: Any) -> Any:
            out = await real(*args)
            if any(out):
                claimed.set()
                await go_on.wait()
            return out

        monkeypatch.setattr(store, name, held_open)
        await send_lines(short_dir / "s.sock", [event_line("o", id=f"e{i}") for i in (1, 2, 3)])
        await asyncio.wait_for(claimed.wait(), 20)
        assert db_rows(db, "SELECT DISTINCT state FROM deliveries") == [("delivering",)]
        await stop(daemon, clock)
        go_on.set()
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: all(s == "pending" for _, s, _ in r))  # fmt: skip
        assert rows == [("e1", "pending", 0), ("e2", "pending", 0), ("e3", "pending", 0)]
        await wait_until(lambda: clock.waiting() > 0)
        assert not daemon.dispatcher.lanes["h"].ready
    assert receiver.requests == []


def test_a_half_open_breaker_lets_one_probe_start() -> None:
    """A lane of concurrency 10 whose breaker is half-open has a slot for one delivery, not ten; closed
    again, it has its ten."""
    lane = Lane("h", 10)
    lane.breaker = Breaker(BreakerConfig(failures=1, cooldown_s=30.0, disable_after_s=None))
    lane.breaker.failed(0.0, "HTTP 503")
    lane.breaker.tick(30.0)
    assert lane.breaker.state == "half_open"
    lane.restate()
    assert lane.has_slot()
    lane.in_flight = 1  # the probe
    assert not lane.has_slot()
    lane.breaker.succeeded(31.0)
    lane.restate()
    assert lane.has_slot()
    lane.in_flight = 10
    assert not lane.has_slot()


def test_a_token_bucket_keeps_filling_after_the_clock_steps_back() -> None:
    """1. 1/s (burst 1): its token taken. 2. The wall clock is stepped back an hour, then a second passes.
    Result: a token is there (the step counted as no time passed), not an hour later."""
    clock = ManualClock()
    bucket = TokenBucket(parse_rate("1/s"), clock)
    assert bucket.take(1) == 1
    clock.set_back(3600.0)
    assert bucket.available() == 0
    clock.advance(1.0)
    assert bucket.available() == 1
    assert bucket.take(1) == 1
    assert bucket.next_token_at() == clock.now() + 1.0


async def test_a_pause_from_the_cli_is_taken_up_after_the_clock_steps_back(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon on a ManualClock, hook h; e0 delivered. 2. The wall clock is stepped back an hour;
    `hookd hooks pause h`. 3. The poll interval (1 s) passes.
    Result: the daemon's lane is paused, and e1, sent then, is stored and waits (not an hour later)."""
    hook = f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}'
    cfg = basic_config(short_dir, receiver, hook)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("o", id="e0")])
        await receiver.wait_count(1)
        await wait_until(lambda: clock.waiting() > 0)
        clock.set_back(3600.0)
        paused = await hookd("hooks", "pause", "h", "-c", str(cfg))
        assert paused.exit_code == 0, paused.output
        lane = daemon.dispatcher.lanes["h"]
        assert lane.paused is None
        clock.advance(1.0)
        await wait_until(lambda: lane.paused is not None)
        await send_lines(short_dir / "s.sock", [event_line("o", id="e1")])
        await wait_db(db, "SELECT state FROM deliveries WHERE event_id = 'e1'", lambda r: r == [("pending",)])
        await wait_until(lambda: clock.waiting() > 0)
    assert [r.json()["id"] for r in receiver.requests] == ["e0"]  # type: ignore[index]


async def test_an_answer_that_pauses_the_hook_is_not_also_a_breaker_failure(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. h has a breaker that opens at the first failure; its receiver answers 503 with
    `webhook-delivery: disable`; ops listens to hookd.hook.* and hookd.breaker.*. 2. One event.
    Result: h is paused by the receiver and its breaker stays closed, no failure counted: ops gets
    one alert, hookd.hook.paused."""
    receiver.on("/h", Reply(status=503, headers={"webhook-delivery": "disable"}))
    cfg = alerting_config(short_dir, receiver, ", breaker: {failures: 1, cooldown: 1m}")
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")])
        lane = daemon.dispatcher.lanes["h"]
        await receiver.wait_count(1, "/ops")
        await wait_until(lambda: lane.paused is not None and lane.in_flight == 0)
        assert lane.breaker is not None
        assert (lane.breaker.state, lane.breaker.in_a_row) == ("closed", 0)
        await wait_until(lambda: daemon.dispatcher.in_flight_total == 0)
    reason = "the receiver answered HTTP 503 with the header webhook-delivery: disable"
    assert alerts_at(receiver) == [("hookd.hook.paused", "h", reason)]


def test_max_wait_counts_from_when_the_oldest_delivery_was_stored(tmp_path: Path) -> None:
    """Deliveries stored at 100 and 101 that fall due only at 200 (a key's next ones, a backlog after a
    pause) go at once with max_wait 5s; one stored at 198 waits until 203; a lone payload larger than
    max_size goes at once."""
    b = batcher(tmp_path, "{max_events: 10, max_size: 20B, max_wait: 5s}")
    formed = b.form(candidates([b'{"n":1}', b'{"n":2}'], [101.0, 100.0]), now=200.0, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0", "d1"]] and formed.wait_until is None
    formed = b.form(candidates([b'{"n":1}'], [198.0]), now=200.0, units=10)
    assert formed.batches == [] and formed.wait_until == 203.0
    big = b'"' + b"x" * 30 + b'"'
    b = batcher(tmp_path, "{max_events: 10, max_size: 20B, max_wait: 5s}")  # d0 is another delivery now
    formed = b.form(candidates([big], [200.0]), now=200.0, units=10)
    assert [[d.id for d in g] for g in formed.batches] == [["d0"]] and formed.wait_until is None


async def test_an_ordered_batched_keys_queue_drains_without_waiting_max_wait_per_batch(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook h orders by data.order_id and batches (max_wait 1m).
    2. a1, a2, a3 (all key A): a batch holds one delivery per key. 3. The minute passes once.
    Result: a1's batch goes, then a2's and a3's, each at once as the one before it ends (they were
    stored a minute ago), while the clock stands."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/b")}", ordering_key: data.order_id, '
        "batch: {max_events: 10, max_wait: 1m}}"
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock):
        ids = ("a1", "a2", "a3")
        await send_lines(short_dir / "s.sock", [event_line("o", id=i, data={"order_id": "A"}) for i in ids])
        await wait_until(lambda: clock.waiting() > 0)
        assert receiver.requests == []
        clock.advance(60.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(3,)])
    batches = [[item["id"] for item in r.json()] for r in receiver.at("/b")]  # type: ignore[union-attr]
    assert batches == [["a1"], ["a2"], ["a3"]]
