"""The admin listener in process: real HTTP requests to /healthz and /status of a running daemon."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import socket
from pathlib import Path

import aiohttp
import pytest

from hookd import __version__
from hookd.admin import AdminServer
from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.errors import StartupError
from tests.conftest import (
    Receiver,
    Reply,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_gone,
)

TOKEN = "admin-token-0123456789abcdef"


def admin_config(d: Path, receiver: Receiver, *, admin: str = '{listen: "127.0.0.1:0"}', bad_retry: str = "") -> Path:
    """Sources app (socket) and log (file); hook `good` takes every event, `bad` the order.* ones."""
    return socket_config(
        d,
        f"""
        hooks:
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
          - name: bad
            events: ["order.*"]
            url: {receiver.url("/bad")}
            retry: {bad_retry or "{max_attempts: 1}"}
        admin: {admin}
        """,
        tail_log=True,
    )


async def get(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object], dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as response:
        return response.status, await response.json(), dict(response.headers)


def by_name(items: object) -> dict[str, dict[str, object]]:
    assert isinstance(items, list)
    return {str(item["name"]): item for item in items}


async def test_status_reports_sources_hooks_and_health(short_dir: Path, receiver: Receiver) -> None:
    """1. Two lines wait in the tailed file; 2. three events come over the socket, one of them an
    order whose `bad` hook answers 400 (final after one attempt); 3. every delivery is recorded.
    Result: /healthz is ok; /status counts events per source, the file position, per-hook queues and
    totals, and says degraded because `bad` failed, quoting its error."""
    lines = event_line("user.created", id="f1") + b"\n" + event_line("user.created", id="f2") + b"\n"
    (short_dir / "events.jsonl").write_bytes(lines)
    receiver.default["/bad"] = Reply(status=400)
    cfg = admin_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None and daemon.admin_url.startswith("http://127.0.0.1:")
        assert not daemon.admin_url.endswith(":0")
        code, body, _ = await get(f"{daemon.admin_url}/healthz")
        assert (code, body) == (200, {"status": "ok"})

        acks = await send_lines(
            short_dir / "s.sock",
            [event_line("user.created", id="s1"), event_line("user.created", id="s2"), event_line(id="o1")],
        )
        assert all(a["ok"] for a in acks)
        await wait_db(
            db, "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')", lambda r: r[0][0] == 6
        )
        code, status, _ = await get(f"{daemon.admin_url}/status")

    assert code == 200
    assert status["version"] == __version__
    assert status["pid"] == os.getpid()
    assert status["ready"] is True
    assert isinstance(status["started_at"], str) and status["started_at"].endswith("Z")
    assert isinstance(status["uptime_s"], float) and status["uptime_s"] >= 0
    assert status["config"] == {"path": str(cfg), "sha256": hashlib.sha256(cfg.read_bytes()).hexdigest()}
    assert status["database"] == {"path": str(db)}
    assert status["admin"] == {"url": daemon.admin_url, "token_required": False}
    worker = status["delivery_worker"]
    assert worker["restarts"] == 0 and isinstance(worker["pid"], int) and worker["pid"] != os.getpid()

    sources = by_name(status["sources"])
    app, log = sources["app"], sources["log"]
    assert app["type"] == "socket" and app["addresses"] == [f"unix:{short_dir}/s.sock"]
    assert app["events_total"] == 3 and app["rejected_total"] == 0 and app["file"] is None
    assert isinstance(app["events_per_s"], float) and app["events_per_s"] > 0
    assert isinstance(app["last_event_at"], str)
    assert log["type"] == "file" and log["events_total"] == 2
    size = len(lines)
    assert log["file"] == {"path": str(short_dir / "events.jsonl"), "offset": size, "line": 2, "size": size}

    hooks = by_name(status["hooks"])
    assert list(hooks) == ["good", "bad"]
    good, bad = hooks["good"], hooks["bad"]
    assert {k: good[k] for k in ("pending", "retrying", "in_flight", "failed", "delivered_total", "failed_total")} == {
        "pending": 0,
        "retrying": 0,
        "in_flight": 0,
        "failed": 0,
        "delivered_total": 5,
        "failed_total": 0,
    }
    assert good["configured"] is True and good["last_error"] is None
    assert (bad["pending"], bad["failed"], bad["failed_total"], bad["delivered_total"]) == (0, 1, 1, 0)
    assert isinstance(bad["last_error"], str) and bad["last_error"].startswith("HTTP 400")

    totals = status["totals"]
    assert isinstance(totals, dict)
    assert (totals["events_total"], totals["delivered_total"], totals["failed_total"]) == (5, 5, 1)
    assert (totals["pending"], totals["failed"], totals["in_flight"]) == (0, 1, 0)

    health = status["health"]
    assert isinstance(health, dict) and health["status"] == "degraded"
    [reason] = health["reasons"]
    assert reason.startswith("hook 'bad': 1 delivery(ies) failed for good in the last 5 min (last error: HTTP 400")


async def test_retrying_deliveries_are_pending_and_degrade_health(short_dir: Path, receiver: Receiver) -> None:
    """1. `bad` answers 503 and retries only after an hour; 2. one order comes in and is attempted.
    Result: `bad` has 0 pending (not attempted yet, as history says), 1 retrying, nothing failed; health
    names the retry and the error."""
    receiver.default["/bad"] = Reply(status=503)
    cfg = admin_config(short_dir, receiver, bad_retry="{max_attempts: 5, initial_delay: 1h, jitter: false}")
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id="o1")])
        await wait_db(
            short_dir / "hookd.db",
            "SELECT count(*) FROM deliveries WHERE (hook = 'bad' AND state = 'pending' AND attempts = 1) "
            "OR (hook = 'good' AND state = 'delivered')",
            lambda r: r[0][0] == 2,
        )
        _, status, _ = await get(f"{daemon.admin_url}/status")
    bad = by_name(status["hooks"])["bad"]
    assert (bad["pending"], bad["retrying"], bad["failed"], bad["in_flight"]) == (0, 1, 0, 0)
    assert bad["last_error"] == "HTTP 503"
    health = status["health"]
    assert isinstance(health, dict) and health["status"] == "degraded"
    assert health["reasons"] == [
        "hook 'bad': 1 delivery(ies) waiting to retry after a failed attempt in the last 5 min (last error: HTTP 503)"
    ]


async def test_healthy_daemon_says_ok(short_dir: Path, receiver: Receiver) -> None:
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("user.created")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        _, status, _ = await get(f"{daemon.admin_url}/status")
    assert status["health"] == {"status": "ok", "reasons": []}
    assert by_name(status["sources"])["log"]["file"] == {
        "path": str(short_dir / "events.jsonl"),
        "offset": None,
        "line": None,
        "size": None,
    }


async def test_token_is_required_for_status_but_not_healthz(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    with caplog.at_level(logging.DEBUG, logger="hookd"):
        async with running_daemon(cfg) as daemon:
            url = f"{daemon.admin_url}/status"
            code, body, headers = await get(url)
            assert code == 401 and headers["WWW-Authenticate"] == 'Bearer realm="hookd"'
            assert "requires a token" in str(body["error"])
            assert (await get(url, headers={"Authorization": "Bearer wrong-token-0123456789abc"}))[0] == 401
            assert (await get(url, headers={"Authorization": TOKEN}))[0] == 401  # no scheme
            code, status, _ = await get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert code == 200 and status["admin"] == {"url": daemon.admin_url, "token_required": True}
            assert (await get(url, headers={"Authorization": f"bearer {TOKEN}"}))[0] == 200
            assert (await get(f"{daemon.admin_url}/healthz"))[:2] == (200, {"status": "ok"})
    assert TOKEN not in str(status) and TOKEN not in str(body)
    assert TOKEN not in caplog.text


async def test_ready_log_names_the_admin_url(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = admin_config(short_dir, receiver)
    with caplog.at_level(logging.INFO, logger="hookd"):
        async with running_daemon(cfg) as daemon:
            url = daemon.admin_url
    messages = [r.getMessage() for r in caplog.records]
    admin_at = messages.index(f"admin listening on {url}")
    [ready_at] = [i for i, m in enumerate(messages) if f"hookd {__version__} ready: " in m]
    assert admin_at < ready_at
    assert messages[ready_at].endswith(f", admin {url}")


async def test_admin_port_in_use_is_a_startup_error(short_dir: Path, receiver: Receiver) -> None:
    """1. Another socket listens on a port; 2. the daemon is configured to use it for admin.
    Result: StartupError naming the address and what to do; the sources were closed again."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:{port}"}}')
        daemon = Daemon(load_config(cfg))
        with pytest.raises(StartupError) as caught:
            await daemon.start()
    assert str(caught.value).startswith(f"admin listener: cannot listen on 127.0.0.1:{port}: ")
    assert "pick another port in admin.listen" in str(caught.value)
    assert not (short_dir / "s.sock").exists()
    assert daemon.admin_url is None and not daemon.ready.is_set()


