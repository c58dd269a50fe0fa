"""Gates per destination host (issue 21): a hook whose url host is templated keeps its receiver's pause,
breaker and rate limit per destination, so one tenant's dead endpoint does not pause or slow the others.
A running daemon on a ManualClock, two tenants of one hook: two real receivers on 127.0.0.1, told apart
by the templated port (`localhost:PORT`, in allow_hosts)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookd import client
from hookd.breaker import Breaker
from hookd.daemon import Daemon
from hookd.store.base import PARK_OFFSET_S
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    idle,
    running_daemon,
    send_lines,
    serving_receiver,
    socket_config,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_h21_pause_cli import listed

ROWS = "SELECT event_id, state, attempts FROM deliveries WHERE hook = 'shops' AND destination = ? ORDER BY event_id"
PARKED = "SELECT count(*) FROM deliveries WHERE hook = 'shops' AND destination = ? AND next_at >= ?"


@pytest.fixture
async def tenant_b() -> AsyncIterator[Receiver]:
    async with serving_receiver() as rec:
        yield rec


def port(r: Receiver) -> int:
    assert r.server is not None and r.server.port is not None
    return r.server.port


def shops_config(d: Path, extra: str) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: shops
            events: ["*"]
            url: "http://{{{{ data.host }}}}:{{{{ data.port }}}}/shop"
            allow_hosts: [localhost]
            allow_destinations: [127.0.0.0/8]
            concurrency: 1
            retry: {{schedule: [1s, 1s, 1s, 1s, 1s, 1s, 1s, 1s], jitter: false}}
{extra}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )


def events(a: Receiver, b: Receiver, names: list[str]) -> list[bytes]:
    """An event per name: `a…` to tenant a's receiver, `b…` to tenant b's."""
    return [
        event_line("order.created", id=n, data={"host": "localhost", "port": port(a if n[0] == "a" else b)})
        for n in names
    ]


def heard(daemon: Daemon) -> list[tuple[str, str, str, str]]:
    got: list[tuple[str, str, str, str]] = []
    daemon.dispatcher.on_destination_event = lambda kind, hook, reason, host: got.append((kind, hook, reason, host))
    return got


async def test_a_410_pauses_one_destination_which_a_restart_keeps_and_resume_lifts(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops (templated host and port); tenant a answers its first request 410, tenant b 200.
    2. Events a1 b1 a2 b2 a3 b3. 3. The daemon restarts; b4 comes. 4. `hooks resume shops --destination
    localhost:A`.
    Result: (2) a1's 410 pauses destination localhost:A only: a1 waits (its attempt counted), a2 and a3
    wait parked with no attempt; b1..b3 are delivered. hooks list shows the destination paused by the
    receiver with the reason, status is degraded naming hook and host, the alert hears hook.paused with
    the destination. (3) the pause is restored: b4 is delivered, tenant a gets nothing. (4) a1..a3 are
    delivered; the alert hears hook.resumed with the destination."""
    a, b = receiver, tenant_b
    a.on("/shop", Reply(status=410))
    cfg = shops_config(short_dir, "")
    db = short_dir / "hookd.db"
    host_a, host_b = f"localhost:{port(a)}", f"localhost:{port(b)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        told = heard(daemon)
        assert daemon.admin_url is not None
        acks = await send_lines(short_dir / "s.sock", events(a, b, ["a1", "b1", "a2", "b2", "a3", "b3"]))
        assert all(x["ok"] for x in acks)
        await wait_db(db, ROWS.replace("?", f"'{host_b}'"), lambda r: [s for _, s, _ in r] == ["delivered"] * 3)
        await wait_db(
            db,
            ROWS.replace("?", f"'{host_a}'"),
            lambda r: r == [("a1", "pending", 1), ("a2", "pending", 0), ("a3", "pending", 0)],
        )
        await wait_db(db, PARKED.replace("?", f"'{host_a}'", 1).replace("?", str(PARK_OFFSET_S)), lambda r: r == [(3,)])
        assert len(a.at("/shop")) == 1
        reason = "the receiver answered 410 Gone (on_gone: pause)"
        assert told == [("hook.paused", "shops", reason, host_a)]

        listing = listed((await hookd("hooks", "list", "-c", str(cfg), "--json")).output)["shops"]
        assert listing["state"] == "active"
        assert listing["destinations"] == [
            {
                "destination": host_a,
                "state": "paused",
                "paused": {"by": "receiver", "reason": reason, "at": listing["destinations"][0]["paused"]["at"]},
                "parked": 3,
                "last_success_at": None,
                "last_failure_at": None,
            }  # type: ignore[index]
        ]
        table = plain((await hookd("hooks", "list", "-c", str(cfg))).output)
        assert f"shops → {host_a}" in table and "by the receiver" in table
        status = await client.fetch_status(daemon.admin_url, token=None)
        health = status["health"]
        assert isinstance(health, dict) and health["status"] == "degraded"
        assert any(f"hook 'shops': its destination {host_a} is paused by the receiver" in r for r in health["reasons"])

    clock2 = ManualClock(clock.now())
    async with running_daemon(cfg, clock=clock2) as daemon:
        told = heard(daemon)
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["b4"])))
        await wait_db(db, ROWS.replace("?", f"'{host_b}'"), lambda r: len(r) == 4 and r[3][1] == "delivered")
        await idle(clock2)
        assert len(a.at("/shop")) == 1
        assert db_rows(db, ROWS, (host_a,)) == [("a1", "pending", 1), ("a2", "pending", 0), ("a3", "pending", 0)]

        resumed = await hookd("hooks", "resume", "shops", "--destination", host_a, "-c", str(cfg))
        assert resumed.exit_code == 0, resumed.output
        assert f"resumed shops → {host_a} (paused by the receiver" in plain(resumed.output)
        assert daemon.admin_url is not None  # what the command does when the config names a fixed port
        assert await client.refresh_hooks(daemon.admin_url, token=None, timeout_s=5.0)
        rows = await wait_db(db, ROWS.replace("?", f"'{host_a}'"), lambda r: all(s == "delivered" for _, s, _ in r))
        assert rows == [("a1", "delivered", 2), ("a2", "delivered", 1), ("a3", "delivered", 1)]
        assert told == [("hook.resumed", "shops", "resumed with hookd hooks resume", host_a)]
    assert db_rows(db, "SELECT count(*) FROM destination_state") == [(0,)]


