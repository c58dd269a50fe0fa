"""A batch the receiver answers 413 (too large) to (issue 21, attacker's finding): split, not failed.

The receiver is a real aiohttp server with a small body limit (`client_max_size`): it answers 413 to a
larger body before its handler sees it, as a default aiohttp receiver does past 1 MB."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hookd.batching import Batcher
from tests.cli_helpers import hookd
from tests.conftest import daemon_config, db_rows, event_line, running_daemon, send_lines, serving, wait_db
from tests.manual_clock import ManualClock
from tests.test_h21_batch_config import batcher

# Each event's envelope is ~420 bytes (a 300-byte pad): at most 4 fit in a 2,000-byte body.
LIMIT = 2000


@asynccontextmanager
async def small_receiver(bodies: list[bytes]) -> AsyncIterator[TestServer]:
    """A receiver taking bodies of at most LIMIT bytes; the ones it took are appended to `bodies`."""

    async def take(request: web.Request) -> web.Response:
        bodies.append(await request.read())  # past the limit, aiohttp answers 413 from here
        return web.Response(text="ok")

    app = web.Application(client_max_size=LIMIT)
    app.router.add_post("/b", take)
    async with serving(app) as server:
        yield server


def config(d: Path, server: TestServer, batch: str) -> Path:
    return daemon_config(
        d,
        f"""
        sources:
          - {{name: app, type: socket, path: {d}/s.sock, max_event_size: 64KB}}
        hooks:
          - {{name: b, events: ["*"], url: "{server.make_url("/b")}", batch: {batch}}}
        """,
    )


def ids_in(body: bytes) -> list[str]:
    return [str(item["id"]) for item in orjson.loads(body)]


async def test_a_backlog_too_large_for_the_receiver_is_split_until_every_event_is_delivered(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Hook b batches {max_events: 20, max_wait: 1s}; its receiver takes bodies of at most 2,000
    bytes (~4 events); a ManualClock. 2. 30 events are stored (a batch of 20 goes once 20 are), then the
    clock moves 1 s on and the rest go. 3. `hookd history show` with the first batch's id.
    Result: every event delivered, none failed, each taken by the receiver exactly once; the batch of
    20 has one attempt record, 413, whose error says it was split, and no member left in it; a split
    spends no attempt of its members (each has spent 1, the request that delivered it), yet a member's
    history shows the requests that were split beside the one that delivered it; a warning says the
    hook's new batch size and to set max_size under the receiver's limit; history shows the split
    batch's attempt."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    caplog.set_level(logging.WARNING, logger="hookd.dispatcher")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    taken: list[bytes] = []
    async with small_receiver(taken) as server:
        cfg = config(short_dir, server, "{max_events: 20, max_wait: 1s}")
        async with running_daemon(cfg, clock=clock):
            lines = [event_line(id=f"e{i:02}", data={"pad": "x" * 300}) for i in range(30)]
            acks = await send_lines(short_dir / "s.sock", lines)
            assert all(a["ok"] for a in acks)
            # Stored; a batch of 20 may already have gone (max_events reached), the rest waits for max_wait.
            await wait_db(db, "SELECT count(*) FROM deliveries", lambda r: r == [(30,)])
            clock.advance(1.0)
            await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(30,)])
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state != 'delivered'") == [(0,)]
    assert sorted(i for body in taken for i in ids_in(body)) == [f"e{i:02}" for i in range(30)]
    assert all(len(body) <= LIMIT for body in taken)

    split = db_rows(db, "SELECT b.id, a.attempt, a.status, a.outcome, a.error FROM batches b "
                        "JOIN attempts a ON a.delivery_id = b.id WHERE b.members = 20")  # fmt: skip
    assert len(split) == 1
    batch_id, attempt, status, outcome, error = split[0]
    assert (attempt, status, outcome) == (1, 413, "pending")
    assert "too large" in error and "split" in error
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE batch_id = ?", (batch_id,)) == [(0,)]
    # The 20 oldest went in it, and perhaps in smaller batches split again: none of those requests was
    # an attempt of theirs, only the one that delivered them.
    assert db_rows(db, "SELECT DISTINCT attempts FROM deliveries") == [(1,)]
    said = [r.getMessage() for r in caplog.records if "too large (413)" in r.getMessage()]
    assert said and "max_events=" in said[0] and "batch.max_size" in said[0] and "restarts" in said[0]

    shown = await hookd("history", "show", str(batch_id), "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert f"batch {batch_id} to hook b: 20 delivery(ies) in one request, 1 attempt(s)" in text
    assert "left the batch" in text and "HTTP 413" in text and "too large; split" in text

    # A member's own history keeps the requests that were split (one a batch it left), beside the one
    # that delivered it: one request more than the attempts it spent for each split.
    [(member, attempts)] = db_rows(db, "SELECT id, attempts FROM deliveries ORDER BY id LIMIT 1")
    [(splits,)] = db_rows(db, "SELECT count(*) FROM batch_departures WHERE delivery_id = ?", (member,))
    assert splits >= 1
    shown = await hookd("history", "show", str(member), "--json", "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    [shown_delivery] = orjson.loads(shown.output)["deliveries"]
    shown_attempts = shown_delivery["attempts"]
    assert len(shown_attempts) == attempts + splits
    # (The fake clock stands still: the requests started at the same time, so their order is not asserted.)
    assert sorted(a["status"] for a in shown_attempts) == [200] + [413] * splits
    assert all("split" in a["error"] for a in shown_attempts if a["status"] == 413)


async def test_a_single_event_too_large_for_the_receiver_still_fails_for_good(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 20, max_wait: 1s}; its receiver takes at most 2,000 bytes.
    2. One event of ~3,000 bytes; the clock moves 1 s on.
    Result: its batch of one is answered 413 and fails for good after that one attempt, as a delivery
    sent alone does: nothing is left to split."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    taken: list[bytes] = []
    async with small_receiver(taken) as server:
        cfg = config(short_dir, server, "{max_events: 20, max_wait: 1s}")
        async with running_daemon(cfg, clock=clock):
            await send_lines(short_dir / "s.sock", [event_line(id="big", data={"pad": "x" * 3000})])
            await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'pending'", lambda r: r == [(1,)])
            clock.advance(1.0)
            rows = await wait_db(db, "SELECT state, attempts, last_status FROM deliveries",
                                 lambda r: r[0][0] == "failed")  # fmt: skip
    assert rows == [("failed", 1, 413)]
    assert taken == []
    assert [(s, o) for s, o, _ in db_rows(db, "SELECT status, outcome, error FROM attempts")] == [(413, "failed")]
    assert "split" not in str(db_rows(db, "SELECT error FROM attempts")[0][0])


def test_split_halves_the_batch_that_was_too_large_down_to_one(tmp_path: Path) -> None:
    """Batcher.split: the next batches hold at most half the batch the receiver refused, never more
    than before, and at least one; a refused batch larger than the limit already (formed before the
    limit was lowered, or sent beside the batch that lowered it) lowers it no more."""
    b: Batcher = batcher(tmp_path, "{max_events: 100}")
    assert b.split(20) == 10  # half the refused batch, not of max_events
    assert b.split(30) == 10  # formed before the 413 that made it 10: halving again would go too far
    assert b.split(20) == 10  # sent beside the first one
    assert b.split(10) == 5  # a batch of the new size refused: half again
    assert b.split(3) == 1
    assert b.split(2) == 1
    assert b.max_events == 1 and b.config.max_events == 100
