"""`ordering_key` in a running daemon: deliveries of one key go out one at a time in event order, a
failing one holds back its key only, one that fails for good lets the next go, and a kill -9 in the
middle keeps the order."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from tests.conftest import (
    DaemonProcess,
    Received,
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_h19_history import hookd, plain
from tests.test_h20_guard_validate import validate
from tests.test_serve import basic_config


def ordered_hook(receiver: Receiver, *, concurrency: int = 10, retry: str = "{schedule: [1m], jitter: false}") -> str:
    # The path names the key, so the receiver answers and counts open requests per key.
    url = receiver.url("/o/") + "{{ data.order_id }}"
    return (
        f'  - {{name: h, events: ["*"], url: "{url}", ordering_key: data.order_id, concurrency: {concurrency}, '
        f"allow_destinations: [127.0.0.1/32], retry: {retry}}}"
    )


def order_event(event_id: str, order: str | None) -> bytes:
    return event_line("order.updated", id=event_id, data={"order_id": order} if order is not None else {})


def sent(receiver: Receiver, key: str) -> list[str]:
    """The event ids the receiver got for `key`, in arrival order (retries repeat an id)."""
    return [event_id(r) for r in receiver.at(f"/o/{key}")]


def event_id(request: Received) -> str:
    body = request.json()
    assert isinstance(body, dict)
    return str(body["id"])


async def test_a_failing_key_holds_back_only_its_own_deliveries(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A daemon on a ManualClock; hook h orders by data.order_id (retry after 1 minute); the receiver
       answers a1 with 503 once. 2. Events a1 b1 a2 b2 a3 b3, and n1 with no order_id.
    Result: b1 b2 b3 and n1 are delivered while the clock stands; a1 waits for its retry and a2, a3 wait
    for a1 with no attempt spent (history shows their key); a minute later a1, a2, a3 go, in order."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/o/A", Reply(status=503))  # a1, the first of key A
    db = short_dir / "hookd.db"
    clock = ManualClock()
    ids = ["a1", "b1", "a2", "b2", "a3", "b3"]
    async with running_daemon(basic_config(short_dir, receiver, ordered_hook(receiver)), clock=clock):
        await send_lines(short_dir / "s.sock", [order_event(i, i[0].upper()) for i in ids] + [order_event("n1", None)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(4,)])
        rows = await wait_db(db, "SELECT event_id, state, attempts, ordering_key FROM deliveries WHERE event_id "
                                 "LIKE 'a%' ORDER BY event_id", lambda r: r[0][1] == "pending")  # fmt: skip
        assert rows == [("a1", "pending", 1, "A"), ("a2", "pending", 0, "A"), ("a3", "pending", 0, "A")]
        assert sent(receiver, "B") == ["b1", "b2", "b3"]
        assert db_rows(db, "SELECT ordering_key FROM deliveries WHERE event_id = 'n1'") == [(None,)]
        shown = await hookd("history", "show", "a2", "--db", str(db))
        assert shown.exit_code == 0, shown.output
        text = plain(shown.stdout)
        assert "order key    A" in text and "once the earlier deliveries of its ordering key have finished" in text
        as_json = await hookd("history", "show", "a2", "--db", str(db), "--json")
        assert orjson.loads(as_json.stdout)["deliveries"][0]["ordering_key"] == "A"

        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):  # turns for a dispatcher that would wrongly send a2
            await asyncio.sleep(0)
        assert sent(receiver, "A") == ["a1"]
        clock.advance(60.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(7,)])
    assert sent(receiver, "A") == ["a1", "a1", "a2", "a3"]
    assert db_rows(db, "SELECT event_id, attempts FROM deliveries WHERE event_id LIKE 'a%' ORDER BY event_id") == [
        ("a1", 2), ("a2", 1), ("a3", 1),
    ]  # fmt: skip


async def test_a_delivery_that_fails_for_good_lets_the_next_of_its_key_go(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h orders by data.order_id; the receiver answers a1 with 400 (final). 2. a1, a2.
    Result: a1 failed after one attempt, then a2 delivered."""
    receiver.on("/o/A", Reply(status=400))  # a1
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, ordered_hook(receiver))):
        await send_lines(short_dir / "s.sock", [order_event("a1", "A"), order_event("a2", "A")])
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: all(s in ("delivered", "failed") for _, s, _ in r))  # fmt: skip
    assert rows == [("a1", "failed", 1), ("a2", "delivered", 1)]
    assert sent(receiver, "A") == ["a1", "a2"]


