"""Alerts are rate-limited per hook and type on the Clock, survive a store error by logging, and the
ones raised while hookd stops are still stored."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from hookd import alerts as alerts_module
from hookd.alerts import AlertLimiter, Alerts, event_type_of
from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.events import event_from_object, utc_now_rfc3339
from hookd.sources.base import Accepted, Batch
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config


def hooks(receiver: Receiver) -> str:
    return (
        f'  - {{name: orders, events: ["order.*"], url: "{receiver.url("/orders")}"}}\n'
        f'          - {{name: ops, events: ["hookd.*"], url: "{receiver.url("/ops")}"}}'
    )


def alerts_at(receiver: Receiver) -> list[dict[str, object]]:
    return [orjson.loads(r.body) for r in receiver.at("/ops")]


async def test_at_most_five_alerts_per_hook_and_type_a_minute_and_the_next_counts_the_rest(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """1. A daemon on a ManualClock; hook orders fails every delivery for good (400); hook ops hears hookd.*.
    2. Seven events, at one moment of the clock.
    3. A breaker.opened alert about orders (the entry point the lane events use).
    4. The clock moves on a minute; a hook.paused alert, then one more event.
    Result: (2) ops gets five hookd.delivery.failed alerts, dated by the clock, each with suppressed 0;
    the other two are left out with one log line. (3) arrives: another type has its own budget. (4)
    the paused alert does not count as input in status (last event); the failed alert says
    suppressed: 2."""
    receiver.default["/orders"] = Reply(status=400)
    clock = ManualClock()
    db = short_dir / "hookd.db"
    caplog.set_level(logging.WARNING, logger="hookd.alerts")
    async with running_daemon(basic_config(short_dir, receiver, hooks(receiver)), clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"o{i}") for i in range(7)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'orders' AND state = 'failed'",
                      lambda r: r == [(7,)])  # fmt: skip
        await wait_until(lambda: daemon.alerts.suppressed_total == 2)
        await receiver.wait_count(5, "/ops")
        daemon.alerts.emit("hookd.breaker.opened", "orders", {"reason": "10 failures in a row (HTTP 400)"})
        await receiver.wait_count(6, "/ops")

        clock.advance(60.0)
        daemon.alerts.emit("hookd.hook.paused", "orders", {"reason": "paused by an operator"})
        await receiver.wait_count(7, "/ops")
        assert daemon.ingest.last_event_at == 1_800_000_000.0  # a producer's last event, not the alert
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="o7")])
        await receiver.wait_count(8, "/ops")
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'ops' AND state = 'delivered'",
                      lambda r: r == [(8,)])  # fmt: skip
    bodies = alerts_at(receiver)
    failed = [b for b in bodies if b["type"] == "hookd.delivery.failed"]
    assert len(failed) == 6
    assert [b["data"]["suppressed"] for b in failed] == [0, 0, 0, 0, 0, 2]  # type: ignore[index]
    assert failed[-1]["data"]["event_id"] == "o7"  # type: ignore[index]
    assert {b["time"] for b in failed[:5]} == {utc_now_rfc3339(1_800_000_000.0)}
    [breaker] = [b for b in bodies if b["type"] == "hookd.breaker.opened"]
    assert breaker["data"] == {"hook": "orders", "reason": "10 failures in a row (HTTP 400)", "suppressed": 0}
    said = [r.getMessage() for r in caplog.records if r.name == "hookd.alerts"]
    assert len(said) == 1 and "hook=orders type=hookd.delivery.failed" in said[0]
    assert "more than 5 of this type about this hook within 60s" in said[0]


def test_the_limiter_opens_a_new_window_a_minute_after_the_last_one_started() -> None:
    limiter = AlertLimiter(per_window=2, window_s=60.0)
    assert [limiter.admit("h", "t", 0.0), limiter.admit("h", "t", 1.0), limiter.admit("h", "t", 2.0)] == [0, 0, None]
    assert limiter.admit("other", "t", 2.0) == 0  # per hook
    assert limiter.admit("h", "t2", 2.0) == 0  # per type
    assert limiter.admit("h", "t", 59.9) is None
    assert limiter.admit("h", "t", 60.0) == 2  # a new window; the two left out are counted once
    assert limiter.admit("h", "t", 61.0) == 0


async def test_a_store_error_loses_only_that_commit_s_alerts_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """A submit that fails (the store refused the commit): each alert is logged with its data and
    counted as lost; the next alerts go through."""
    clock = ManualClock()
    alerts = Alerts(clock, listening=True)
    got: list[Batch] = []

    async def failing(batch: Batch) -> list[Accepted]:
        raise OSError("disk I/O error")

    async def working(batch: Batch) -> list[Accepted]:
        got.append(batch)
        return []

    alerts.emit("hookd.hook.paused", "orders", {"reason": "the receiver answered 410 Gone"})
    with caplog.at_level(logging.ERROR, logger="hookd.alerts"):
        await alerts.flush(failing)
    assert alerts.lost_total == 1 and alerts.queued == 0
    [line] = [r.getMessage() for r in caplog.records if r.name == "hookd.alerts"]
    assert "type=hookd.hook.paused hook=orders" in line and "disk I/O error" in line and "410 Gone" in line
    alerts.emit("hookd.hook.resumed", "orders", {"reason": "resumed by an operator"})
    await alerts.flush(working)
    assert [(b.source, [e.type for e in b.events]) for b in got] == [("hookd", ["hookd.hook.resumed"])]


def test_alerts_without_a_listening_hook_and_the_loop_guard_make_nothing() -> None:
    clock = ManualClock()
    quiet = Alerts(clock, listening=False)
    quiet.emit("hookd.hook.paused", "h", {"reason": "x"})
    assert quiet.queued == 0 and quiet.emitted_total == 0
    alerts = Alerts(clock, listening=True)
    common = {"hook": "ops", "delivery_id": "d", "event_id": "e", "attempts": 1, "last_status": 400, "error": "x"}
    alerts.delivery_failed(event_type="hookd.delivery.failed", **common)  # type: ignore[arg-type]
    assert alerts.queued == 0
    alerts.delivery_failed(event_type="order.created", **common)  # type: ignore[arg-type]
    assert alerts.queued == 1
    with pytest.raises(ValueError, match="unknown alert type"):
        alerts.emit("hookd.nope", "h", {})


def test_the_event_type_is_read_from_the_stored_envelope() -> None:
    for value in (
        {"type": 'a "quoted" \\ type', "id": 'i"d', "data": {"x": [1, 2]}},
        {"specversion": "1.0", "id": "c1", "source": "/s", "type": "cloud.t", "subject": "s"},
    ):
        event = event_from_object(value)
        assert event_type_of(event.body) == value["type"]
    assert event_type_of(b'{"data": 1, "type": "late.key"}') == "late.key"  # not hookd's layout: parsed
    assert event_type_of(b"not json") is None


async def test_alerts_raised_after_ingest_stopped_are_stored_for_the_next_start(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook orders's receiver holds its answer (then 400); hook ops hears hookd.*. 2. One event;
    its request is in flight. 3. The daemon stops; once ingest has made its last commit, the receiver
    answers 400. Result: the alert raised by that last attempt is stored (one more commit after the
    in-flight attempts finished), with its delivery to ops pending for the next start."""
    hold = asyncio.Event()
    receiver.on("/orders", Reply(status=400, hold=hold))
    settings = load_config(basic_config(short_dir, receiver, hooks(receiver)))
    db = short_dir / "hookd.db"
    daemon = Daemon(settings, clock=ManualClock())
    await daemon.start()
    try:
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="o1")])
        await wait_until(lambda: receiver.open["/orders"] == 1)
        daemon.request_stop()
        stopping = asyncio.create_task(daemon.stop())
        await wait_until(lambda: daemon._ingest_task is None)
        hold.set()
        await stopping
    finally:
        hold.set()
        await daemon.stop()
    assert db_rows(db, "SELECT type, source FROM events WHERE source = 'hookd'") == [("hookd.delivery.failed", "hookd")]
    assert db_rows(db, "SELECT hook, state, attempts FROM deliveries ORDER BY hook") == [
        ("ops", "pending", 0),
        ("orders", "failed", 1),
    ]
    assert not receiver.at("/ops")


def test_the_limiters_windows_stay_bounded_when_none_has_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows are counted per destination too (the producer picks the host): 200 new ones within one
    window, none ended, never hold more than MAX_WINDOWS; each new one is admitted."""
    monkeypatch.setattr(alerts_module, "MAX_WINDOWS", 10)
    limiter = AlertLimiter()
    sizes = []
    for i in range(200):
        assert limiter.admit(f"h\x00host{i}", "hookd.breaker.opened", 0.0) == 0
        sizes.append(len(limiter._windows))
    assert max(sizes) == 10
