"""Lane changes as alerts: a receiver's pause, a resume and the breaker opening reach a hook that
listens to hookd.* as events; a pause made while the daemon was stopped is raised at its start, once."""

from __future__ import annotations

from pathlib import Path

from hookd import client
from tests.cli_helpers import hookd
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_until,
)
from tests.manual_clock import ManualClock


def alerting_config(d: Path, receiver: Receiver, h: str = "") -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - {{name: h, events: ["order.*"], url: "{receiver.url("/h")}", concurrency: 1{h}}}
          - {{name: ops, events: ["hookd.hook.*", "hookd.breaker.*"], url: "{receiver.url("/ops")}"}}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )


def alerts_at(receiver: Receiver) -> list[tuple[object, object, object]]:
    got = []
    for r in receiver.at("/ops"):
        body = r.json()
        assert isinstance(body, dict) and isinstance(body["data"], dict)
        got.append((body["type"], body["data"]["hook"], body["data"]["reason"]))
    return got


async def test_a_receivers_pause_and_the_resume_are_alerts(short_dir: Path, receiver: Receiver) -> None:
    """1. h's receiver answers 410; ops listens to hookd.hook.* and hookd.breaker.*. 2. One event.
    3. `hookd hooks resume h` and the admin refresh.
    Result: ops gets hookd.hook.paused about h with the receiver's reason, then hookd.hook.resumed."""
    receiver.on("/h", Reply(status=410))
    cfg = alerting_config(short_dir, receiver)
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert daemon.admin_url is not None
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await receiver.wait_count(1, "/ops")
        assert alerts_at(receiver) == [("hookd.hook.paused", "h", "the receiver answered 410 Gone (on_gone: pause)")]
        assert (await hookd("hooks", "resume", "h", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        await receiver.wait_count(2, "/ops")
        await receiver.wait_count(2, "/h")  # e1 again, delivered after the resume
    assert alerts_at(receiver)[1] == ("hookd.hook.resumed", "h", "resumed with hookd hooks resume")


async def test_a_pause_made_while_stopped_is_raised_at_start_once(short_dir: Path, receiver: Receiver) -> None:
    """1. `hookd hooks pause h` with no daemon running. 2. A daemon starts; one event. 3. It stops and
    another starts on the same database.
    Result: (2) h stays paused (its delivery waits) and ops gets hookd.hook.paused about h with the
    operator's reason: the command could not tell a stopped daemon, so the pause is stored unannounced
    and the daemon raises it at start and marks it told. (3) the pause is restored, not news: no second
    alert."""
    cfg = alerting_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()):
        pass  # creates the database
    assert (await hookd("hooks", "pause", "h", "--reason", "maintenance", "-c", str(cfg))).exit_code == 0
    assert db_rows(db, "SELECT pause_announced FROM hook_state WHERE hook = 'h'") == [(0,)]
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await wait_until(lambda: daemon.dispatcher.lanes["h"].paused is not None)
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await wait_until(lambda: bool(db_rows(db, "SELECT 1 FROM deliveries WHERE hook = 'h'")))
        await receiver.wait_count(1, "/ops")
    assert alerts_at(receiver) == [("hookd.hook.paused", "h", "maintenance")]
    assert db_rows(db, "SELECT pause_announced FROM hook_state WHERE hook = 'h'") == [(1,)]
    assert db_rows(db, "SELECT state, attempts FROM deliveries WHERE hook = 'h'") == [("pending", 0)]
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await wait_until(lambda: daemon.dispatcher.lanes["h"].paused is not None)
    assert db_rows(db, "SELECT count(*) FROM events WHERE type LIKE 'hookd.%'") == [(1,)]
    assert len(receiver.at("/ops")) == 1


async def test_the_breaker_opening_is_an_alert(short_dir: Path, receiver: Receiver) -> None:
    """1. h has breaker {failures: 2, cooldown: 30s} and a receiver answering 503. 2. Two events.
    Result: after two failures in a row, ops gets hookd.breaker.opened about h, with the reason."""
    receiver.default["/h"] = Reply(status=503)
    cfg = alerting_config(
        short_dir, receiver, ", retry: {schedule: [1s, 1s], jitter: false}, breaker: {failures: 2, cooldown: 30s}"
    )
    async with running_daemon(cfg, clock=ManualClock()):
        events = [event_line("order.created", id=f"e{i}") for i in (1, 2)]
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", events))
        await receiver.wait_count(1, "/ops")
    [(kind, hook, reason)] = alerts_at(receiver)
    assert (kind, hook) == ("hookd.breaker.opened", "h")
    assert isinstance(reason, str) and "503" in reason


async def test_a_resume_made_while_stopped_is_raised_at_start_once(short_dir: Path, receiver: Receiver) -> None:
    """1. h's receiver answers 410: h is paused (ops hears it). 2. The daemon stops; `hookd hooks resume
    h`. 3. A daemon starts. 4. It stops and another starts.
    Result: (3) ops gets hookd.hook.resumed about h, saying it was resumed while hookd was stopped, and
    e1 is delivered; (4) no second alert: the resume is marked told."""
    receiver.on("/h", Reply(status=410))
    cfg = alerting_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await receiver.wait_count(1, "/ops")
    assert (await hookd("hooks", "resume", "h", "-c", str(cfg))).exit_code == 0
    async with running_daemon(cfg, clock=ManualClock()):
        await receiver.wait_count(2, "/ops")
        await receiver.wait_count(2, "/h")
    assert alerts_at(receiver)[1] == (
        "hookd.hook.resumed",
        "h",
        "resumed with hookd hooks resume while hookd was stopped",
    )
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await wait_until(lambda: daemon.dispatcher._states_read)
    assert len(receiver.at("/ops")) == 2
    assert db_rows(db, "SELECT pause_announced FROM hook_state WHERE hook = 'h'") == [(1,)]


async def test_a_breaker_open_at_a_stop_is_told_closed_at_the_next_start(short_dir: Path, receiver: Receiver) -> None:
    """1. h has breaker {failures: 2, cooldown: 30s}; its receiver answers 503: the breaker opens (ops
    hears it). 2. The daemon stops; another starts (breakers start closed).
    Result: ops hears hookd.breaker.closed about h, saying hookd restarted, so an alert hook does not go
    on showing it open."""
    receiver.default["/h"] = Reply(status=503)
    cfg = alerting_config(
        short_dir, receiver, ", retry: {schedule: [1s, 1s], jitter: false}, breaker: {failures: 2, cooldown: 30s}"
    )
    async with running_daemon(cfg, clock=ManualClock()):
        events = [event_line("order.created", id=f"e{i}") for i in (1, 2)]
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", events))
        await receiver.wait_count(1, "/ops")
    async with running_daemon(cfg, clock=ManualClock()):
        await receiver.wait_count(2, "/ops")
    assert alerts_at(receiver)[1] == ("hookd.breaker.closed", "h", "hookd restarted; a circuit breaker starts closed")


async def test_a_destination_paused_while_stopped_is_raised_at_start_once(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook shops has a templated url host; ops listens to hookd.hook.*. 2. With no daemon running,
    `hookd hooks pause shops --destination eu.shop.example`. 3. A daemon starts. 4. Another starts.
    Result: (3) ops gets hookd.hook.paused about shops naming the destination, with the operator's
    reason; (4) no second alert."""
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - name: shops
            events: ["order.*"]
            url: "https://{{{{ data.tenant }}}}.shop.example/hook"
            allow_hosts: ["*.shop.example"]
          - {{name: ops, events: ["hookd.hook.*"], url: "{receiver.url("/ops")}"}}
        """,
    )
    db = short_dir / "hookd.db"
    paused = await hookd(
        "hooks", "pause", "shops", "--destination", "eu.shop.example", "--reason", "move", "-c", str(cfg)
    )
    assert paused.exit_code == 0, paused.output
    async with running_daemon(cfg, clock=ManualClock()):
        await receiver.wait_count(1, "/ops")
    [alert] = [r.json() for r in receiver.at("/ops")]
    assert isinstance(alert, dict) and alert["type"] == "hookd.hook.paused"
    assert alert["data"]["destination"] == "eu.shop.example" and alert["data"]["reason"] == "move"
    assert db_rows(db, "SELECT pause_announced FROM destination_state") == [(1,)]
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await wait_until(lambda: daemon.dispatcher._states_read)
    assert len(receiver.at("/ops")) == 1


async def test_a_pause_and_resume_both_made_while_stopped_raise_nothing(short_dir: Path, receiver: Receiver) -> None:
    """`hookd hooks pause h`, then `hookd hooks resume h`, both while no daemon runs; then a daemon
    starts. Result: no alert at all: neither was told, so a resume alone would be one without its pause."""
    cfg = alerting_config(short_dir, receiver)
    async with running_daemon(cfg, clock=ManualClock()):
        pass  # creates the database
    assert (await hookd("hooks", "pause", "h", "-c", str(cfg))).exit_code == 0
    assert (await hookd("hooks", "resume", "h", "-c", str(cfg))).exit_code == 0
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await wait_until(lambda: daemon.dispatcher._states_read)
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await receiver.wait_count(1, "/h")
    assert receiver.at("/ops") == []