async def test_order_holds_per_key_under_concurrency_with_many_keys(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h, concurrency 10, orders by data.order_id; 20 keys, 10 events each, sent interleaved
       in 4 connections' worth of batches; the receiver answers each key with its own small delay, and
       the first request of every third key with 503 (retried after 10 ms), and holds K01's first until
       five other keys have been sent to.
    Result: every key's events arrive in event order (a retry repeats an id, never overtaken), each
    key had at most one request open at a time, and all 200 are delivered."""
    keys = [f"K{k:02d}" for k in range(20)]
    for k, key in enumerate(keys):
        receiver.default[f"/o/{key}"] = Reply(delay_s=0.001 * (k % 4))
        if k % 3 == 0:
            receiver.on(f"/o/{key}", Reply(status=503))
    hold = asyncio.Event()
    receiver.on("/o/K01", Reply(hold=hold))  # K01's first event waits until other keys have gone on
    hook = ordered_hook(receiver, retry="{schedule: [10ms], jitter: false}")
    db = short_dir / "hookd.db"
    lines = [order_event(f"{key}-{i}", key) for i in range(10) for key in keys]
    async with running_daemon(basic_config(short_dir, receiver, hook)):
        for start in range(0, len(lines), 50):
            await send_lines(short_dir / "s.sock", lines[start : start + 50])
        await receiver.wait_for(lambda rs: len({r.path for r in rs}) >= 6)
        hold.set()
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(200,)])
    for k, key in enumerate(keys):
        expected = [0, *range(10)] if k % 3 == 0 else list(range(10))
        assert [int(i.rsplit("-", 1)[1]) for i in sent(receiver, key)] == expected, key
        assert receiver.peak[f"/o/{key}"] == 1, key  # one at a time
    assert receiver.peak["*"] > 1  # K01's first was open while other keys went on


async def test_a_key_that_cannot_be_evaluated_fails_the_delivery_and_null_goes_unordered(
    short_dir: Path, receiver: Receiver
) -> None:
    """Hook h orders by `data.parts && join('-', data.parts)`: an event whose parts hold a number
    cannot give a key, so its delivery fails at once with the reason (nothing sent), counted as an
    ordering_key error and alerted (hookd.delivery.failed to hook ops); one without parts (null key)
    is delivered unordered."""
    hook = (
        f'  - {{name: h, events: ["x"], url: "{receiver.url("/in")}", '
        "ordering_key: \"data.parts && join('-', data.parts)\"}\n"
        f'          - {{name: ops, events: ["hookd.*"], url: "{receiver.url("/ops")}"}}'
    )
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hook)) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("x", id="bad", data={"parts": ["a", 1]}),
                                                event_line("x", id="none", data={})])  # fmt: skip
        rows = await wait_db(db, "SELECT event_id, state, attempts, ordering_key, last_error FROM deliveries "
                                 "WHERE hook = 'h' ORDER BY event_id",
                             lambda r: len(r) == 2 and r[1][1] == "delivered")  # fmt: skip
        await receiver.wait_count(1, "/ops")
        errors = daemon.ingest.hook_errors
        assert (errors.ordering_key_errors["h"], errors.filter_errors["h"]) == (1, 0)
        latest = errors.latest["h"]
        assert (latest.kind, latest.event_id) == ("ordering_key", "bad")
    [(bad, state, attempts, key, error), none] = rows
    assert (bad, state, attempts, key) == ("bad", "failed", 0, None)
    assert isinstance(error, str) and error.startswith("ordering_key could not be evaluated on this event: ")
    assert "replay the delivery" in error
    assert none[:4] == ("none", "delivered", 1, None)
    assert [r.path for r in receiver.at("/in")] == ["/in"]
    [alert] = [r.json() for r in receiver.at("/ops")]
    assert isinstance(alert, dict) and alert["type"] == "hookd.delivery.failed"
    assert alert["data"]["hook"] == "h" and alert["data"]["error"] == error and alert["data"]["attempts"] == 0


async def test_kill_9_and_restart_keep_each_keys_order(short_dir: Path, receiver: Receiver) -> None:
    """1. A real `hookd serve`; hook h orders by data.order_id; the receiver holds a1's first request.
    2. a1, a2, a3 of key A, and b1; kill -9 while a1 is in flight. 3. Start again; release the hold.
    Result: after the restart a1 is sent again first (recovered, still its key's head), then a2 and
    a3, in order; nothing of key A overtook a1."""
    hold = asyncio.Event()
    receiver.on("/o/A", Reply(hold=hold))  # a1
    db = short_dir / "hookd.db"
    config = basic_config(short_dir, receiver, ordered_hook(receiver))
    daemon = DaemonProcess(config)
    try:
        await daemon.start()
        await send_lines(short_dir / "s.sock", [order_event(i, i[0].upper()) for i in ("a1", "a2", "b1", "a3")])
        await receiver.wait_count(1, "/o/A")
        await wait_db(db, "SELECT state FROM deliveries WHERE event_id = 'b1'", lambda r: r == [("delivered",)])
        daemon.kill9()
        await daemon.wait()
        assert db_rows(db, "SELECT event_id, state, next_at IS NULL FROM deliveries WHERE event_id LIKE 'a%' "
                           "ORDER BY event_id") == [("a1", "delivering", 0), ("a2", "pending", 1),
                                                    ("a3", "pending", 1)]  # fmt: skip
        hold.set()
        await daemon.close()
        daemon = DaemonProcess(config)
        await daemon.start()
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(4,)])
    finally:
        await daemon.stop()
    assert sent(receiver, "A") == ["a1", "a1", "a2", "a3"]


def test_validate_names_a_bad_ordering_key_at_its_line(tmp_path: Path) -> None:
    """A syntax error in ordering_key is a validate error at file:line:col, as for a filter."""
    text = (
        'version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: "https://example.com/h"\n'
        '    ordering_key: "data.[order"\n'
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert any(line.startswith(f"{path}:6:") and "ordering_key" in line for line in lines), lines


async def test_replay_wait_sends_a_keys_replays_in_order(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon delivers a1, a2, a3 of key A and stops. 2. `hookd replay --hook h --wait`.
    Result: the three replays are queued behind one another (only the first due) and sent by the
    command itself, one after another in event order; each is delivered with one attempt."""
    db = short_dir / "hookd.db"
    config = basic_config(short_dir, receiver, ordered_hook(receiver))
    async with running_daemon(config):
        await send_lines(short_dir / "s.sock", [order_event(i, "A") for i in ("a1", "a2", "a3")])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(3,)])
    result = await hookd("replay", "-c", str(config), "--hook", "h", "--wait")
    assert result.exit_code == 0, result.output
    assert sent(receiver, "A") == ["a1", "a2", "a3", "a1", "a2", "a3"]
    assert db_rows(db, "SELECT event_id, state, attempts, ordering_key FROM deliveries WHERE replay_of IS NOT NULL "
                       "ORDER BY id") == [("a1", "delivered", 1, "A"), ("a2", "delivered", 1, "A"),
                                          ("a3", "delivered", 1, "A")]  # fmt: skip


