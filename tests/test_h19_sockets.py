"""One client cannot hurt the others: rejection floods, a flooding connection, unfinished lines,
connect bursts and HTTP clients on the socket source, with real sockets and a real SQLite file."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import orjson
import pytest

from hookd.config.model import SocketSourceConfig
from hookd.ingest import Ingest
from hookd.rejections import RejectionLimiter
from hookd.router import Router
from hookd.sources.base import Accepted, Batch, Checkpoint, Rejection
from hookd.sources.socket import PARTIAL_BUDGET_FLOOR, SocketSource
from hookd.store.base import IngestResult, RoutedEvent
from hookd.store.sqlite import SQLiteStore
from tests.conftest import FAILSAFE_S, daemon_config, db_rows, event_line, running_daemon, wait_db
from tests.manual_clock import ManualClock


def config(d: Path, *, source: str = "", extra: str = "") -> Path:
    return daemon_config(
        d,
        f"""
        sources:
          - {{name: app, type: socket, path: {d}/s.sock, max_event_size: 2KB{source}}}
        {extra}
        hooks:
          - {{name: h, events: ["never.matches"], url: "http://127.0.0.1:9/h"}}
        """,
    )


def rejection(n: int, conn: int = 1) -> Rejection:
    return Rejection("app", f"conn {conn} line {n}", "invalid JSON", b"x", f"conn {conn}")


# -- rejections: counted always, stored and logged rate-limited --------------------------------------


def test_the_limiter_shows_the_first_per_window_and_sums_up_the_rest() -> None:
    limiter = RejectionLimiter(shown_per_window=3, window_s=60)
    shown, summaries = limiter.admit([rejection(i) for i in range(1, 11)] + [rejection(1, conn=2)], 0.0)
    assert [r.position for r in shown] == ["conn 1 line 1", "conn 1 line 2", "conn 1 line 3", "conn 2 line 1"]
    assert summaries == [] and limiter.ended(59.9) == []
    assert limiter.next_summary_at() == 60.0
    (summary,) = limiter.ended(60.0)
    assert summary.position == "conn 1" and summary.stream == "conn 1"
    assert summary.reason.startswith("… and 7 more rejected line(s) from conn 1 in 60 s: counted, not stored")
    assert limiter.next_summary_at() is None
    # A new window: the first ones are shown again; a stream that ends writes its summary at once.
    shown, _ = limiter.admit([rejection(i) for i in range(11, 16)], 61.0)
    assert len(shown) == 3
    (closed,) = limiter.close("app", "conn 1")
    assert closed.reason.startswith("… and 2 more rejected line(s) from conn 1 in 60 s")
    assert limiter.close("app", "conn 2") == []


def test_many_connections_share_a_per_source_bound() -> None:
    """50 connections with 10 bad lines each: at most 10 x 3 shown in all, every connection summed up."""
    limiter = RejectionLimiter(shown_per_window=3, window_s=60)
    shown, _ = limiter.admit([rejection(i, conn=c) for c in range(1, 51) for i in range(1, 11)], 0.0)
    assert len(shown) == 30
    summaries = limiter.ended(60.0)
    assert len(summaries) == 50
    assert sum(int(s.reason.split()[2]) for s in summaries) == 500 - 30


@asynccontextmanager
async def ingest_on(db: Path, clock: ManualClock) -> AsyncIterator[Ingest]:
    store = SQLiteStore(db)
    await store.open()
    ingest = Ingest(store, Router(()), clock, rejection_limiter=RejectionLimiter(shown_per_window=5, window_s=60))
    running = asyncio.create_task(ingest.run())
    try:
        yield ingest
    finally:
        ingest.stop()
        await running
        await store.close()


async def test_a_rejection_flood_is_counted_exactly_but_stored_and_logged_in_a_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1. 2,000 rejections from conn 1 arrive in 4 batches; 2. the window ends on the (fake) clock,
    with no more input. Result: all 2,000 counted, 5 stored and logged one by one, then one summary
    row and one summary log line for the other 1,995, written by the window's end alone."""
    db = tmp_path / "hookd.db"
    clock = ManualClock()
    caplog.set_level(logging.WARNING, logger="hookd.ingest")
    async with ingest_on(db, clock) as ingest:
        for b in range(4):
            await ingest.submit(Batch(rejections=[rejection(b * 500 + i) for i in range(1, 501)], source="app"))
        assert ingest.rejected_by_source["app"] == 2000
        assert db_rows(db, "SELECT count(*) FROM rejected") == [(5,)]
        assert len(caplog.records) == 5
        clock.advance(60)
        rows = await wait_db(db, "SELECT position, reason FROM rejected ORDER BY id", lambda r: len(r) == 6)
    assert rows[5][0] == "conn 1"
    assert rows[5][1].startswith("… and 1,995 more rejected line(s) from conn 1")  # type: ignore[union-attr]
    assert len(caplog.records) == 6 and "1,995 more rejected line(s) from conn 1" in caplog.records[5].getMessage()
    assert ingest.rejected_total == 2000  # the summary row is no extra rejection


