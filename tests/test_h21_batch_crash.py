"""Batching (issue 21) across a crash, with signing, and in history: a batch keeps its id and members."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from tests.cli_helpers import hookd, plain
from tests.conftest import (
    DaemonProcess,
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_gone,
)
from tests.manual_clock import ManualClock
from tests.test_h21_batch_daemon import batched, ids_in
from tests.test_serve import basic_config

SIGNING_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def batch_config(d: Path, receiver: Receiver) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: b
            events: ["*"]
            url: {receiver.url("/b")}
            batch: {{max_events: 3, max_wait: 1h}}
            retry: {{initial_delay: 50ms, max_delay: 200ms}}
        delivery: {{shutdown_timeout: 10s}}
        """,
    )


async def test_kill_9_during_a_batch_sends_it_again_under_the_same_id(short_dir: Path, receiver: Receiver) -> None:
    """1. A real `hookd serve`; hook b batches {max_events: 3}; its receiver holds the first request.
    2. Three events; the batch's request arrives and is held; kill -9.
    3. The receiver answers again; the daemon restarts.
    Result: the second request carries the same webhook-id and the same body (the three events);
    every delivery is delivered, in that batch, after 2 attempts; the batch counted 2 requests."""
    hold = asyncio.Event()
    receiver.on("/b", Reply(200, hold=hold))
    daemon = DaemonProcess(batch_config(short_dir, receiver))
    db = short_dir / "hookd.db"
    try:
        await daemon.start()
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await receiver.wait_count(1, "/b")
        (worker,) = daemon.children()
        daemon.kill9()
        assert await daemon.wait() == -signal.SIGKILL
        await wait_gone(worker)
        hold.set()
        await daemon.start()
        await receiver.wait_count(2, "/b")
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(3,)])
    finally:
        hold.set()
        await daemon.stop()
    first, second = receiver.at("/b")[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body and ids_in(first.body) == ["e1", "e2", "e3"]
    batch_id = first.headers["webhook-id"]
    assert db_rows(db, "SELECT batch_id, state, attempts FROM deliveries") == [(batch_id, "delivered", 2)] * 3
    assert db_rows(db, "SELECT id, attempts, members FROM batches") == [(batch_id, 2, 3)]


async def test_signing_covers_the_batch_body_under_the_batch_id(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2} and signs (standard).
    2. Two events.
    Result: the standardwebhooks library verifies the request (webhook-id the batch id, the
    signature over the exact array bytes), and the verified payload is both events."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    hook = batched(receiver, "{max_events: 2, max_wait: 1h}", extra=f", signing: {{type: standard, secret: "
                                                                     f"{SIGNING_SECRET}}}")  # fmt: skip
    cfg = basic_config(short_dir, receiver, hook)
    async with running_daemon(cfg, clock=ManualClock(start=time.time())):  # the library checks the timestamp is recent
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(2,)])
    (request,) = receiver.at("/b")
    headers = {k.lower(): v for k, v in request.headers.items()}
    verified = Webhook(SIGNING_SECRET).verify(request.body, headers)
    assert [item["id"] for item in verified] == ["e1", "e2"]
    assert headers["webhook-id"] == db_rows(db, "SELECT id FROM batches")[0][0]
    tampered = request.body.replace(b"e2", b"e9")
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SIGNING_SECRET).verify(tampered, headers)


async def test_history_shows_each_delivery_with_its_batch_and_the_batch_with_its_requests(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2}; its receiver answers 503 once, then 200 (retry after 30 s).
    2. Two events; the clock moves 30 s on. 3. `hookd history`, `history --json`, `history show` with
    the batch id, and with one delivery's id.
    Result: the list has a batch column with the batch id for both; --json has batch_id; showing the
    batch lists both deliveries and its two requests (503, then 200); showing a delivery names its
    batch and shows the batch's requests as its attempts."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/b", Reply(status=503))
    db = short_dir / "hookd.db"
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 2, max_wait: 1h}"))
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
        await wait_db(db, "SELECT DISTINCT state FROM deliveries", lambda r: r == [("pending",)])
        clock.advance(30.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(2,)])
    batch_id = str(db_rows(db, "SELECT id FROM batches")[0][0])
    (delivery_id,) = db_rows(db, "SELECT id FROM deliveries WHERE event_id = 'e1'")[0]

    listed = await hookd("history", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    lines = plain(listed.output).splitlines()
    assert "batch" in lines[0].split()
    rows = [line.split() for line in lines if " e1 " in line or " e2 " in line]
    assert len(rows) == 2
    for row in rows:  # each delivery's row holds the batch id, shortened, in the batch column
        assert any(len(cell) >= 8 and batch_id.startswith(cell) and cell != row[0] for cell in row[2:]), row
    as_json = await hookd("history", "-c", str(cfg), "--json")
    assert [d["batch_id"] for d in orjson.loads(as_json.output)] == [batch_id, batch_id]

    shown = await hookd("history", "show", batch_id, "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = plain(shown.output)
    assert f"batch {batch_id} to hook b: 2 delivery(ies) in one request, 2 attempt(s)" in text
    assert "event e1" in text and "event e2" in text
    assert "attempt 1" in text and "HTTP 503" in text and "attempt 2" in text and "HTTP 200" in text
    shown_json = orjson.loads((await hookd("history", "show", batch_id[:-4], "-c", str(cfg), "--json")).output)
    assert [a["status"] for a in shown_json["batch"]["attempts"]] == [503, 200]
    assert sorted(d["event_id"] for d in shown_json["batch"]["deliveries"]) == ["e1", "e2"]

    one = plain((await hookd("history", "show", str(delivery_id), "-c", str(cfg))).output)
    assert f"batch        {batch_id}" in one and "HTTP 503" in one and "HTTP 200" in one

    # stats count the batch's requests once each: two attempts, one failed with 503
    figures = await hookd("history", "stats", "-c", str(cfg), "--since", "2020-01-01T00:00:00Z", "--json")
    (b,) = orjson.loads(figures.output)["hooks"]
    assert (b["deliveries"], b["delivered"], b["attempts"]) == (2, 2, 2)
    assert b["failures"] == [{"reason": "HTTP 503", "attempts": 1}]
