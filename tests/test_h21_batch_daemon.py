"""Batching (issue 21): a hook with `batch:` sends its deliveries several per request, as a JSON array,
formed by count, size and wait (on a fake clock), and retried or failed as a whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

import hookd.cli.replay
from tests.cli_helpers import hookd
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    open_store,
    running_daemon,
    send_lines,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config


def batched(receiver: Receiver, batch: str, *, extra: str = "") -> str:
    return (
        f'  - {{name: b, events: ["*"], url: "{receiver.url("/b")}", batch: {batch}, '
        f"retry: {{initial_delay: 30s, jitter: false}}{extra}}}"
    )


def ids_in(body: bytes) -> list[str]:
    items = orjson.loads(body)
    assert isinstance(items, list)
    return [str(item["id"]) for item in items]


async def test_batches_close_at_max_events_and_the_rest_goes_after_max_wait(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook b batches {max_events: 3, max_wait: 10s}.
    2. Seven events, one connection.
    3. The clock moves 10 s on.
    Result: (2) two requests, each a JSON array of three envelopes in event order, and nothing for the
    seventh while the clock stands; (3) a third request with the seventh alone. Every delivery stored
    with the batch id its request carried as webhook-id, one attempt record per request."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 3, max_wait: 10s}"))
    async with running_daemon(cfg, clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(1, 8)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(6,)])
        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):  # turns for anything that would wrongly send the seventh now
            await asyncio.sleep(0)
        requests = receiver.at("/b")
        assert len(requests) == 2
        assert sorted(ids_in(r.body) for r in requests) == [["e1", "e2", "e3"], ["e4", "e5", "e6"]]
        assert db_rows(db, "SELECT state FROM deliveries WHERE event_id = 'e7'") == [("pending",)]

        clock.advance(10.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(7,)])
    requests = receiver.at("/b")
    assert len(requests) == 3 and ids_in(requests[2].body) == ["e7"]
    for r in requests:
        batch_id = r.headers["webhook-id"]
        members = db_rows(db, "SELECT event_id FROM deliveries WHERE batch_id = ? ORDER BY id", (batch_id,))
        assert [m[0] for m in members] == ids_in(r.body)
        assert db_rows(db, "SELECT attempt, status FROM attempts WHERE delivery_id = ?", (batch_id,)) == [(1, 200)]
    assert db_rows(db, "SELECT count(*) FROM attempts") == [(3,)]
    assert db_rows(db, "SELECT count(*), sum(members) FROM batches") == [(3, 7)]


def padded(i: int, pad: int) -> bytes:
    return event_line(id=f"e{i}", data={"pad": "x" * pad})


async def test_a_batch_never_passes_max_size_and_a_larger_payload_goes_alone(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 100, max_size: 500B, max_wait: 10s}; a ManualClock.
    2. Eight events of ~150 bytes and one (e9) of ~700 bytes, then the clock moves 10 s on.
    Result: every event arrives once, in event order; each body is at most 500 bytes except e9's,
    which went alone; each request but the last closed because one more payload would have passed
    500 bytes."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 100, max_size: 500B, max_wait: 10s}"))
    lines = [padded(i, 80) for i in range(1, 9)] + [padded(9, 700)]
    async with running_daemon(cfg, clock=clock):
        acks = await send_lines(short_dir / "s.sock", lines)
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE batch_id IS NOT NULL", lambda r: r[0][0] >= 6)
        clock.advance(10.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(9,)])
    requests = receiver.at("/b")
    got = [ids_in(r.body) for r in requests]
    assert sorted(i for ids in got for i in ids) == sorted(f"e{i}" for i in range(1, 10))
    for ids in got:
        assert ids == sorted(ids, key=lambda i: int(i[1:]))  # event order inside each batch
    stored = {str(e): bytes(b) for e, b in db_rows(db, "SELECT id, body FROM events")}
    for r in requests:
        ids = ids_in(r.body)
        assert r.body == b"[" + b",".join(stored[i] for i in ids) + b"]"  # each payload as the event's envelope
        if ids == ["e9"]:
            continue
        assert len(r.body) <= 500
    small = [r for r in requests if ids_in(r.body) != ["e9"]]
    for r in small[:-1]:  # closed for size: the next event's payload would not have fitted
        following = int(ids_in(r.body)[-1][1:]) + 1
        assert len(r.body) + 1 + len(stored[f"e{following}"]) > 500


async def test_a_failed_batch_is_retried_whole_under_the_same_id_with_the_same_bytes(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 3}; its receiver answers 500 once, then 200; retries after 30 s.
    2. Three events; 3. the clock moves 30 s on.
    Result: two requests with the same webhook-id and the same body bytes (the three events); the
    batch has two attempt records (500 retry, 200 delivered) and no delivery has one of its own; each
    delivery is delivered after 2 attempts with the last status 200."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/b", Reply(status=500))
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 3, max_wait: 1h}"))
    async with running_daemon(cfg, clock=clock):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2, 3)])
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
        await wait_db(db, "SELECT DISTINCT state FROM deliveries", lambda r: r == [("pending",)])
        clock.advance(30.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(3,)])
    first, second = receiver.at("/b")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body and ids_in(first.body) == ["e1", "e2", "e3"]
    assert (first.headers["hookd-attempt"], second.headers["hookd-attempt"]) == ("1", "2")
    batch_id = first.headers["webhook-id"]
    assert db_rows(db, "SELECT attempt, status, outcome FROM attempts WHERE delivery_id = ? ORDER BY attempt",
                   (batch_id,)) == [(1, 500, "pending"), (2, 200, "delivered")]  # fmt: skip
    assert db_rows(db, "SELECT count(*) FROM attempts WHERE delivery_id != ?", (batch_id,)) == [(0,)]
    assert (
        db_rows(db, "SELECT batch_id, state, attempts, last_status FROM deliveries")
        == [(batch_id, "delivered", 2, 200)] * 3
    )
    assert db_rows(db, "SELECT attempts, members FROM batches") == [(2, 3)]


async def test_a_permanent_failure_fails_every_delivery_of_the_batch(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2}; its receiver answers 400 (final).
    2. Two events.
    Result: one request; both deliveries failed after 1 attempt with status 400, the one attempt
    record the batch's, outcome failed."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/b", Reply(status=400, body=b"bad batch"))
    db = short_dir / "hookd.db"
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 2, max_wait: 1h}"))
    async with running_daemon(cfg, clock=ManualClock()):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        rows = await wait_db(db, "SELECT state, attempts, last_status FROM deliveries",
                             lambda r: all(row[0] == "failed" for row in r) and len(r) == 2)  # fmt: skip
    assert rows == [("failed", 1, 400)] * 2
    batch_id = receiver.at("/b")[0].headers["webhook-id"]
    assert db_rows(db, "SELECT delivery_id, outcome, response_excerpt FROM attempts") == [
        (batch_id, "failed", "bad batch")
    ]

    # Each failed delivery is replayable: the replays are new deliveries, which the hook batches again
    # (replay --wait sends what is due at once, without waiting for max_wait).
    receiver.default["/b"] = Reply()
    result = await hookd("replay", "-c", str(cfg), "--status", "failed", "--wait")
    assert result.exit_code == 0, result.output
    assert "2 delivered, 0 failed" in result.output
    again = receiver.at("/b")[1]
    assert again.headers["webhook-id"] != batch_id and sorted(ids_in(again.body)) == ["e1", "e2"]
    assert db_rows(db, "SELECT replay_of IS NOT NULL, state, batch_id = ? FROM deliveries ORDER BY id",
                   (batch_id,)) == [(0, "failed", 1)] * 2 + [(1, "delivered", 0)] * 2  # fmt: skip


async def test_one_event_the_payload_cannot_render_for_fails_alone(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2} with payload {n: "{{ length(data.v) }}"}.
    2. Three events; the second's data.v is a number, which length() refuses.
    Result: the other two go in one batch as [{"n": 2}, {"n": 3}]; the second fails alone with the
    template's reason, in no batch, without a request."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    hook = batched(receiver, "{max_events: 2, max_wait: 1h}", extra=', payload: {n: "{{ length(data.v) }}"}')
    cfg = basic_config(short_dir, receiver, hook)
    async with running_daemon(cfg, clock=ManualClock()):
        lines = [event_line(id="e1", data={"v": "ab"}), event_line(id="e2", data={"v": 7}),
                 event_line(id="e3", data={"v": "abc"})]  # fmt: skip
        await send_lines(short_dir / "s.sock", lines)
        rows = await wait_db(db, "SELECT event_id, state, batch_id IS NOT NULL FROM deliveries ORDER BY event_id",
                             lambda r: len(r) == 3 and all(s in ("delivered", "failed") for _, s, _ in r))  # fmt: skip
    assert rows == [("e1", "delivered", 1), ("e2", "failed", 0), ("e3", "delivered", 1)]
    assert [orjson.loads(r.body) for r in receiver.at("/b")] == [[{"n": 2}, {"n": 3}]]
    (error,) = db_rows(db, "SELECT last_error FROM deliveries WHERE event_id = 'e2'")[0]
    assert "cannot render the request: payload.n" in str(error)


async def test_batch_payload_renders_over_the_events_and_their_count(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2, payload: {items: "{{ events }}", n: "{{ count }}"}} with a
    payload template of its own, {id: "{{ id }}"}.
    2. Two events.
    Result: one request whose body is {"items": [{"id": "e1"}, {"id": "e2"}], "n": 2}."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    batch = '{max_events: 2, max_wait: 1h, payload: {items: "{{ events }}", n: "{{ count }}"}}'
    cfg = basic_config(short_dir, receiver, batched(receiver, batch, extra=', payload: {id: "{{ id }}"}'))
    async with running_daemon(cfg, clock=ManualClock()):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(2,)])
    (request,) = receiver.at("/b")
    assert request.json() == {"items": [{"id": "e1"}, {"id": "e2"}], "n": 2}


async def test_prune_removes_a_batch_with_its_last_delivery(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2}; two events are delivered in one batch.
    2. Prune everything finished before a time after both.
    Result: the deliveries, the batch's attempt record and the batch itself are gone, and counted."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = basic_config(short_dir, receiver, batched(receiver, "{max_events: 2, max_wait: 1h}"))
    async with running_daemon(cfg, clock=clock):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(2,)])
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
    async with open_store(db) as store:
        counts = await store.prune_counts(clock.now() + 1)
    assert (counts.deliveries, counts.attempts) == (2, 1)
    assert db_rows(db, "SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM attempts)") == [(0, 0)]


async def test_a_batched_hook_and_a_plain_one_share_the_daemon(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 50, max_wait: 1h}; hook p, beside it, sends one request per event;
    delivery.concurrency 2.
    2. A hundred events, in two connections' worth.
    Result: p gets a hundred requests, one event each, with the event id as webhook-id; b gets two
    arrays of fifty, every event once: the batched hook claiming full batches does not keep the plain
    one from its turn, nor the other way round."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    db = short_dir / "hookd.db"
    hooks = (
        batched(receiver, "{max_events: 50, max_wait: 1h}")
        + f'\n          - {{name: p, events: ["*"], url: "{receiver.url("/p")}"}}'
    )
    cfg = basic_config(short_dir, receiver, hooks, delivery="{concurrency: 2}")
    async with running_daemon(cfg, clock=ManualClock()):
        for start in (0, 50):
            await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(start, start + 50)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(200,)])
    assert sorted(r.headers["webhook-id"] for r in receiver.at("/p")) == sorted(f"e{i}" for i in range(100))
    arrays = [ids_in(r.body) for r in receiver.at("/b")]
    assert [len(a) for a in arrays] == [50, 50]
    assert sorted(i for a in arrays for i in a) == sorted(f"e{i}" for i in range(100))


async def test_a_batch_failed_for_good_raises_an_alert_per_delivery_and_alerts_batch_without_loops(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook b batches {max_events: 2} to a receiver answering 400; hook ops (events ["hookd.*"])
    batches {max_events: 2} too, to a receiver answering 400 as well.
    2. Two events.
    Result: b's batch fails, and each of its two deliveries raises one hookd.delivery.failed alert,
    naming it; ops gets the two alerts in one batch, which fails too, and raises no alert about them
    (no loop)."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/b", Reply(status=400))
    receiver.default["/ops"] = Reply(status=400)
    hooks = (
        batched(receiver, "{max_events: 2, max_wait: 1h}")
        + f'\n          - {{name: ops, events: ["hookd.*"], url: "{receiver.url("/ops")}", '
        "batch: {max_events: 2, max_wait: 1h}}"
    )
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=ManualClock()):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in (1, 2)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE hook = 'ops' AND state = 'failed'",
                      lambda r: r == [(2,)])  # fmt: skip
        for _ in range(20):  # turns for an alert about the alerts, which must not come
            await asyncio.sleep(0)
    (alerts,) = [orjson.loads(r.body) for r in receiver.at("/ops")]
    failed = {str(i): str(e) for i, e in db_rows(db, "SELECT id, event_id FROM deliveries WHERE hook = 'b'")}
    assert sorted(a["data"]["delivery_id"] for a in alerts) == sorted(failed)
    assert sorted(a["data"]["event_id"] for a in alerts) == ["e1", "e2"]
    assert {a["type"] for a in alerts} == {"hookd.delivery.failed"}
    assert db_rows(db, "SELECT count(*) FROM events WHERE type LIKE 'hookd.%'") == [(2,)]