async def test_a_flooding_connection_gets_every_answer_and_its_summary_when_it_closes(short_dir: Path) -> None:
    """1. One connection sends 3,000 junk lines and closes. Result: 3,000 error answers, the status
    counter says 3,000, and the database holds the first 20 and one summary for the other 2,980."""
    db = short_dir / "hookd.db"
    async with running_daemon(config(short_dir)) as daemon:
        reader, writer = await asyncio.open_unix_connection(str(short_dir / "s.sock"))
        writer.write(b"x\n" * 3000)
        await writer.drain()
        async with asyncio.timeout(FAILSAFE_S):
            answers = [orjson.loads(await reader.readline()) for _ in range(3000)]
        assert all(a == {"ok": False, "error": answers[0]["error"]} for a in answers)
        assert "invalid JSON" in answers[0]["error"]
        writer.close()
        await writer.wait_closed()
        rows = await wait_db(db, "SELECT position, reason FROM rejected ORDER BY id", lambda r: len(r) == 21)
        assert daemon.ingest.rejected_total == 3000
    assert [r[0] for r in rows[:20]] == [f"conn 1 line {i}" for i in range(1, 21)]
    assert rows[20][0] == "conn 1"
    assert str(rows[20][1]).startswith("… and 2,980 more rejected line(s) from conn 1")


async def test_a_file_full_of_bad_lines_is_counted_and_summed_up_at_shutdown(short_dir: Path) -> None:
    """1. A tailed file holds 500 bad lines and one good event; 2. the daemon stops before the
    minute ends. Result: 500 counted, 20 stored one by one, and the shutdown writes the summary."""
    log = short_dir / "events.jsonl"
    log.write_bytes(b"junk\n" * 500 + event_line(id="good") + b"\n")
    cfg = config(short_dir, extra=f"  - {{name: applog, type: file, path: {log}, start_at: beginning}}")
    db = short_dir / "hookd.db"
    async with running_daemon(cfg) as daemon:
        await wait_db(db, "SELECT id FROM events", lambda r: r == [("good",)])
        assert daemon.ingest.rejected_by_source["applog"] == 500
    rows = db_rows(db, "SELECT position, reason FROM rejected ORDER BY id")
    assert [r[0] for r in rows[:20]] == [f"{log}:{i}" for i in range(1, 21)]
    assert len(rows) == 21 and rows[20][0] == "applog"
    assert str(rows[20][1]).startswith("… and 480 more rejected line(s) from source applog")


# -- fairness: one flooding connection does not starve another's acks ---------------------------------


class RecordingStore(SQLiteStore):
    """Records the event ids of every commit, in order."""

    commits: list[list[str]]

    async def ingest(
        self,
        routed: Sequence[RoutedEvent],
        rejections: Sequence[Rejection],
        checkpoints: Sequence[Checkpoint],
        now: float,
    ) -> IngestResult:
        self.__dict__.setdefault("commits", []).append([r.event.id for r in routed])
        return await super().ingest(routed, rejections, checkpoints, now)


