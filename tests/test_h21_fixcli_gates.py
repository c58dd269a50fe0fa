"""A delivery held by its destination host's gate, explained by the tools (issue 21, new-user review
finding 3): `history show` names the destination and what holds it (--json `destination`, and
`held_by` naming it), and `hooks list` shows a destination held by its breaker, which only the
daemon's memory knows, from its parked deliveries. Two tenants of hook shops: two real receivers on
127.0.0.1, told apart by the templated port; a running daemon on a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from hookd.store.base import PARK_OFFSET_S
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, Reply, db_rows, running_daemon, send_lines, serving_receiver, wait_db
from tests.manual_clock import ManualClock
from tests.test_h21_hosts_daemon import ROWS, events, port, shops_config


@pytest.fixture
async def tenant_b() -> AsyncIterator[Receiver]:
    async with serving_receiver() as rec:
        yield rec


def words(text: str) -> str:
    return " ".join(plain(text).split())


def one_id(db: Path, event_id: str) -> str:
    [(delivery,)] = db_rows(db, "SELECT id FROM deliveries WHERE event_id = ?", (event_id,))
    assert isinstance(delivery, str)
    return delivery


async def test_a_delivery_held_by_its_destinations_breaker_is_explained(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops with breaker {failures: 2, cooldown: 30s}; tenant a answers 503; tenant b 200.
    2. Events a1 a2 a3 b1: two failures open a's breaker, a3 is parked.
    3. `hookd history show a3's id` (and --json); `hookd hooks list` (and --json).
    Result: (3) show names the destination (localhost:A) and says the next try comes once its gate
    opens (a breaker, a hold or a rate limit; hookd status names which); --json has `destination` and
    held_by {"destination": localhost:A, "gate_closed": true}. hooks list shows `shops → localhost:A`
    held, with its parked deliveries; --json has it among shops' destinations, state held, paused null."""
    a, b = receiver, tenant_b
    a.on("/shop", *[Reply(status=503)] * 3)
    cfg = shops_config(short_dir, "            breaker: {failures: 2, cooldown: 30s}")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock):
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a1", "a2", "a3", "b1"])))
        await wait_db(
            db,
            ROWS.replace("?", f"'{host_a}'"),
            lambda r: r == [("a1", "pending", 1), ("a2", "pending", 1), ("a3", "pending", 0)],
        )
        await wait_db(
            db,
            f"SELECT count(*) FROM deliveries WHERE event_id = 'a3' AND next_at >= {PARK_OFFSET_S}",
            lambda r: r == [(1,)],
        )
        a3 = one_id(db, "a3")

        shown = await hookd("history", "show", a3, "-c", str(cfg))
        assert shown.exit_code == 0, shown.output
        text = words(shown.output)
        assert f"destination {host_a}" in text
        assert f"next try once the gate of its destination {host_a} opens: its circuit breaker is open" in text
        [detail] = orjson.loads((await hookd("history", "show", a3, "--json", "-c", str(cfg))).stdout)["deliveries"]
        assert detail["destination"] == host_a
        assert detail["held_by"]["destination"] == host_a and detail["held_by"]["gate_closed"] is True

        listed = await hookd("hooks", "list", "-c", str(cfg))
        assert listed.exit_code == 0, listed.output
        text = words(listed.output)
        assert f"shops → {host_a}" in text and "held" in text
        [shops] = orjson.loads((await hookd("hooks", "list", "-c", str(cfg), "--json")).stdout)
        [dest] = [d for d in shops["destinations"] if d["destination"] == host_a]
        assert dest["state"] == "held" and dest["paused"] is None and dest["parked"] >= 1


async def test_a_delivery_held_by_its_paused_destination_names_it(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops; tenant a answers 410 Gone (its destination is paused by the receiver).
    2. Events a1, then a2. 3. `hookd history show a2's id` (and --json).
    Result: (3) show says the next try comes when destination localhost:A is resumed, with the
    `hookd hooks resume shops --destination localhost:A` that does it; --json held_by names the
    destination and the pause."""
    a, b = receiver, tenant_b
    a.on("/shop", Reply(status=410))
    cfg = shops_config(short_dir, "")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a1"])))
        await wait_db(db, "SELECT count(*) FROM destination_state", lambda r: r == [(1,)])
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a2"])))
        await wait_db(
            db,
            f"SELECT count(*) FROM deliveries WHERE event_id = 'a2' AND next_at >= {PARK_OFFSET_S}",
            lambda r: r == [(1,)],
        )
    a2 = one_id(db, "a2")
    shown = await hookd("history", "show", a2, "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = words(shown.output)
    assert f"next try when its destination {host_a} is resumed (paused by the receiver" in text
    assert f"`hookd hooks resume shops --destination {host_a}`" in text
    [detail] = orjson.loads((await hookd("history", "show", a2, "--json", "-c", str(cfg))).stdout)["deliveries"]
    assert detail["held_by"]["destination"] == host_a and detail["held_by"]["paused"]["by"] == "receiver"
