"""`hookd replay --wait` to a paused destination host (issue 21, fix round): a replay whose destination a
receiver's 410 paused is parked, not sent; --wait says so and returns, as it does for a paused hook,
instead of waiting for ever for a delivery that only `hookd hooks resume --destination` lets go."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli_helpers import hookd, plain
from tests.conftest import FAILSAFE_S, Receiver, Reply, db_rows, running_daemon, send_lines, serving_receiver, wait_db
from tests.manual_clock import ManualClock
from tests.test_h21_hosts_daemon import ROWS, events, port, shops_config


@pytest.fixture
async def tenant_b() -> AsyncIterator[Receiver]:
    async with serving_receiver() as rec:
        yield rec


async def test_replay_wait_to_a_paused_destination_warns_and_returns(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops (templated host); tenant a answers 200, 200, then 410. 2. a0 and a2
    are delivered; a1's 410
    pauses destination localhost:A. 3. The daemon stops; `hookd replay --event a0 --wait`, then
    `--event a2 --wait --json`.
    Result: (3) each returns (within the failsafe: it waited for ever before), exit 1 like a paused
    hook's, saying `1 not sent` and warning that destination localhost:A of hook shops is paused by the
    receiver, with `hookd hooks resume shops --destination localhost:A`; the JSON names it under
    `paused_destinations`. Tenant a heard nothing more; the replay waits pending, unsent."""
    a, b = receiver, tenant_b
    a.on("/shop", Reply(status=200), Reply(status=200), Reply(status=410))
    cfg = shops_config(short_dir, "")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a0", "a2"])))
        await wait_db(db, ROWS.replace("?", f"'{host_a}'"), lambda r: [s for _, s, _ in r] == ["delivered"] * 2)
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["a1"])))
        await wait_db(db, "SELECT destination FROM destination_state", lambda r: r == [(host_a,)])
    assert len(a.at("/shop")) == 3

    async with asyncio.timeout(FAILSAFE_S):
        replayed = await hookd("replay", "-c", str(cfg), "--event", "a0", "--wait")
    out = plain(replayed.output)
    assert replayed.exit_code == 1, out
    assert "queued 1 replay(s) to shops" in out
    assert "1 not sent" in out
    assert f"hook 'shops': destination {host_a} is paused (by receiver since" in out
    assert f"hookd hooks resume shops --destination {host_a}" in out

    async with asyncio.timeout(FAILSAFE_S):
        as_json = await hookd("replay", "-c", str(cfg), "--event", "a2", "--wait", "--json")
    assert as_json.exit_code == 1, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["paused_destinations"] == [{"hook": "shops", "destination": host_a}]
    assert [r["state"] for r in doc["results"]] == ["pending"]

    assert len(a.at("/shop")) == 3
    replays = "SELECT state, attempts FROM deliveries WHERE replay_of IS NOT NULL"
    assert db_rows(db, replays) == [("pending", 0), ("pending", 0)]
