"""`hookd history` after a batch is split and after a 410 (issue 21, new-user review findings 4a, 4b, 8,
12): a split batch names what its refused request carried, each attempt of a batched delivery names its
batch, a delivery paused by its receiver's answer claims no retry time, and `--event` given a batch id
says which command takes it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, socket_config, wait_db
from tests.manual_clock import ManualClock
from tests.test_h21_batch_split import config, small_receiver


def words(text: str) -> str:
    return " ".join(plain(text).split())


async def test_a_split_batch_lists_what_it_carried_and_each_attempt_names_its_batch(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 8, max_wait: 1s}; its receiver takes bodies of at most ~4 events.
    2. 8 events are sent: the batch of 8 is answered 413, split, and its members delivered in smaller ones.
    3. `hookd history show BATCH` (and --json); `hookd history show MEMBER` (and --json);
    `hookd history --event BATCH`.
    Result: (3) the split batch lists the 8 deliveries that left it after the 413, each now delivered in
    another batch (--json: `departed`); the member (1 attempt counted: a split spends none) shows two
    requests, `attempt 1 of batch X` and
    `attempt 1 of batch Y` (--json: each attempt's batch_id), the first saying it was split, not a
    retry time; --event with a batch id points at
    `hookd history show BATCH`."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    taken: list[bytes] = []
    async with small_receiver(taken) as server:
        cfg = config(short_dir, server, "{max_events: 8, max_wait: 1s}")
        async with running_daemon(cfg, clock=clock):
            lines = [event_line(id=f"e{i}", data={"pad": "x" * 300}) for i in range(8)]
            assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", lines))
            await wait_db(db, "SELECT count(*) FROM deliveries", lambda r: r == [(8,)])
            clock.advance(1.0)
            await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(8,)])
    [(batch_id,)] = db_rows(db, "SELECT id FROM batches WHERE members = 8")
    assert isinstance(batch_id, str)

    shown = await hookd("history", "show", batch_id, "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = words(shown.output)
    assert "left the batch" in text and "none left" not in text
    members = db_rows(db, "SELECT id, batch_id FROM deliveries ORDER BY id")
    for member, now_in in members:
        assert f"{member} event " in text and f"now delivered in batch {now_in}" in text
    as_json = orjson.loads((await hookd("history", "show", batch_id, "--json", "-c", str(cfg))).output)
    assert as_json["batch"]["deliveries"] == []
    assert sorted(d["id"] for d in as_json["batch"]["departed"]) == sorted(m for m, _ in members)
    assert [a["batch_id"] for a in as_json["batch"]["attempts"]] == [None]

    member, now_in = members[0]
    assert isinstance(member, str) and isinstance(now_in, str)
    one = await hookd("history", "show", member, "-c", str(cfg))
    assert one.exit_code == 0, one.output
    text = words(one.output)
    assert "delivered after 1 attempt(s)" in text  # the split spent none: its request is shown all the same
    assert "no attempt counted" in text
    assert f"attempt 1 of batch {batch_id}" in text and f"attempt 1 of batch {now_in}" in text
    # The refused request is never retried: it says it was split, not `retry at`.
    assert "HTTP 413" in text and "split: its deliveries went on in smaller batches" in text
    assert "retry at" not in text
    [detail] = orjson.loads((await hookd("history", "show", member, "--json", "-c", str(cfg))).output)["deliveries"]
    assert sorted(a["batch_id"] for a in detail["attempts"]) == sorted([batch_id, now_in])

    listed = await hookd("history", "--event", batch_id, "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    text = words(listed.output)
    assert f"it is the id of batch {batch_id}" in text
    assert f"`hookd history show {batch_id}` shows its requests and deliveries" in text


async def test_a_delivery_paused_by_a_410_claims_no_retry_time(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook gone posts to a receiver that answers 410 Gone.
    2. One event; the 410 pauses the hook. 3. `hookd history`, `hookd history show ID` (and --json).
    Result: (3) the list shows `retrying (paused)`; the attempt line says it waits for `hookd hooks
    resume`, with no `retry at`; --json marks the attempt waits_for_resume, and its next_at and the
    row's are null."""
    receiver.on("/gone", Reply(status=410))
    cfg = socket_config(short_dir, f'hooks:\n  - {{name: gone, events: ["*"], url: "{receiver.url("/gone")}"}}\n')
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        await wait_db(db, "SELECT paused_by FROM hook_state WHERE hook = 'gone'", lambda r: r == [("receiver",)])
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
    [(delivery,)] = db_rows(db, "SELECT id FROM deliveries")
    assert isinstance(delivery, str)

    listed = await hookd("history", "--hook", "gone", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    assert "retrying (paused)" in words(listed.output)
    shown = await hookd("history", "show", delivery, "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = words(shown.output)
    assert "HTTP 410" in text and "paused: waits for `hookd hooks resume`" in text
    assert "retry at" not in text
    assert "next try when the hook is resumed" in text
    [detail] = orjson.loads((await hookd("history", "show", delivery, "--json", "-c", str(cfg))).output)["deliveries"]
    assert [a["waits_for_resume"] for a in detail["attempts"]] == [True]
    # It waits for a resume, not a time: no next_at (it would be the attempt's own time).
    assert [a["next_at"] for a in detail["attempts"]] == [None]
    [row] = orjson.loads((await hookd("history", "--hook", "gone", "--json", "-c", str(cfg))).output)
    assert (row["status"], row["next_at"]) == ("retrying", None)