def test_hookd_test_shows_a_key_that_cannot_be_evaluated_as_the_daemon_records_it(tmp_path: Path) -> None:
    """`hookd test` on an event whose ordering key fails: the hook is shown failed with the reason
    the daemon would record (exit 1), not as a delivery that would be sent."""
    from typer.testing import CliRunner

    from hookd.cli.app import app

    config = tmp_path / "hookd.yaml"
    config.write_text(
        'version: 1\nhooks:\n  - name: h\n    events: ["*"]\n    url: "https://example.com/h"\n'
        "    ordering_key: \"data.parts && join('-', data.parts)\"\n",
        encoding="utf-8",
    )
    bad = CliRunner().invoke(app, ["test", "-c", str(config), "--type", "x", "--data", '{"parts": [1]}'],
                             env={"HOOKD_CONFIG": None})  # fmt: skip
    good = CliRunner().invoke(app, ["test", "-c", str(config), "--type", "x", "--data", '{"parts": ["a"]}'],
                              env={"HOOKD_CONFIG": None})  # fmt: skip
    assert bad.exit_code == 1, bad.output
    assert "h: failed" in plain(bad.stdout) and "ordering_key could not be evaluated on this event" in plain(bad.stdout)
    assert good.exit_code == 0, good.output


async def test_a_hook_that_drops_its_ordering_key_lets_waiting_deliveries_go(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Hook h orders by data.order_id; a1 gets 503 (retry in an hour), a2 and a3 wait for it.
    2. Stop; the config loses ordering_key; start again.
    Result: a2 and a3 are delivered at the start (a1 still waits for its retry), and the log says so."""
    caplog.set_level(logging.INFO, logger="hookd")
    receiver.on("/o/A", Reply(status=503))
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, ordered_hook(receiver, retry="{schedule: [1h]}"))):
        await send_lines(short_dir / "s.sock", [order_event(i, "A") for i in ("a1", "a2", "a3")])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'pending' AND attempts = 1",
                      lambda r: r == [(1,)])  # fmt: skip
    unordered = ordered_hook(receiver).replace("ordering_key: data.order_id, ", "")
    async with running_daemon(basic_config(short_dir, receiver, unordered)):
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: [s for _, s, _ in r] == ["pending", "delivered", "delivered"])  # fmt: skip
    assert rows == [("a1", "pending", 1), ("a2", "delivered", 1), ("a3", "delivered", 1)]
    assert any("go unordered" in r.getMessage() and "deliveries=2" in r.getMessage() for r in caplog.records)


async def test_a_batched_hook_with_a_key_batches_only_each_keys_first(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h batches (max 10 events, max_wait 10ms) and orders by data.order_id; the receiver
       answers the first batch 503 once (retry after 10 ms). 2. a1 a2 b1 b2 a3 in one commit.
    Result: every batch holds at most one delivery per key; each key's events arrive in event order
    across the batches (the failed batch is sent again before any later one of its keys), and all five
    are delivered."""
    receiver.on("/b", Reply(status=503))
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/b")}", ordering_key: data.order_id, '
        "batch: {max_events: 10, max_wait: 10ms}, retry: {schedule: [10ms], jitter: false}}"
    )
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hook)):
        await send_lines(short_dir / "s.sock", [order_event(i, i[0].upper()) for i in ("a1", "a2", "b1", "b2", "a3")])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(5,)])
    batches = [[item["id"] for item in r.json()] for r in receiver.at("/b")]  # type: ignore[attr-defined]
    for batch in batches:
        keys = [i[0] for i in batch]
        assert len(keys) == len(set(keys)), batches
    for key in ("a", "b"):
        seen = [i for batch in batches for i in batch if i[0] == key]
        firsts = list(dict.fromkeys(seen))
        assert firsts == sorted(firsts) and seen == sorted(seen), batches
    assert batches[0] == batches[1] == ["a1", "b1"]  # the failed batch again, before a2 or b2