async def test_a_second_client_is_committed_early_while_another_pipelines_20000_events(short_dir: Path) -> None:
    """1. A client pipelines 20,000 events on one connection; 2. once its first answer is back, a
    second client sends one event. Result: the second client's event is committed before the
    flooder's 10,000th (each connection puts at most 1,000 lines into a commit and waits for it;
    the whole first read, ~20,000 lines, went into one commit before)."""
    sock = short_dir / "s.sock"
    async with running_daemon(config(short_dir), store_type=RecordingStore) as daemon:
        reader, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(b'{"type":"f"}\n' * 20_000)
        async with asyncio.timeout(FAILSAFE_S):
            first = orjson.loads(await reader.readline())
            assert first["ok"] is True
            r2, w2 = await asyncio.open_unix_connection(str(sock))
            w2.write(event_line(id="second") + b"\n")
            assert orjson.loads(await r2.readline()) == {"ok": True, "id": "second"}
            w2.close()
            await w2.wait_closed()
            await writer.drain()
            for _ in range(19_999):
                assert orjson.loads(await reader.readline())["ok"] is True
        writer.close()
        await writer.wait_closed()
        commits = daemon.store.commits  # type: ignore[attr-defined]
    before = 0
    for ids in commits:
        if "second" in ids:
            break
        before += len(ids)
    assert before < 10_000, f"{before} of the flooder's events were committed before the second client's"
    assert max(len(ids) for ids in commits) <= 5000


# -- unfinished lines: one budget for all connections -------------------------------------------------


def test_the_unfinished_line_budget_follows_max_event_size() -> None:
    small = SocketSource(SocketSourceConfig(name="a", path=Path("/tmp/x.sock")))
    assert small.partial_budget == PARTIAL_BUDGET_FLOOR == 64_000_000  # 10MB events: the floor
    big = SocketSource(SocketSourceConfig(name="a", path=Path("/tmp/x.sock"), max_event_bytes=50_000_000))
    assert big.partial_budget == 200_000_000


async def wait_unfinished(source: SocketSource, n: int) -> None:
    async with asyncio.timeout(FAILSAFE_S):
        while source.unfinished_bytes != n:
            await asyncio.sleep(0.01)


async def test_over_the_unfinished_line_budget_the_newest_is_told_and_closed(short_dir: Path) -> None:
    """1. Three clients each hold a 3,000-byte unfinished line (budget 10,000 bytes); 2. a fourth
    starts one. Result: the fourth is answered one error saying why and closed, one rejection is
    stored; the first three finish their lines and are answered."""
    source = SocketSource(
        SocketSourceConfig(name="app", path=short_dir / "s.sock", max_event_bytes=4000), partial_budget=10_000
    )
    submitted: list[Batch] = []

    async def submit(batch: Batch) -> list[Accepted]:
        submitted.append(batch)
        return [Accepted(id=e.id, duplicate=False, deliveries=0) for e in batch.events]

    await source.start()
    running = asyncio.create_task(source.run(submit))
    try:
        line = event_line("big", id="{n}", data="y" * 2900)
        clients = []
        for n in range(3):
            reader, writer = await asyncio.open_unix_connection(str(short_dir / "s.sock"))
            whole = line.replace(b"{n}", str(n).encode())
            writer.write(whole[:-10])
            clients.append((reader, writer, whole[-10:]))
            await wait_unfinished(source, (n + 1) * (len(whole) - 10))
        reader, writer = await asyncio.open_unix_connection(str(short_dir / "s.sock"))
        writer.write(line[:-10])
        async with asyncio.timeout(FAILSAFE_S):
            answer = orjson.loads(await reader.readline())
            assert await reader.read() == b""  # closed
        assert answer["ok"] is False
        assert "line 1 is not complete" in answer["error"] and "over 10KB" in answer["error"]
        writer.close()
        await writer.wait_closed()
        assert [r.position for b in submitted for r in b.rejections] == ["conn 4 line 1"]
        for n, (r, w, tail) in enumerate(clients):
            w.write(tail + b"\n")
            async with asyncio.timeout(FAILSAFE_S):
                assert orjson.loads(await r.readline()) == {"ok": True, "id": str(n)}
            w.close()
            await w.wait_closed()
        await wait_unfinished(source, 0)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await source.close()