async def test_a_failing_destination_opens_its_own_breaker(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Hook shops with breaker {failures: 2, cooldown: 30s}; tenant a answers 503 three times, then
    200; tenant b 200. 2. Events a1 a2 a3 b1. 3. b2 comes. 4. The clock moves 30s. 5. 30s more.
    Result: (2) two failures open a's breaker: a3 waits with no attempt, b1 is delivered. (3) b2 is
    delivered while a's breaker is open. (4) one delivery of a probes and fails: open again. (5) the
    next probe is answered: a's breaker closes and a1..a3 are delivered (six requests in all). Log lines and the alerts
    name the destination; the hook-level breaker state is untouched."""
    caplog.set_level(logging.INFO, logger="hookd.dispatcher")
    a, b = receiver, tenant_b
    a.on("/shop", *[Reply(status=503)] * 3)
    cfg = shops_config(short_dir, "            breaker: {failures: 2, cooldown: 30s}")
    db = short_dir / "hookd.db"
    host_a, host_b = f"localhost:{port(a)}", f"localhost:{port(b)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        told = heard(daemon)
        lane = daemon.dispatcher.lanes["shops"]
        assert lane.breaker is None and lane.destinations is not None
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a1", "a2", "a3", "b1"])))
        await wait_db(db, ROWS.replace("?", f"'{host_b}'"), lambda r: r == [("b1", "delivered", 1)])
        await wait_db(
            db,
            ROWS.replace("?", f"'{host_a}'"),
            lambda r: r == [("a1", "pending", 1), ("a2", "pending", 1), ("a3", "pending", 0)],
        )
        breaker = lane.destinations.get(host_a).breaker
        assert breaker is not None and breaker.state == "open"
        assert len(a.at("/shop")) == 2

        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["b2"])))
        await wait_db(db, ROWS.replace("?", f"'{host_b}'"), lambda r: len(r) == 2 and r[1][1] == "delivered")
        clock.advance(1.0)  # a1's and a2's retries fall due: parked, not sent
        await idle(clock)
        assert len(a.at("/shop")) == 2

        clock.advance(29.0)
        await a.wait_count(3, "/shop")
        await wait_until_reopened(breaker, clock)
        clock.advance(30.0)
        rows = await wait_db(db, ROWS.replace("?", f"'{host_a}'"), lambda r: all(s == "delivered" for _, s, _ in r))
        assert breaker.state == "closed"
    # a3 probed first (due longest: a1's and a2's retries were due a second later) and failed: each
    # delivery spent one failed attempt and one answered, none while the breaker was open.
    assert rows == [("a1", "delivered", 2), ("a2", "delivered", 2), ("a3", "delivered", 2)]
    assert len(a.at("/shop")) == 6
    assert [(k, h) for k, _, _, h in told] == [("breaker.opened", host_a), ("breaker.closed", host_a)]
    lines = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    assert lines and all(f"destination={host_a}" in line for line in lines)
    assert db_rows(db, "SELECT breaker FROM hook_state WHERE hook = 'shops'") in ([], [(None,)])


async def wait_until_reopened(breaker: object, clock: ManualClock) -> None:
    assert isinstance(breaker, Breaker)
    await wait_until(lambda: breaker.state == "open" and breaker.since == clock.now())
    assert breaker.reason == "the probe failed: HTTP 503"


async def test_each_destination_has_its_own_rate_limit(short_dir: Path, receiver: Receiver, tenant_b: Receiver) -> None:
    """1. Hook shops with rate_limit 1/min (burst 1), tenants a and b answer 200. 2. Events a1 a2 a3 b1
    b2 b3. 3. The clock moves a minute. 4. Another.
    Result: (2) one request to each tenant (not one in all: the limit is per destination); the rest
    wait, spending no attempt. (3) one more to each. (4) the last of each."""
    a, b = receiver, tenant_b
    cfg = shops_config(short_dir, "            rate_limit: 1/min")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert daemon.dispatcher.lanes["shops"].bucket is None
        names = ["a1", "a2", "a3", "b1", "b2", "b3"]
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, names)))
        for n in (1, 2, 3):
            await a.wait_count(n, "/shop")
            await b.wait_count(n, "/shop")
            await wait_db(
                db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r, n=n: r == [(2 * n,)]
            )
            await idle(clock)
            assert (len(a.at("/shop")), len(b.at("/shop"))) == (n, n)
            waiting = db_rows(db, "SELECT attempts FROM deliveries WHERE state = 'pending'")
            assert waiting == [(0,)] * (6 - 2 * n)
            clock.advance(60.0)


async def test_disable_after_pauses_the_failing_destination_only(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops with breaker {failures: 1, cooldown: 1m, disable_after: 2m}; tenant a answers 503,
    tenant b 200. 2. Event a1. 3. The clock moves a minute twice (a probe fails each time). 4. b1 comes.
    Result: (3) after two minutes of failing, destination a is paused by disable_after, stored with
    the reason, the hook itself not paused; (4) b1 is delivered."""
    a, b = receiver, tenant_b
    a.default["/shop"] = Reply(status=503)
    cfg = shops_config(short_dir, "            breaker: {failures: 1, cooldown: 1m, disable_after: 2m}")
    db = short_dir / "hookd.db"
    host_a, host_b = f"localhost:{port(a)}", f"localhost:{port(b)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        told = heard(daemon)
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a1"])))
        await a.wait_count(1, "/shop")
        dests = daemon.dispatcher.lanes["shops"].destinations
        assert dests is not None
        breaker = dests.get(host_a).breaker
        assert breaker is not None
        for n in (2, 3):
            # Opened (again) by the last failure, now: its cooldown runs from here.
            await wait_until(lambda: breaker.state == "open" and breaker.since == clock.now())
            await idle(clock)
            clock.advance(60.0)
            await a.wait_count(n, "/shop")
        stored = await wait_db(db, "SELECT destination, paused_by, paused_reason FROM destination_state", bool)
        assert stored[0][:2] == (host_a, "disable_after")
        assert "breaker.disable_after: 2m" in str(stored[0][2])
        assert daemon.dispatcher.lanes["shops"].paused is None
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["b1"])))
        await wait_db(db, ROWS.replace("?", f"'{host_b}'"), lambda r: r == [("b1", "delivered", 1)])
    assert [k for k, _, _, h in told if h == host_a] == ["breaker.opened", "hook.paused"]
