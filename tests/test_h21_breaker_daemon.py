"""The circuit breaker in a running daemon on a ManualClock, with a real receiver that fails and
then recovers (issue 21): it opens, probes, closes; waiting deliveries spend no attempt while it is
open; disable_after pauses a hook that keeps failing; every change is logged, stored for `hookd
hooks list`, shown by `hookd status`, and told to Dispatcher.on_lane_event."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hookd import client
from hookd.daemon import Daemon
from hookd.store.base import BreakerRecord
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    idle,
    open_store,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_h21_pause_cli import listed

H = "SELECT event_id, state, attempts FROM deliveries WHERE hook = 'h' ORDER BY event_id"
BREAKER = "SELECT breaker, breaker_reason FROM hook_state WHERE hook = 'h'"


def breaker_config(d: Path, receiver: Receiver, breaker: str) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: h
            events: ["*"]
            url: "{receiver.url("/h")}"
            concurrency: 1
            retry: {{schedule: [1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s], jitter: false}}
            breaker: {breaker}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )


def told(daemon: Daemon) -> list[tuple[str, str, str]]:
    events: list[tuple[str, str, str]] = []
    daemon.dispatcher.on_lane_event = lambda kind, hook, reason: events.append((kind, hook, reason))
    return events


async def test_the_breaker_opens_probes_and_closes(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Hook h (concurrency 1, breaker {failures: 3, cooldown: 30s}); its receiver answers 503 four
    times, then 200. 2. Five events. 3. The clock moves 29s, then 1s more. 4. 30s more.
    Result: (2) three requests fail and the breaker opens: e4 (claimed behind e3) goes back with its
    attempt given back, e4 and e5 wait with none; hooks list and status say open with the reason,
    health degraded. (3) nothing is sent before the cooldown ends; then one delivery probes (e4, the
    longest due), gets the fourth 503, and the breaker opens again. (4) the next probe is answered
    200: the breaker closes and every delivery is delivered; nothing spent an attempt while it was
    open. Each change was one log line naming the hook; on_lane_event heard opened, then closed."""
    caplog.set_level(logging.INFO, logger="hookd.dispatcher")
    receiver.on("/h", *[Reply(status=503)] * 4)
    cfg = breaker_config(short_dir, receiver, "{failures: 3, cooldown: 30s}")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert daemon.admin_url is not None
        events = told(daemon)
        breaker = daemon.dispatcher.lanes["h"].breaker
        assert breaker is not None
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in range(1, 6)])
        assert all(a["ok"] for a in acks)
        opened = [("e1", "pending", 1), ("e2", "pending", 1), ("e3", "pending", 1), ("e4", "pending", 0),
                  ("e5", "pending", 0)]  # fmt: skip
        await wait_db(db, H, lambda r: r == opened)
        reason = "3 retryable failures in a row, the last: HTTP 503"
        await wait_db(db, BREAKER, lambda r: r == [("open", reason)])
        assert len(receiver.at("/h")) == 3

        hooks = listed((await hookd("hooks", "list", "-c", str(cfg), "--json")).output)
        assert hooks["h"]["state"] == "open" and hooks["h"]["backlog"] == 5
        record = hooks["h"]["breaker"]
        assert isinstance(record, dict) and record["reason"] == reason and record["probe_at"] is not None
        assert f"by the circuit breaker: {reason}" in plain((await hookd("hooks", "list", "-c", str(cfg))).output)
        status = await client.fetch_status(daemon.admin_url, token=None)
        [state] = [h["state"] for h in status["hooks"] if h["name"] == "h"]  # type: ignore[union-attr]
        assert (state["state"], state["by"], state["reason"]) == ("open", "breaker", reason)
        health = status["health"]
        assert isinstance(health, dict) and health["status"] == "degraded"
        assert any(r.startswith(f"hook 'h': its circuit breaker is open since {state['since']} ({reason})")
                   for r in health["reasons"])  # fmt: skip

        clock.advance(29.0)
        await idle(clock)
        assert len(receiver.at("/h")) == 3
        clock.advance(1.0)
        await receiver.wait_count(4, "/h")
        await wait_until(lambda: breaker.state == "open" and breaker.since == clock.now())
        assert breaker.reason == "the probe failed: HTTP 503"
        assert db_rows(db, H)[3] == ("e4", "pending", 1)
        assert db_rows(db, BREAKER) == [("open", "the probe failed: HTTP 503")]

        clock.advance(30.0)
        rows = await wait_db(db, H, lambda r: all(state == "delivered" for _, state, _ in r))
        assert breaker.state == "closed"
        await wait_db(db, BREAKER, lambda r: r == [(None, None)])
    assert rows == [("e1", "delivered", 2), ("e2", "delivered", 2), ("e3", "delivered", 2), ("e4", "delivered", 2),
                    ("e5", "delivered", 1)]  # fmt: skip
    assert len(receiver.at("/h")) == 9
    assert [(kind, hook) for kind, hook, _ in events] == [("breaker.opened", "h"), ("breaker.closed", "h")]
    changes = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert len(changes) == 5  # opened, half-open, opened again, half-open, closed
    assert all("hook=h" in line and "reason=" in line for line in changes)


