"""A receiver asks hookd to stop (issue 21): 410 Gone pauses the hook (unless on_gone: fail), and so
does the response header `webhook-delivery: disable`; the deliveries wait, nothing is dropped, and
health is degraded with the reason until the hook is resumed."""

from __future__ import annotations

from pathlib import Path

from hookd import client
from hookd.config.load import check_config
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_cli_status import hookd_status
from tests.test_h21_pause_cli import ORDERS, STATES, listed, pause_config

EVENTS = [event_line("order.created", id=f"e{i}") for i in (1, 2, 3)]


async def test_410_pauses_the_hook_and_resume_delivers_the_backlog(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon (ManualClock, admin listener); orders' receiver answers its first request 410, then 200.
    2. Three events. 3. `hookd status`, `hooks list`. 4. `hooks resume orders` and the admin refresh.
    Result: (2) orders is paused by the receiver at once: e1 waits, pending with its attempt counted,
    e2 and e3 wait with none; billing delivers all three. (3) health is degraded naming the hook and
    the 410; hooks list says paused by the receiver with the reason and a backlog of 3. (4) the
    backlog is delivered: e1 on its second attempt, e2 and e3 on their first; health ok again."""
    receiver.on("/orders", Reply(status=410))
    cfg = pause_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert daemon.admin_url is not None
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", EVENTS))
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'billing' AND state = 'delivered'",
                      lambda r: r == [(3,)])  # fmt: skip
        await wait_db(db, ORDERS, lambda r: r == [("e1", "pending", 1), ("e2", "pending", 0), ("e3", "pending", 0)])
        assert db_rows(db, STATES) == [("orders", "receiver", "the receiver answered 410 Gone (on_gone: pause)")]
        assert len(receiver.at("/orders")) == 1

        status = await client.fetch_status(daemon.admin_url, token=None)
        health = status["health"]
        assert isinstance(health, dict) and health["status"] == "degraded"
        since = status["hooks"][0]["state"]["since"]  # type: ignore[index]
        assert (
            f"hook 'orders' is paused by the receiver since {since}: the receiver answered 410 Gone (on_gone: pause); "
            "its 3 delivery(ies) wait until `hookd hooks resume orders`"
        ) in health["reasons"]
        [error] = db_rows(db, "SELECT error FROM attempts WHERE error IS NOT NULL")
        assert error == (
            "the receiver answered 410 Gone (on_gone: pause): the hook is paused, and this delivery waits for "
            "`hookd hooks resume`",
        )
        human = await hookd_status(["status", "--url", daemon.admin_url])
        assert human.exit_code == 1
        [orders_row] = [line for line in plain(human.stdout).splitlines() if line.startswith("orders")]
        assert orders_row.endswith("paused (by receiver)")
        assert "hook 'orders' is paused by the receiver since" in plain(human.stdout)
        hooks = listed((await hookd("hooks", "list", "-c", str(cfg), "--json")).output)
        assert hooks["orders"]["state"] == "paused" and hooks["orders"]["backlog"] == 3
        assert hooks["orders"]["last_failure_at"] is not None
        table = plain((await hookd("hooks", "list", "-c", str(cfg))).output)
        assert "by the receiver: the receiver answered 410 Gone (on_gone: pause)" in table

        assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        rows = await wait_db(db, ORDERS, lambda r: all(state == "delivered" for _, state, _ in r))
        assert rows == [("e1", "delivered", 2), ("e2", "delivered", 1), ("e3", "delivered", 1)]
        after = await client.fetch_status(daemon.admin_url, token=None)
        assert not any("is paused" in reason for reason in after["health"]["reasons"])  # type: ignore[index]


async def test_on_gone_fail_fails_the_delivery_for_good(short_dir: Path, receiver: Receiver) -> None:
    """1. orders has on_gone: fail; its receiver answers the first request 410. 2. Three events.
    Result: e1 fails for good on its one attempt (as any final 4xx), the hook is not paused, e2 and e3
    are delivered."""
    receiver.on("/orders", Reply(status=410))
    cfg = pause_config(short_dir, receiver, orders=", on_gone: fail", admin=False)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", EVENTS))
        rows = await wait_db(db, ORDERS, lambda r: all(state in ("delivered", "failed") for _, state, _ in r))
    assert rows == [("e1", "failed", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert db_rows(db, STATES) == []


async def test_the_webhook_delivery_disable_header_pauses_on_any_answer(short_dir: Path, receiver: Receiver) -> None:
    """1. orders' receiver answers 200 with `webhook-delivery: disable`, then (after a resume) 400 with
    it, then 200. 2. Three events; resume; resume again.
    Result: e1 is delivered and the hook paused by the receiver (e2, e3 wait, no attempt); after the
    resume e2 gets the 400 with the header: it waits again, its attempt counted (not failed for good),
    and the hook is paused again; after the second resume everything is delivered."""
    receiver.on(
        "/orders",
        Reply(status=200, headers={"Webhook-Delivery": "disable"}),
        Reply(status=400, headers={"webhook-delivery": " Disable "}),
    )
    cfg = pause_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert daemon.admin_url is not None
        lane = daemon.dispatcher.lanes["orders"]
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", EVENTS))
        await wait_db(db, ORDERS, lambda r: r == [("e1", "delivered", 1), ("e2", "pending", 0), ("e3", "pending", 0)])
        reason = "the receiver answered HTTP 200 with the header webhook-delivery: disable"
        assert db_rows(db, STATES) == [("orders", "receiver", reason)]

        assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        await wait_until(lambda: len(receiver.at("/orders")) == 2)
        await wait_db(db, ORDERS, lambda r: r == [("e1", "delivered", 1), ("e2", "pending", 1), ("e3", "pending", 0)])
        await wait_until(lambda: lane.paused is not None)
        assert db_rows(db, STATES) == [
            ("orders", "receiver", "the receiver answered HTTP 400 with the header webhook-delivery: disable")
        ]

        assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        rows = await wait_db(db, ORDERS, lambda r: all(state == "delivered" for _, state, _ in r))
    assert rows == [("e1", "delivered", 1), ("e2", "delivered", 2), ("e3", "delivered", 1)]


def test_on_gone_takes_pause_or_fail_only(tmp_path: Path) -> None:
    """A hook's on_gone: pause is the default; another word is a validate error at its line and column."""
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - {name: a, events: [x], url: 'http://x'}\n"
        "  - {name: b, events: [x], url: 'http://x', on_gone: fail}\n",
        encoding="utf-8",
    )
    settings = check_config(path, env={}).settings
    assert settings is not None
    assert [h.on_gone for h in settings.hooks] == ["pause", "fail"]
    path.write_text("version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: 'http://x'\n    on_gone: drop\n")
    result = check_config(path, env={})
    assert result.settings is None
    [problem] = result.problems
    assert (problem.line, problem.column) == (6, 14)
    assert "on_gone" in problem.path and "pause" in problem.message and "fail" in problem.message


async def test_a_410_to_a_batch_pauses_the_hook_and_the_batch_waits_whole(short_dir: Path, receiver: Receiver) -> None:
    """1. orders batches three events a request; its receiver answers the first request 410, then 200.
    2. Three events; `hooks resume orders`.
    Result: the batch of three gets the 410: the hook is paused and its deliveries wait, the attempt
    counted; after the resume the same batch goes again, once, and all three are delivered."""
    receiver.on("/orders", Reply(status=410))
    cfg = pause_config(short_dir, receiver, orders=", batch: {max_events: 3, max_wait: 1h}")
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert daemon.admin_url is not None
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", EVENTS))
        await wait_db(db, ORDERS, lambda r: r == [("e1", "pending", 1), ("e2", "pending", 1), ("e3", "pending", 1)])
        assert db_rows(db, STATES) == [("orders", "receiver", "the receiver answered 410 Gone (on_gone: pause)")]
        assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        rows = await wait_db(db, ORDERS, lambda r: all(state == "delivered" for _, state, _ in r))
    assert [state for _, state, _ in rows] == ["delivered"] * 3
    bodies = [r.json() for r in receiver.at("/orders")]
    assert len(bodies) == 2 and all(isinstance(b, list) and len(b) == 3 for b in bodies)