async def test_no_admin_section_means_no_admin_listener(short_dir: Path, receiver: Receiver) -> None:
    cfg = socket_config(
        short_dir,
        f"""
        hooks: [{{name: h, events: ["*"], url: "{receiver.url("/h")}"}}]
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin is None and daemon.admin_url is None
        [ack] = await send_lines(short_dir / "s.sock", [event_line()])  # runs, and so closes, the source
        assert ack["ok"] is True


async def test_healthz_is_503_until_the_daemon_is_ready(short_dir: Path, receiver: Receiver) -> None:
    daemon = Daemon(load_config(admin_config(short_dir, receiver)))  # built, not started
    admin = AdminServer(daemon)
    await admin.start()
    try:
        assert admin.url is not None
        code, body, _ = await get(f"{admin.url}/healthz")
        assert (code, body) == (503, {"status": "starting"})
    finally:
        await admin.close()
        await admin.close()  # idempotent


async def test_a_failed_ingest_commit_is_reported_to_the_client_and_degrades_health(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. The daemon runs; 2. its database loses the `rejected` table under it (a broken store);
    3. a client sends a bad line and a good event in one batch.
    Result: nothing of the batch is acknowledged (the good event gets a "not stored" error naming
    the cause), the daemon keeps running, and /status says degraded with the reason."""
    import sqlite3

    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        conn = sqlite3.connect(short_dir / "hookd.db", timeout=0)
        try:
            async with asyncio.timeout(10):
                while True:  # the daemon's start-up transactions may hold the write lock for a moment
                    try:
                        conn.execute("DROP TABLE rejected")
                        break
                    except sqlite3.OperationalError as e:
                        assert "locked" in str(e)
                        await asyncio.sleep(0.02)
        finally:
            conn.close()
        replies = await send_lines(short_dir / "s.sock", [b"not json", event_line("user.created", id="lost-1")])
        assert replies[0]["ok"] is False and "invalid JSON" in str(replies[0]["error"])
        assert replies[1]["ok"] is False and replies[1]["id"] == "lost-1"
        assert "not stored" in str(replies[1]["error"]) and "rejected" in str(replies[1]["error"])
        _, status, _ = await get(f"{daemon.admin_url}/status")
        # The daemon still takes events that need no rejected row.
        assert await send_lines(short_dir / "s.sock", [event_line("user.created", id="kept-1")]) == [
            {"ok": True, "id": "kept-1"}
        ]
    health = status["health"]
    assert isinstance(health, dict) and health["status"] == "degraded"
    reasons = health["reasons"]
    assert isinstance(reasons, list)
    assert any("internal error(s) in the last 5 min" in r and "storing 1 event(s) failed" in r for r in reasons)


async def test_a_delivery_worker_that_died_is_replaced_and_degrades_health(short_dir: Path, receiver: Receiver) -> None:
    """kill -9 of the worker process: the daemon logs it, counts the restart once a new worker is
    needed, delivers the next event, and reports the death for the next 5 minutes."""
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        _, before, _ = await get(f"{daemon.admin_url}/status")
        first = before["delivery_worker"]
        assert isinstance(first, dict) and isinstance(first["pid"], int)
        os.kill(first["pid"], signal.SIGKILL)
        await wait_gone(first["pid"])
        await send_lines(short_dir / "s.sock", [event_line("user.created", id="after")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        _, after, _ = await get(f"{daemon.admin_url}/status")
    worker = after["delivery_worker"]
    assert isinstance(worker, dict) and worker["restarts"] == 1 and worker["pid"] not in (None, first["pid"])
    health = after["health"]
    assert isinstance(health, dict) and health["status"] == "degraded"
    assert any(f"delivery worker process (pid {first['pid']}) exited with status -9" in r for r in health["reasons"])