# -- a burst of connects -----------------------------------------------------------------------------


async def test_a_burst_of_1000_connects_waits_in_the_backlog(short_dir: Path) -> None:
    """1,000 non-blocking connects while the event loop accepts none (the default backlog of 100
    refused 899 of them with EAGAIN); then every one is served."""
    source = SocketSource(SocketSourceConfig(name="app", path=short_dir / "s.sock"))
    await source.start()
    clients: list[socket.socket] = []
    try:
        codes = []
        for _ in range(1000):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.setblocking(False)
            clients.append(client)
            codes.append(client.connect_ex(str(short_dir / "s.sock")))
        assert codes.count(errno.EAGAIN) == 0 and set(codes) == {0}
    finally:
        for client in clients:
            client.close()
        await source.close()


# -- an HTTP client on the socket ----------------------------------------------------------------------


async def test_an_http_request_gets_one_http_400_and_one_rejection(short_dir: Path) -> None:
    """1. `curl -X POST` (here aiohttp) to the TCP listen port; 2. a real event after it.
    Result: an HTTP/1.1 400 with a hint, one rejection stored (not one per header line), and the
    source still works."""
    cfg = config(short_dir, source=', listen: "127.0.0.1:0"')
    async with running_daemon(cfg) as daemon:
        tcp = next(a for a in daemon.sources[0].describe().split() if a.startswith("tcp:"))
        host, port = tcp.removeprefix("tcp:").rsplit(":", 1)
        url = f"http://{host}:{port}/events"
        async with aiohttp.ClientSession() as session, session.post(url, json={"type": "a"}) as response:
            body = await response.text()
            status = response.status
        assert status == 400
        assert "newline-delimited JSON" in body and "man hookd.yaml" in body
        rows = db_rows(short_dir / "hookd.db", "SELECT position, reason FROM rejected")
        assert len(rows) == 1
        assert rows[0][0] == "conn 1 line 1"
        assert "an HTTP request (POST /events HTTP/1.1)" in str(rows[0][1])
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(event_line(id="after-http") + b"\n")
        async with asyncio.timeout(FAILSAFE_S):
            assert orjson.loads(await reader.readline()) == {"ok": True, "id": "after-http"}
        writer.close()
        await writer.wait_closed()


async def test_a_summary_timer_that_finds_nothing_due_sets_the_next_one(tmp_path: Path) -> None:
    """1. conn 1 and, 30 s later, conn 2 each send more rejections than are shown; 2. conn 1 ends (its
    summary is written then), so the timer set for its window finds nothing due. Result: a timer is
    set for conn 2's window all the same, and its summary is written when that window ends, with no
    more input (it used to wait for the next input or the shutdown)."""
    db = tmp_path / "hookd.db"
    clock = ManualClock()
    async with ingest_on(db, clock) as ingest:
        await ingest.submit(Batch(rejections=[rejection(i, conn=1) for i in range(1, 11)], source="app"))
        await clock.wait_sleeping(60.0)
        clock.advance(30)
        await ingest.submit(Batch(rejections=[rejection(i, conn=2) for i in range(1, 11)], source="app"))
        await ingest.submit(Batch(source="app", ended_stream="conn 1"))
        clock.advance(30)  # conn 1's window ends: nothing left in it
        await clock.wait_sleeping(30.0)  # the timer for conn 2's window
        clock.advance(30)
        rows = await wait_db(db, "SELECT position FROM rejected WHERE position = 'conn 2'", lambda r: len(r) == 1)
    assert rows == [("conn 2",)]
