"""A rate-limited hook in a daemon on a ManualClock: its backlog waits for tokens (spending no
attempt) and goes as the clock moves; a group's hooks share one bucket; due retries go before fresh
deliveries; `hookd status` shows the limit and the wait. Deliveries and the admin listener are real."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson
import pytest

from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.replay import send_now
from hookd.router import Router
from hookd.senders.http import HttpSender
from hookd.store.sqlite import SQLiteStore
from tests.cli_helpers import plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_cli_status import hookd_status
from tests.test_serve import basic_config
from tests.test_store_queries import routed

HOUR = 3600.0


def quiet(daemon: Daemon, clock: ManualClock, *hooks: str) -> bool:
    """Nothing of these hooks is in flight or claimed, and the dispatcher waits on the clock: nothing
    more is sent until the clock moves."""
    lanes = [daemon.dispatcher.lanes[h] for h in hooks]
    return clock.waiting() > 0 and all(not lane.in_flight and not lane.ready for lane in lanes)


def attempts(db: Path, hook: str) -> list[tuple[object, ...]]:
    return db_rows(db, "SELECT state, attempts FROM deliveries WHERE hook = ? ORDER BY event_id", (hook,))


async def test_a_backlog_waits_for_tokens_and_goes_as_the_clock_moves(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock, no idle poll to speak of; hook h with rate_limit 60/min (one a
       second, burst 6), hook free with no limit.
    2. Ten events, each for both hooks.
    3. The clock moves 1 s, then 3 s more.
    Result: free gets all ten at once; h gets its burst of 6 and nothing more while the clock stands
    (4 pending, no attempt counted); then 1 more, then the last 3; every delivery of h ends delivered
    with 1 attempt: waiting spent none."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", rate_limit: 60/min}}\n'
        f'          - {{name: free, events: ["*"], url: "{receiver.url("/free")}"}}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock) as daemon:
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i:02}") for i in range(10)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(16,)])
        await wait_until(lambda: quiet(daemon, clock, "h"))
        assert len(receiver.at("/free")) == 10 and len(receiver.at("/h")) == 6
        assert sorted(attempts(db, "h")) == [("delivered", 1)] * 6 + [("pending", 0)] * 4

        clock.advance(1.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'h' AND state = 'delivered'",
                      lambda r: r == [(7,)])  # fmt: skip
        await wait_until(lambda: quiet(daemon, clock, "h"))
        assert len(receiver.at("/h")) == 7

        clock.advance(3.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'h' AND state = 'delivered'",
                      lambda r: r == [(10,)])  # fmt: skip
    assert attempts(db, "h") == [("delivered", 1)] * 10
    assert len(receiver.at("/h")) == 10
    assert db_rows(db, "SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                       "WHERE d.hook = 'h'") == [(10,)]  # fmt: skip


async def test_hooks_of_a_group_share_its_limit(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hooks a and b in rate_limit_group partner (60/min: burst 6). 2. Five events for both (ten
    deliveries). 3. The clock moves 4 s.
    Result: 6 requests to a and b together while the clock stands, then the other 4; each delivery
    with 1 attempt."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    hooks = (
        f'  - {{name: a, events: ["*"], url: "{receiver.url("/a")}", rate_limit_group: partner}}\n'
        f'          - {{name: b, events: ["*"], url: "{receiver.url("/b")}", rate_limit_group: partner}}'
    )
    cfg = basic_config(short_dir, receiver, hooks, delivery="{rate_limit_groups: {partner: 60/min}}")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(5)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(6,)])
        await wait_until(lambda: quiet(daemon, clock, "a", "b"))
        assert len(receiver.requests) == 6
        assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND attempts = 0") == [(4,)]

        clock.advance(4.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(10,)])
    assert len(receiver.requests) == 10
    assert db_rows(db, "SELECT DISTINCT attempts FROM deliveries") == [(1,)]


async def test_due_retries_go_before_fresh_deliveries(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook h: rate_limit 60/min (burst 6), a retry a fixed second after a failure; the receiver
       answers its first request 503, then 200.
    2. Ten events: six go (the burst), one of them fails and is due again a second later; four fresh
       ones wait, due since they came (before the retry, in due-time order).
    3. The clock moves 1 s: one token.
    Result: the token goes to the retry, not to the oldest fresh delivery; then the four fresh ones as
    the clock moves on. The retried delivery ends with 2 attempts, every other with 1."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    receiver.on("/h", Reply(status=503))
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", rate_limit: 60/min, '
        "retry: {backoff: fixed, initial_delay: 1s, jitter: false}}"
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(10)])
        await wait_db(db, "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state",
                      lambda r: r == [("delivered", 5), ("pending", 5)])  # fmt: skip
        await wait_until(lambda: quiet(daemon, clock, "h"))
        [(failed,)] = db_rows(db, "SELECT event_id FROM deliveries WHERE attempts = 1 AND state = 'pending'")
        fresh_due, retry_due = db_rows(
            db, "SELECT max(next_at) FILTER (WHERE attempts = 0), max(next_at) FILTER (WHERE attempts = 1) "
            "FROM deliveries WHERE state = 'pending'"
        )[0]  # fmt: skip
        assert isinstance(fresh_due, float) and isinstance(retry_due, float)
        assert fresh_due < retry_due  # in due-time order the fresh ones would go first
        assert len(receiver.requests) == 6

        clock.advance(1.0)
        await receiver.wait_count(7)
        assert orjson.loads(receiver.requests[6].body)["id"] == failed

        clock.advance(4.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(10,)])
    rows = db_rows(db, "SELECT event_id, attempts FROM deliveries ORDER BY event_id")
    assert rows == [(e, 2 if e == failed else 1) for e, _ in rows]
    assert len(receiver.requests) == 11


async def test_status_shows_the_limit_and_that_deliveries_wait_for_tokens(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook h with rate_limit 60/min, hook free without; an admin listener. 2. Eight events: h sends
    its burst of 6, 2 wait. 3. `hookd status --json` and `hookd status`.
    Result: h's rate_limit says 60/min, burst 6, no tokens, waiting; free's is null; the table has a
    rate limit column saying so; waiting for tokens is no health problem."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", rate_limit: 60/min}}\n'
        f'          - {{name: free, events: ["*"], url: "{receiver.url("/free")}"}}\n'
        '        admin: {listen: "127.0.0.1:0"}',
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(8)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(14,)])
        await wait_until(lambda: quiet(daemon, clock, "h"))
        url = str(daemon.admin_url)
        as_json = await hookd_status(["status", "--url", url, "--json"])
        human = await hookd_status(["status", "--url", url])
        for _ in range(3):
            await asyncio.sleep(0)
    assert as_json.exit_code == 0, as_json.output
    doc = orjson.loads(as_json.stdout)
    hooks = {h["name"]: h for h in doc["hooks"]}
    limit = hooks["h"]["rate_limit"]
    assert limit["limit"] == "60/min" and limit["burst"] == 6 and limit["group"] is None
    assert limit["tokens"] == 0 and limit["waiting_for_tokens"] is True
    assert limit["next_token_at"] is not None
    assert hooks["h"]["pending"] == 2
    assert hooks["free"]["rate_limit"] is None
    assert doc["health"]["status"] == "ok"
    text = plain(human.stdout)
    assert "rate limit" in text and "60/min, waiting" in text


async def test_replay_wait_keeps_the_hook_limit(short_dir: Path, receiver: Receiver) -> None:
    """1. Eight deliveries of hook h (rate_limit 60/min: burst 6) pending in the database. 2. What
    `hookd replay --wait` runs (send_now, drain mode) on a ManualClock. 3. The clock moves 2 s.
    Result: 6 requests, then the drain waits on the clock for tokens (not done, not spinning); after
    the 2 s the last 2 go and it returns: all delivered, each with 1 attempt."""
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", '
                                            "rate_limit: 60/min}")  # fmt: skip
    settings = load_config(cfg)
    clock = ManualClock()
    store = SQLiteStore(settings.storage.path)
    await store.open()
    sender = HttpSender(max_connections=10, user_agent="hookd-test")
    try:
        await store.ingest([routed(f"e{i}", "h") for i in range(8)], [], [], clock.now())
        ids = [r[0] for r in db_rows(settings.storage.path, "SELECT id FROM deliveries")]
        hooks = Router(settings.hooks).hooks
        sending = asyncio.create_task(send_now(store, hooks, ids, clock=clock, sender=sender, concurrency=10))
        await receiver.wait_count(6)
        await wait_until(lambda: clock.waiting() > 0)
        assert not sending.done() and len(receiver.requests) == 6
        clock.advance(2.0)
        async with asyncio.timeout(5.0):
            rows = await sending
    finally:
        await sender.close()
        await store.close()
    assert [(r.state, r.attempts) for r in rows] == [("delivered", 1)] * 8
    assert len(receiver.requests) == 8


async def test_token_waits_do_not_hide_work_queued_by_another_process(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon on a ManualClock (the usual 1 s poll); hook h (order.*) with rate_limit 10/s, burst
       1, and 40 events for it: a long backlog, a token every 0.1 s. Hook other (user.*) has nothing.
    2. Another process queues a delivery of other straight into the database (as `hookd replay`
       without --wait does), then the clock moves 0.1 s at a time, h sending one delivery each.
    Result: within the poll interval other's delivery is seen and delivered, while h still has most of
    its backlog: a round woken for h's next token (which does not ask every lane again, as the poll's
    timeout does) still looks for work of the lanes that had none."""
    hooks = (
        f'  - {{name: h, events: ["order.*"], url: "{receiver.url("/h")}", rate_limit: 10/s}}\n'
        f'          - {{name: other, events: ["user.*"], url: "{receiver.url("/other")}"}}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    delivered_h = "SELECT count(*) FROM deliveries WHERE hook = 'h' AND state = 'delivered'"
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"o{i:02}") for i in range(40)])
        await wait_db(db, delivered_h, lambda r: r == [(1,)])
        await wait_until(lambda: quiet(daemon, clock, "h") and daemon.dispatcher.lanes["other"].exhausted)
        now = clock.now()
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("INSERT INTO events (id, type, source, time, received_at, body) VALUES "
                         "('u1', 'user.created', 'app', '2026-01-01T00:00:00Z', ?, ?)",
                         (now, event_line("user.created", id="u1")))  # fmt: skip
            conn.execute("INSERT INTO deliveries (id, event_id, hook, state, attempts, next_at, created_at, "
                         "updated_at) VALUES ('d-u1', 'u1', 'other', 'pending', 0, ?, ?, ?)",
                         (now, now, now))  # fmt: skip
        conn.close()
        for step in range(1, 13):
            clock.advance(0.1)
            await wait_db(db, delivered_h, lambda r, n=step + 1: r == [(n,)])  # type: ignore[misc]
            await wait_until(lambda: quiet(daemon, clock, "h"))
        await wait_db(db, "SELECT state FROM deliveries WHERE hook = 'other'", lambda r: r == [("delivered",)])
        assert db_rows(db, delivered_h)[0][0] == 13  # h: 27 still waiting
    assert [r.path for r in receiver.requests].count("/other") == 1


