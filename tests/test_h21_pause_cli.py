"""`hookd hooks list|pause|resume` (issue 21, pause never drops): the pause is kept in the database,
so it works with or without a daemon and survives a restart; a running daemon takes it up at its
poll, or at once through its admin listener."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from hookd import client
from hookd.dispatcher import POLL_INTERVAL_S
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    new_database,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock

# Paused hooks only: hook_state also keeps every hook's last success and failure.
STATES = "SELECT hook, paused_by, paused_reason FROM hook_state WHERE paused_by IS NOT NULL ORDER BY hook"
ORDERS = "SELECT event_id, state, attempts FROM deliveries WHERE hook = 'orders' ORDER BY event_id"


def pause_config(d: Path, receiver: Receiver, *, orders: str = "", admin: bool = True) -> Path:
    """Hooks orders (concurrency 1, `orders` adds keys) and billing, both taking every event."""
    return socket_config(
        d,
        f"""
        hooks:
          - {{name: orders, events: ["*"], url: "{receiver.url("/orders")}", concurrency: 1{orders}}}
          - {{name: billing, events: ["*"], url: "{receiver.url("/billing")}"}}
        {'admin: {listen: "127.0.0.1:0"}' if admin else ""}
        """,
    )


def listed(output: str) -> dict[str, dict[str, object]]:
    items = orjson.loads(output)
    assert isinstance(items, list)
    return {str(item["name"]): item for item in items}


async def test_pause_and_resume_without_a_daemon(short_dir: Path, receiver: Receiver) -> None:
    """1. A config with hooks orders and billing, a database, no daemon.
    2. `hooks pause orders --reason ...`, then again; `hooks pause order` (a typo); `hooks list`.
    3. `hooks resume orders`, then again.
    Result: (2) the pause is stored by operator with the reason; the second pause changes nothing and
    says by whom since when; the typo exits 2 with a did-you-mean; list shows orders paused with its
    reason and billing active (table and --json). (3) the pause is gone; the second resume changes nothing."""
    cfg = pause_config(short_dir, receiver, admin=False)
    db = short_dir / "hookd.db"
    await new_database(db)

    paused = await hookd("hooks", "pause", "orders", "-c", str(cfg), "--reason", "receiver maintenance")
    assert paused.exit_code == 0, paused.output
    assert "paused orders: its deliveries are kept and wait until `hookd hooks resume orders`" in plain(paused.output)
    assert db_rows(db, STATES) == [("orders", "operator", "receiver maintenance")]
    again = await hookd("hooks", "pause", "orders", "-c", str(cfg))
    assert again.exit_code == 0
    assert "orders is paused already, by operator since" in plain(again.output)
    assert "receiver maintenance; nothing changed" in plain(again.output)
    typo = await hookd("hooks", "pause", "order", "-c", str(cfg))
    assert typo.exit_code == 2
    assert "no hook named 'order' in the config or the database; did you mean 'orders'?" in plain(typo.output)

    table = await hookd("hooks", "list", "-c", str(cfg))
    assert table.exit_code == 0, table.output
    lines = plain(table.output).splitlines()
    [orders_line] = [line for line in lines if line.startswith("orders")]
    assert "paused" in orders_line and "by operator: receiver maintenance" in orders_line
    [billing_line] = [line for line in lines if line.startswith("billing")]
    assert "active" in billing_line
    doc = await hookd("hooks", "list", "-c", str(cfg), "--json")
    hooks = listed(doc.output)
    assert list(hooks) == ["orders", "billing"]
    assert hooks["orders"]["state"] == "paused"
    paused_doc = hooks["orders"]["paused"]
    assert isinstance(paused_doc, dict)
    assert (paused_doc["by"], paused_doc["reason"]) == ("operator", "receiver maintenance")
    assert hooks["billing"]["state"] == "active" and hooks["billing"]["paused"] is None
    assert hooks["orders"]["backlog"] == 0 and hooks["orders"]["last_success_at"] is None

    resumed = await hookd("hooks", "resume", "orders", "-c", str(cfg))
    assert resumed.exit_code == 0, resumed.output
    assert "resumed orders (paused by operator since" in plain(resumed.output)
    assert db_rows(db, "SELECT count(*) FROM hook_state WHERE paused_by IS NOT NULL") == [(0,)]
    not_paused = await hookd("hooks", "resume", "orders", "--db", str(db))
    assert not_paused.exit_code == 0
    assert "orders is not paused; nothing changed" in plain(not_paused.output)


async def test_a_paused_hooks_deliveries_wait_through_a_restart_with_attempts_unspent(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. `hooks pause orders` with no daemon. 2. A daemon (ManualClock) gets three events. 3. It stops;
    billing is paused and `replay --hook billing` run (it warns that its replays wait); billing is
    resumed; another daemon starts on the same database. 4. `hooks resume orders`; the clock moves a poll on.
    Result: billing delivers all three at once; orders' three wait, pending with no attempt, its
    receiver never asked, also after the restart (hooks list: paused, backlog 3); after the resume
    the new daemon's next poll takes it up and delivers each on its first attempt."""
    cfg = pause_config(short_dir, receiver, admin=False)
    db = short_dir / "hookd.db"
    await new_database(db)
    assert (await hookd("hooks", "pause", "orders", "-c", str(cfg))).exit_code == 0

    clock = ManualClock()
    async with running_daemon(cfg, clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'billing' AND state = 'delivered'",
                      lambda r: r == [(3,)])  # fmt: skip
    assert db_rows(db, ORDERS) == [("e1", "pending", 0), ("e2", "pending", 0), ("e3", "pending", 0)]
    # A replay to a paused hook says that its replays wait.
    assert (await hookd("hooks", "pause", "billing", "-c", str(cfg), "--reason", "audit")).exit_code == 0
    replayed = await hookd("replay", "--hook", "billing", "-c", str(cfg))
    assert replayed.exit_code == 0, replayed.output
    assert "hook 'billing' is paused (by operator since" in plain(replayed.output)
    assert "audit): its replays wait until `hookd hooks resume billing`" in plain(replayed.output)
    assert (await hookd("hooks", "resume", "billing", "-c", str(cfg))).exit_code == 0

    async with running_daemon(cfg, clock=clock) as daemon:
        await wait_until(lambda: daemon.dispatcher.lanes["orders"].paused is not None)
        doc = listed((await hookd("hooks", "list", "-c", str(cfg), "--json")).output)
        assert (doc["orders"]["state"], doc["orders"]["backlog"]) == ("paused", 3)
        assert doc["billing"]["last_success_at"] is not None
        assert receiver.at("/orders") == []

        resumed = await hookd("hooks", "resume", "orders", "-c", str(cfg))
        assert "3 delivery(ies) waiting are sent" in plain(resumed.output)
        clock.advance(POLL_INTERVAL_S)
        rows = await wait_db(db, ORDERS, lambda r: all(state == "delivered" for _, state, _ in r))
    assert rows == [("e1", "delivered", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert len(receiver.at("/orders")) == 3


async def test_a_pause_while_running_gives_back_what_was_claimed_and_lets_in_flight_finish(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A daemon (ManualClock, admin listener); orders' receiver holds its first answer.
    2. Three events: e1 is in flight, e2 claimed behind it. 3. `hooks pause orders` and the admin
    listener's POST /hooks/refresh. 4. The held answer comes. 5. `hooks resume orders`, refresh.
    Result: (3) e2 goes back to pending with its attempt given back; (4) e1 is delivered, nothing else
    is sent; /status shows orders paused by operator, and health stays ok; (5) e2 and e3 are delivered
    on their first attempt."""
    hold = asyncio.Event()
    receiver.on("/orders", Reply(hold=hold))
    cfg = pause_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        lane = daemon.dispatcher.lanes["orders"]
        acks = await send_lines(short_dir / "s.sock", [event_line("order.created", id=f"e{i}") for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await receiver.wait_count(1, "/orders")
        await wait_db(db, ORDERS, lambda r: [a for _, _, a in r] == [1, 1, 0])  # e2 claimed behind e1
        assert daemon.admin_url is not None

        paused = await hookd("hooks", "pause", "orders", "-c", str(cfg))
        assert paused.exit_code == 0, paused.output
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        await wait_until(lambda: lane.paused is not None)
        await wait_db(db, ORDERS, lambda r: r == [("e1", "delivering", 1), ("e2", "pending", 0), ("e3", "pending", 0)])
        hold.set()
        await wait_db(db, ORDERS, lambda r: r[0] == ("e1", "delivered", 1))
        status = await client.fetch_status(daemon.admin_url, token=None)
        [orders] = [h for h in status["hooks"] if h["name"] == "orders"]  # type: ignore[union-attr]
        assert orders["state"]["state"] == "paused" and orders["state"]["by"] == "operator"
        assert status["health"] == {"status": "ok", "reasons": []}
        assert len(receiver.at("/orders")) == 1

        assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        rows = await wait_db(db, ORDERS, lambda r: all(state == "delivered" for _, state, _ in r))
    assert rows == [("e1", "delivered", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert len(receiver.at("/orders")) == 3