async def test_disable_after_pauses_a_hook_that_keeps_failing(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h with breaker {failures: 2, cooldown: 1m, disable_after: 3m}; its receiver answers 503.
    2. Two events: the breaker opens. 3. The clock moves a minute three times: each probe fails.
    4. A minute more. 5. The receiver recovers; `hooks resume h`.
    Result: (3) the third failed probe, three minutes after the first failure, pauses the hook by
    disable_after with the reason (stored, health degraded, on_lane_event told). (4) a paused hook
    does not probe. (5) it probes at once, the breaker closes and both deliveries are delivered."""
    receiver.default["/h"] = Reply(status=503)
    cfg = breaker_config(short_dir, receiver, "{failures: 2, cooldown: 1m, disable_after: 3m}")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert daemon.admin_url is not None
        events = told(daemon)
        lane = daemon.dispatcher.lanes["h"]
        breaker = lane.breaker
        assert breaker is not None
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line(id="e1"), event_line(id="e2")]))
        await wait_until(lambda: breaker.state == "open")
        for probes in (3, 4, 5):
            clock.advance(60.0)
            await receiver.wait_count(probes, "/h")
            await wait_until(lambda: breaker.state == "open" and breaker.since == clock.now())
        await wait_until(lambda: lane.paused is not None)
        reason = "failing for 3m without a success (breaker.disable_after: 3m); the last error: HTTP 503"
        assert db_rows(db, "SELECT paused_by, paused_reason FROM hook_state WHERE hook = 'h'") == [
            ("disable_after", reason)
        ]
        status = await client.fetch_status(daemon.admin_url, token=None)
        health = status["health"]
        assert isinstance(health, dict)
        assert any(r.startswith("hook 'h' is paused by breaker.disable_after since") for r in health["reasons"])
        assert ("hook.paused", "h", reason) in events

        clock.advance(60.0)
        await idle(clock)
        assert len(receiver.at("/h")) == 5

        receiver.default["/h"] = Reply(status=200)
        assert (await hookd("hooks", "resume", "h", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        rows = await wait_db(db, H, lambda r: all(state == "delivered" for _, state, _ in r))
        assert breaker.state == "closed"
    assert [state for _, state, _ in rows] == ["delivered", "delivered"]
    assert [kind for kind, _, _ in events] == ["breaker.opened", "hook.paused", "hook.resumed", "breaker.closed"]


async def test_a_daemon_starts_with_its_breakers_closed(short_dir: Path, receiver: Receiver) -> None:
    """A breaker state a former run stored (for hooks list) is cleared at start; a pause is kept."""
    cfg = breaker_config(short_dir, receiver, "{}")
    db = short_dir / "hookd.db"
    async with open_store(db) as store:
        await store.set_breaker("h", BreakerRecord(state="open", reason="x", since=1.0, retry_at=31.0), 1.0)
    assert db_rows(db, BREAKER) == [("open", "x")]
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert db_rows(db, BREAKER) == [(None, None)]
        assert daemon.dispatcher.lanes["h"].breaker is not None
        assert daemon.dispatcher.lanes["h"].breaker.state == "closed"