async def test_a_batched_hook_takes_one_token_per_request(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook h batches up to 3 events and is limited to 1/min (burst 1).
    2. Nine events. 3. The clock moves a minute, twice.
    Result: one request a minute, each a batch of 3 events in event order (a batch is one request, so
    one token); the deliveries not yet sent wait unbatched with no attempt counted; all nine end
    delivered with 1 attempt."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    hooks = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", rate_limit: 1/min, '
        "batch: {max_events: 3, max_wait: 1s}}"
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock) as daemon:
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(9)])
        assert all(a["ok"] for a in acks)
        for minute in range(3):
            await receiver.wait_count(minute + 1, "/h")
            await wait_until(lambda: quiet(daemon, clock, "h"))
            assert len(receiver.at("/h")) == minute + 1
            sent = 3 * (minute + 1)
            waiting = db_rows(db, "SELECT count(*) FROM deliveries WHERE attempts = 0 AND batch_id IS NULL")
            assert waiting == [(9 - sent,)]
            clock.advance(60.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(9,)])
    bodies = [r.json() for r in receiver.at("/h")]
    assert [[item["id"] for item in body] for body in bodies] == [  # type: ignore[index, union-attr]
        ["e0", "e1", "e2"],
        ["e3", "e4", "e5"],
        ["e6", "e7", "e8"],
    ]
    assert attempts(db, "h") == [("delivered", 1)] * 9


async def test_hooks_of_a_group_take_turns_at_its_tokens(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hooks a and b in rate_limit_group partner (60/min: burst 6), each with a backlog of 20.
    2. The clock moves a second at a time until 20 requests went.
    Result: the group's tokens went to both hooks in turn, not to one until its backlog was empty:
    of the 20 requests, each hook got 10, give or take one."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", HOUR)
    hooks = (
        f'  - {{name: a, events: ["*"], url: "{receiver.url("/a")}", rate_limit_group: partner}}\n'
        f'          - {{name: b, events: ["*"], url: "{receiver.url("/b")}", rate_limit_group: partner}}'
    )
    cfg = basic_config(short_dir, receiver, hooks, delivery="{rate_limit_groups: {partner: 60/min}}")
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i:02}") for i in range(20)])
        await wait_until(lambda: len(receiver.requests) == 6 and quiet(daemon, clock, "a", "b"))
        while len(receiver.requests) < 20:
            sent = len(receiver.requests)
            clock.advance(1.0)
            await wait_until(lambda n=sent: len(receiver.requests) > n and quiet(daemon, clock, "a", "b"))
        paths = [r.path for r in receiver.requests]
    assert abs(paths.count("/a") - paths.count("/b")) <= 2, " ".join(paths)
