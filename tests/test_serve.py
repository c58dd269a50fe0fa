"""hookd serve in process: real unix socket, real SQLite file, real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from hookd import __version__
from hookd.config.model import SocketSourceConfig
from hookd.sources.base import Accepted, Batch
from hookd.sources.socket import SocketSource
from hookd.store.base import DueDelivery
from tests.conftest import (
    FAILSAFE_S,
    Receiver,
    Reply,
    daemon_config,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    wait_db,
)


def basic_config(d: Path, receiver: Receiver, hooks: str, *, extra_source: str = "", delivery: str = "{}") -> Path:
    return daemon_config(
        d,
        f"""
        delivery: {delivery}
        sources:
          - {{name: app, type: socket, path: {d}/s.sock, max_event_size: 2KB}}
        {extra_source}
        hooks:
        {hooks}
        """,
    )


def fast_retry(max_attempts: int = 5) -> str:
    return f"{{max_attempts: {max_attempts}, initial_delay: 10ms, max_delay: 50ms, jitter: false}}"


async def test_socket_event_reaches_receiver_with_body_and_headers(short_dir: Path, receiver: Receiver) -> None:
    """1. A hook with a payload template and a plain hook; 2. one event over the socket.
    Result: the ack carries the event id; both receivers get it with the right headers and bodies."""
    cfg = basic_config(
        short_dir,
        receiver,
        f"""
          - name: plain
            events: ["*"]
            url: {receiver.url("/plain")}
            headers: {{X-Source: hookd, X-Type: "{{{{ type }}}}"}}
          - name: shaped
            events: ["sales_order.*"]
            filter: "data.total > `100` && data.status != 'draft'"
            url: {receiver.url("/shaped")}
            method: PUT
            payload:
              order_id: "{{{{ data.id }}}}"
              items: "{{{{ data.items }}}}"
              note: "Order {{{{ data.id }}}} for {{{{ data.customer.name }}}}"
        """,
    )
    async with running_daemon(cfg):
        data = {"id": 7, "total": 250, "status": "paid", "items": [1, 2], "customer": {"name": "Ada"}}
        [ack] = await send_lines(short_dir / "s.sock", [event_line("sales_order.created", id="evt-1", data=data)])
        assert ack == {"ok": True, "id": "evt-1"}
        await receiver.wait_count(2)
    [plain] = receiver.at("/plain")
    assert plain.method == "POST"
    envelope = plain.json()
    assert isinstance(envelope, dict)
    assert envelope["id"] == "evt-1" and envelope["type"] == "sales_order.created" and envelope["data"] == data
    assert plain.headers["webhook-id"] == "evt-1"
    assert plain.headers["webhook-timestamp"].isdigit()
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.headers["User-Agent"] == f"hookd/{__version__}"
    assert plain.headers["X-Source"] == "hookd"
    assert plain.headers["X-Type"] == "sales_order.created"
    [shaped] = receiver.at("/shaped")
    assert shaped.method == "PUT"
    assert shaped.json() == {"order_id": 7, "items": [1, 2], "note": "Order 7 for Ada"}
    assert shaped.headers["webhook-id"] == "evt-1"


async def test_filter_and_glob_decide_fan_out(short_dir: Path, receiver: Receiver) -> None:
    cfg = basic_config(
        short_dir,
        receiver,
        f"""
          - {{name: orders, events: ["sales_order.*"], url: "{receiver.url("/orders")}"}}
          - {{name: big, events: ["*"], filter: "data.total > `100`", url: "{receiver.url("/big")}"}}
        """,
    )
    async with running_daemon(cfg):
        acks = await send_lines(
            short_dir / "s.sock",
            [
                event_line("sales_order.line.added", id="a", data={"total": 5}),  # orders only (* spans dots)
                event_line("payment.received", id="b", data={"total": 500}),  # big only
                event_line("user.created", id="c", data={"total": 1}),  # neither
                event_line("sales_order.created", id="d", data={"total": 101}),  # both
            ],
        )
        assert [a["ok"] for a in acks] == [True] * 4
        await receiver.wait_count(4)
        rows = await wait_db(short_dir / "hookd.db", "SELECT event_id, hook FROM deliveries ORDER BY 1, 2", bool)
    assert rows == [("a", "orders"), ("b", "big"), ("d", "big"), ("d", "orders")]
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == ["a", "b", "d", "d"]
    # An event that matched nothing is still stored (history shows it).
    assert db_rows(short_dir / "hookd.db", "SELECT id FROM events WHERE id = 'c'") == [("c",)]


async def test_duplicate_event_id_is_acknowledged_once_delivered_once(short_dir: Path, receiver: Receiver) -> None:
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    async with running_daemon(cfg):
        sock = short_dir / "s.sock"
        first = await send_lines(sock, [event_line(id="dup-1"), event_line(id="dup-1")])
        again = await send_lines(sock, [event_line(id="dup-1")])
        assert first == [{"ok": True, "id": "dup-1"}, {"ok": True, "id": "dup-1", "duplicate": True}]
        assert again == [{"ok": True, "id": "dup-1", "duplicate": True}]
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
    assert len(receiver.requests) == 1
    assert db_rows(short_dir / "hookd.db", "SELECT count(*) FROM events") == [(1,)]


async def test_retry_until_success_records_every_attempt(short_dir: Path, receiver: Receiver) -> None:
    receiver.on("/flaky", Reply(503), Reply(500), Reply(200))
    cfg = basic_config(
        short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/flaky")}", retry: {fast_retry()}}}'
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="r1")])
        rows = await wait_db(
            short_dir / "hookd.db",
            "SELECT state, attempts, last_status FROM deliveries",
            lambda r: r[0][0] == "delivered",
        )
    assert rows == [("delivered", 3, 200)]
    attempts = db_rows(short_dir / "hookd.db", "SELECT attempt, status, outcome FROM attempts ORDER BY attempt")
    assert attempts == [(1, 503, "pending"), (2, 500, "pending"), (3, 200, "delivered")]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["r1", "r1", "r1"]
    assert [r.headers["hookd-attempt"] for r in receiver.requests] == ["1", "2", "3"]


async def test_permanent_4xx_is_not_retried(short_dir: Path, receiver: Receiver) -> None:
    receiver.on("/strict", Reply(422, body=b'{"error": "bad order"}'))
    cfg = basic_config(
        short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/strict")}", retry: {fast_retry()}}}'
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="p1")])
        rows = await wait_db(
            short_dir / "hookd.db", "SELECT state, attempts, last_error FROM deliveries", lambda r: r[0][0] == "failed"
        )
    assert rows[0][:2] == ("failed", 1)
    assert "422" in str(rows[0][2]) and "not retried" in str(rows[0][2])
    assert db_rows(short_dir / "hookd.db", "SELECT response_excerpt FROM attempts") == [('{"error": "bad order"}',)]
    assert len(receiver.requests) == 1


async def test_exhausted_attempts_end_failed(short_dir: Path, receiver: Receiver) -> None:
    receiver.default["/down"] = Reply(503)
    cfg = basic_config(
        short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/down")}", retry: {fast_retry(3)}}}'
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="x1")])
        rows = await wait_db(
            short_dir / "hookd.db", "SELECT state, attempts, next_at FROM deliveries", lambda r: r[0][0] == "failed"
        )
    assert rows == [("failed", 3, None)]
    assert len(receiver.requests) == 3


async def test_retry_after_is_honoured_in_the_stored_schedule(short_dir: Path, receiver: Receiver) -> None:
    receiver.on("/busy", Reply(429, headers={"Retry-After": "120"}))
    cfg = basic_config(
        short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/busy")}", retry: {fast_retry()}}}'
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="ra")])
        rows = await wait_db(
            short_dir / "hookd.db",
            "SELECT a.started_at, a.next_at, d.state FROM attempts a JOIN deliveries d ON d.id = a.delivery_id",
            lambda r: len(r) == 1 and r[0][2] == "pending",
        )
    started_at, next_at, _ = rows[0]
    assert isinstance(started_at, float) and isinstance(next_at, float)
    # The hook's own backoff says 10 ms; the receiver asked for 120 s (capped by max_delay: 50ms would win,
    # so this hook's max_delay is the cap). Use a hook with a long max_delay to see Retry-After itself.
    assert next_at - started_at < 1.0


async def test_retry_after_sets_next_attempt_time(short_dir: Path, receiver: Receiver) -> None:
    receiver.on("/busy", Reply(503, headers={"Retry-After": "120"}))
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/busy")}", '
        "retry: {initial_delay: 1s, max_delay: 1h, jitter: false}}",
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="ra2")])
        rows = await wait_db(
            short_dir / "hookd.db",
            "SELECT a.started_at, a.next_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
            "WHERE d.state = 'pending'",
            lambda r: len(r) == 1,
        )
    started_at, next_at = rows[0]
    assert isinstance(started_at, float) and isinstance(next_at, float)
    assert 119 <= next_at - started_at <= 121
    assert len(receiver.requests) == 1


async def test_redirect_is_a_failure_with_a_reason(short_dir: Path, receiver: Receiver) -> None:
    receiver.on("/moved", Reply(301, headers={"Location": "https://elsewhere.example/x"}))
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/moved")}"}}')
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="m1")])
        rows = await wait_db(
            short_dir / "hookd.db", "SELECT state, last_error FROM deliveries", lambda r: r[0][0] == "failed"
        )
    assert "redirect" in str(rows[0][1]) and "follow_redirects" in str(rows[0][1])
    assert len(receiver.requests) == 1


async def test_unreachable_receiver_is_retried(short_dir: Path, receiver: Receiver) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "http://127.0.0.1:{port}/x", retry: {{max_attempts: 2, '
        "initial_delay: 10ms, jitter: false}}",
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="u1")])
        rows = await wait_db(
            short_dir / "hookd.db", "SELECT state, attempts, last_error FROM deliveries", lambda r: r[0][0] == "failed"
        )
    assert rows[0][:2] == ("failed", 2)
    assert "cannot connect" in str(rows[0][2])


async def test_slow_receiver_times_out_and_is_retried(short_dir: Path, receiver: Receiver) -> None:
    hold = asyncio.Event()
    receiver.on("/slow", Reply(200, hold=hold), Reply(200))
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/slow")}", timeout: 200ms, retry: {fast_retry()}}}',
    )
    try:
        async with running_daemon(cfg):
            await send_lines(short_dir / "s.sock", [event_line(id="t1")])
            rows = await wait_db(
                short_dir / "hookd.db", "SELECT state, attempts FROM deliveries", lambda r: r[0][0] == "delivered"
            )
    finally:
        hold.set()
    assert rows == [("delivered", 2)]
    errors = db_rows(short_dir / "hookd.db", "SELECT error FROM attempts ORDER BY attempt")
    assert "timed out" in str(errors[0][0]) and errors[1][0] is None


async def test_bad_input_gets_clear_errors_and_harms_nobody(short_dir: Path, receiver: Receiver) -> None:
    """1. One connection sends garbage, non-objects, missing type, wrong types, an oversized line;
    2. another disconnects mid-line; 3. a third sends a good event.
    Result: one precise error per bad line, rejected rows stored, good events delivered."""
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    sock = short_dir / "s.sock"
    async with running_daemon(cfg):
        replies = await send_lines(
            sock,
            [
                b"this is not json",
                b"[1, 2, 3]",
                b'"just a string"',
                b'{"data": {"x": 1}}',
                b'{"type": 5}',
                b'{"type": "a", "time": "yesterday"}',
                b'{"type": "a", "total": 3}',
                b'{"type": "big", "data": "' + b"x" * 3000 + b'"}',
                b"",
                event_line("ok.event", id="good-1"),
            ],
        )
        reasons = [str(r.get("error", "")) for r in replies]
        assert [r["ok"] for r in replies] == [False] * 8 + [True]
        assert "invalid JSON" in reasons[0]
        assert "must be a JSON object" in reasons[1] and "array" in reasons[1]
        assert "must be a JSON object" in reasons[2]
        assert '"type" is missing' in reasons[3]
        assert '"type" must be a non-empty string' in reasons[4]
        assert "RFC 3339" in reasons[5]
        assert "'total'" in reasons[6] and "data" in reasons[6]
        assert "over the limit of 2000 bytes (max_event_size: 2KB)" in reasons[7]
        assert replies[8] == {"ok": True, "id": "good-1"}

        _, writer = await asyncio.open_unix_connection(str(sock))
        writer.write(b'{"type": "half", "da')
        await writer.drain()
        writer.close()
        await writer.wait_closed()

        assert await send_lines(sock, [event_line(id="good-2")]) == [{"ok": True, "id": "good-2"}]
        await receiver.wait_count(2)
    rejected = db_rows(short_dir / "hookd.db", "SELECT source, position, reason FROM rejected ORDER BY id")
    assert len(rejected) == 8
    assert rejected[0][:2] == ("app", "conn 1 line 1")
    assert rejected[7][1] == "conn 1 line 8"
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == ["good-1", "good-2"]


async def test_many_concurrent_clients(short_dir: Path, receiver: Receiver) -> None:
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    async with running_daemon(cfg):
        batches = await asyncio.gather(
            *(send_lines(short_dir / "s.sock", [event_line(id=f"c{c}-{i}") for i in range(50)]) for c in range(10))
        )
        ids = {str(a["id"]) for batch in batches for a in batch}
        assert len(ids) == 500 and all(a["ok"] for batch in batches for a in batch)
        await receiver.wait_count(500)
    assert {r.headers["webhook-id"] for r in receiver.requests} == ids


async def test_cloudevent_is_accepted_as_is(short_dir: Path, receiver: Receiver) -> None:
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["com.example.*"], url: "{receiver.url("/ce")}"}}')
    ce = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/shop",
        "type": "com.example.order",
        "time": "2026-01-02T03:04:05Z",
        "datacontenttype": "application/json",
        "data": {"n": 1},
    }
    async with running_daemon(cfg):
        assert await send_lines(short_dir / "s.sock", [orjson.dumps(ce)]) == [{"ok": True, "id": "ce-1"}]
        await receiver.wait_count(1)
    body = receiver.requests[0].json()
    assert isinstance(body, dict)
    assert {k: body[k] for k in ("id", "type", "source", "time", "data")} == {
        "id": "ce-1",
        "type": "com.example.order",
        "source": "/shop",
        "time": "2026-01-02T03:04:05Z",
        "data": {"n": 1},
    }


async def test_pending_retries_survive_a_restart(short_dir: Path, receiver: Receiver) -> None:
    """1. The receiver fails the first attempt; the retry is due in 1 s; 2. the daemon stops;
    3. a new daemon starts. Result: the stored schedule is kept and the retry is delivered."""
    receiver.on("/later", Reply(503))
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/later")}", '
        "retry: {initial_delay: 1s, max_delay: 1s, jitter: false}}",
    )
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="keep")])
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("pending", 1)])
    assert db_rows(db, "SELECT state, attempts FROM deliveries") == [("pending", 1)]
    async with running_daemon(cfg):
        await wait_db(db, "SELECT state, attempts FROM deliveries", lambda r: r == [("delivered", 2)])
    assert len(receiver.requests) == 2


async def test_oversized_line_spanning_many_reads_is_skipped_not_buffered(short_dir: Path, receiver: Receiver) -> None:
    """A 1 MB line against a 2 KB limit arrives over many reads: one error, then the next line works."""
    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    async with running_daemon(cfg):
        huge = b'{"type": "huge", "data": "' + b"y" * 1_000_000 + b'"}'
        replies = await send_lines(short_dir / "s.sock", [huge, event_line(id="after-huge")])
        assert replies[0]["ok"] is False
        assert "over the limit of 2000 bytes" in str(replies[0]["error"])
        assert replies[1] == {"ok": True, "id": "after-huge"}
        await receiver.wait_count(1)
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["after-huge"]


async def test_tcp_listen_on_loopback_and_socket_mode(short_dir: Path, receiver: Receiver) -> None:
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: app, type: socket, path: {short_dir}/s.sock, mode: "0600", listen: "127.0.0.1:0"}}
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert (short_dir / "s.sock").stat().st_mode & 0o777 == 0o600
        tcp = [a for a in daemon.sources[0].describe().split() if a.startswith("tcp:")]
        assert len(tcp) == 1
        host, port = tcp[0].removeprefix("tcp:").rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(event_line(id="over-tcp") + b"\n")
        await writer.drain()
        assert orjson.loads(await reader.readline()) == {"ok": True, "id": "over-tcp"}
        writer.close()
        await writer.wait_closed()
        await receiver.wait_count(1)


async def test_json_log_lines(short_dir: Path, receiver: Receiver) -> None:
    """`--log-format json`: every line on stderr is one JSON object with time, level, logger, a short
    message, and the line's values as fields of their own."""
    import sys

    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hookd", "serve", "-c", str(cfg), "--log-format", "json",
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(20):
            while True:
                entry = orjson.loads(await proc.stderr.readline())
                lines.append(entry)
                if "ready" in str(entry["message"]):
                    break
            await send_lines(short_dir / "s.sock", [event_line(id="j1")])
            while not any("delivered" in str(e["message"]) for e in lines):
                lines.append(orjson.loads(await proc.stderr.readline()))
    finally:
        proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()
    assert proc.returncode == 0
    delivered = next(e for e in lines if e["message"] == "delivered")
    assert delivered["level"] == "info" and delivered["logger"] == "hookd.dispatcher"
    assert {k: delivered[k] for k in ("event", "hook", "try", "status")} == {
        "event": "j1", "hook": "h", "try": 1, "status": 200
    }  # fmt: skip
    assert isinstance(delivered["delivery"], str) and isinstance(delivered["ms"], int)
    assert str(delivered["time"]).endswith("Z")


async def test_file_source_through_the_daemon_resumes_after_restart(short_dir: Path, receiver: Receiver) -> None:
    """1. Lines (one bad) in a tailed file are delivered; 2. the daemon stops; 3. lines are appended
    while it is down; 4. it starts again. Result: each good line delivered exactly once, the bad one
    stored as a rejection with file:line, and the checkpoint at the end of the file."""
    log_file = short_dir / "events.jsonl"
    log_file.write_bytes(event_line(id="f1") + b"\n" + b"{broken\n" + event_line(id="f2") + b"\n")
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: applog, type: file, path: {log_file}, start_at: beginning}}
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}
        """,
    )
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await receiver.wait_count(2)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(2,)])
    with log_file.open("ab") as f:
        f.write(event_line(id="f3") + b"\n" + event_line(id="f4") + b"\n")
    async with running_daemon(cfg):
        await receiver.wait_count(4)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(4,)])
    # Each exactly once; f3 and f4 go out concurrently (the hook is unordered), so in either order.
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == ["f1", "f2", "f3", "f4"]
    rejected = db_rows(db, "SELECT source, position, reason FROM rejected")
    assert len(rejected) == 1
    assert rejected[0][:2] == ("applog", f"{log_file}:2")
    assert "invalid JSON" in str(rejected[0][2])
    assert db_rows(db, 'SELECT "offset", line FROM checkpoints') == [(log_file.stat().st_size, 5)]


async def test_an_idle_daemon_does_not_poll_the_store_in_a_loop(short_dir: Path, receiver: Receiver) -> None:
    """After a delivery, the dispatcher sleeps until new work or its 1 s poll. (A stale wake-up once
    made it query the store ~2,600 times a second forever.)"""
    from hookd.store.sqlite import SQLiteStore

    class CountingStore(SQLiteStore):
        queries = 0

        async def next_due_at(self, hooks: Sequence[str]) -> float | None:
            CountingStore.queries += 1
            return await super().next_due_at(hooks)

    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    async with running_daemon(cfg, store_type=CountingStore):
        await send_lines(short_dir / "s.sock", [event_line(id="idle-1")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        before = CountingStore.queries
        await asyncio.sleep(0.5)  # an observation window, not sequencing: a busy loop makes ~1,000 calls here
        assert CountingStore.queries - before <= 3


async def test_config_secrets_never_reach_the_database_or_hookd_test(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret in a URL path (Slack style) and in a header whose name does not look secret are
    sent for real, but stored and printed only as their ${VAR} references."""
    from typer.testing import CliRunner

    from hookd.cli.app import app

    path_secret, header_secret = "T0001/B0002/s3cr3t-path-token", "k3y-in-a-plain-header"
    monkeypatch.setenv("HK_SLACK_PATH", path_secret)
    monkeypatch.setenv("HK_API", header_secret)
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/services")}/${{HK_SLACK_PATH}}", '
        'headers: {X-Api: "${HK_API}"}}',
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="sec-1")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
    [got] = receiver.requests
    assert got.path == f"/services/{path_secret}" and got.headers["X-Api"] == header_secret
    stored = str(db_rows(short_dir / "hookd.db", "SELECT request FROM attempts"))
    assert path_secret not in stored and header_secret not in stored
    assert "${HK_SLACK_PATH}" in stored and "${HK_API}" in stored
    result = CliRunner().invoke(app, ["test", "-c", str(cfg), "--type", "a.b"])
    assert result.exit_code == 0, result.output
    assert path_secret not in result.output and header_secret not in result.output
    assert "${HK_SLACK_PATH}" in result.output


async def test_the_dispatcher_survives_a_store_error(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim fails once (the database was locked by another writer for too long): the dispatcher
    logs it, pauses, and goes on; the pending retry is still delivered."""
    import sqlite3

    from hookd import dispatcher
    from hookd.store.sqlite import SQLiteStore

    class FailingClaims(SQLiteStore):
        failures = 0

        async def claim_due(self, now: float, limits: Mapping[str, int]) -> list[DueDelivery]:
            if self.failures == 0 and any(n for n in limits.values()):
                self.failures += 1
                raise sqlite3.OperationalError("database is locked")
            return await super().claim_due(now, limits)

    monkeypatch.setattr(dispatcher, "STORE_RETRY_S", 0.01)
    receiver.on("/h", Reply(503), Reply(200))
    cfg = basic_config(
        short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", retry: {fast_retry()}}}'
    )
    async with running_daemon(cfg, store_type=FailingClaims) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id="survive-1")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        assert isinstance(daemon.store, FailingClaims) and daemon.store.failures == 1
        assert any("claiming deliveries failed" in e for e in daemon.errors.recent(60))


async def test_an_internal_error_after_a_send_does_not_stop_the_deliveries_behind_it(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """1. One slot (global and hook concurrency 1), no idle poll, and a bug injected into planning
    the first outcome; 2. three events. Result: the bug is logged and counted for health, that
    delivery stays `delivering` (sent again at the next start), and the other two are delivered."""
    from hookd import dispatcher

    real_plan_next = dispatcher.plan_next
    calls = 0

    def plan_next_with_a_bug(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected bug")
        return real_plan_next(**kwargs)

    monkeypatch.setattr(dispatcher, "POLL_INTERVAL_S", 3600.0)
    monkeypatch.setattr(dispatcher, "plan_next", plan_next_with_a_bug)
    cfg = basic_config(
        short_dir,
        receiver,
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}", concurrency: 1}}',
        delivery="{concurrency: 1}",
    )
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"bug-{i}") for i in range(3)])
        await wait_db(
            short_dir / "hookd.db",
            "SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state",
            lambda r: r == [("delivered", 2), ("delivering", 1)],
        )
        assert len(receiver.at("/h")) == 3
        assert any("internal error recording delivery" in e for e in daemon.errors.recent(60))
    assert any("internal error after sending" in r.getMessage() for r in caplog.records)


async def test_stop_answers_the_batch_in_the_last_commit(short_dir: Path, receiver: Receiver) -> None:
    """1. A client's event is in the ingest commit; 2. the daemon is asked to stop during it.
    Result: the client still gets its ack (otherwise it would resend, and an event without an id
    would be stored twice)."""
    from hookd.config.load import load_config
    from hookd.daemon import Daemon
    from hookd.sources.base import Checkpoint, Rejection
    from hookd.store.base import IngestResult, RoutedEvent
    from hookd.store.sqlite import SQLiteStore

    entered, release = asyncio.Event(), asyncio.Event()

    class SlowCommit(SQLiteStore):
        async def ingest(
            self,
            routed: Sequence[RoutedEvent],
            rejections: Sequence[Rejection],
            checkpoints: Sequence[Checkpoint],
            now: float,
        ) -> IngestResult:
            if routed:
                entered.set()
                await release.wait()
            return await super().ingest(routed, rejections, checkpoints, now)

    cfg = basic_config(short_dir, receiver, f'  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}')
    settings = load_config(cfg)
    store = SlowCommit(settings.storage.path)
    daemon = Daemon(settings, store=store)
    await daemon.start()
    client = asyncio.create_task(send_lines(short_dir / "s.sock", [b'{"type": "no.id.given"}']))
    stopping: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(20):
            await entered.wait()
        daemon.request_stop()
        stopping = asyncio.create_task(daemon.stop())
        await asyncio.sleep(0)  # let stop begin while the commit is held
        release.set()
        [ack] = await client
    finally:
        release.set()
        if stopping is not None:
            await stopping
        else:
            await daemon.stop()
    assert ack["ok"] is True
    assert db_rows(short_dir / "hookd.db", "SELECT id FROM events") == [(ack["id"],)]


async def test_a_client_that_connects_before_the_source_runs_waits_and_is_answered(short_dir: Path) -> None:
    """The daemon binds its sockets, then starts the admin listener, then runs the sources. A client
    that connects and writes in between (as soon as the socket exists) waits in the listen backlog;
    it was once served with no ingest to submit to, and the connection was reset."""
    source = SocketSource(SocketSourceConfig(name="app", path=short_dir / "s.sock"))
    await source.start()
    try:
        reader, writer = await asyncio.open_unix_connection(str(short_dir / "s.sock"))
        writer.write(event_line(id="early") + b"\n")
        await writer.drain()
        await asyncio.sleep(0.05)

        async def submit(batch: Batch) -> list[Accepted]:
            return [Accepted(id=e.id, duplicate=False, deliveries=0) for e in batch.events]

        running = asyncio.create_task(source.run(submit))
        async with asyncio.timeout(FAILSAFE_S):
            assert orjson.loads(await reader.readline()) == {"ok": True, "id": "early"}
        writer.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    finally:
        await source.close()


async def test_per_hook_and_global_concurrency_limits_hold_while_every_slot_stays_busy(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook a (concurrency 1) and hook b (concurrency 3) under a global cap of 4, a receiver that
    answers each request after 10 ms, and no idle poll (a missed wake-up hangs); 2. 100 events.
    Result: all 200 delivered; never more than 1 open for a, 3 for b, 4 in all; and the cap was
    reached (a finished delivery's slot is taken by the next one)."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.default.update({"/a": Reply(delay_s=0.01), "/b": Reply(delay_s=0.01)})
    cfg = two_hooks_config(short_dir, receiver, global_limit=4, limit_a=1, limit_b=3)
    await deliver_all(short_dir, cfg, events=100, deliveries=200)
    assert receiver.peak["/a"] <= 1 and receiver.peak["/b"] <= 3 and receiver.peak["*"] <= 4
    assert receiver.peak["*"] == 4


async def test_hooks_share_the_global_limit_in_turn(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hooks a and b (concurrency 2 each) under a global cap of 2, a receiver that answers each
    request after 10 ms, and no idle poll (a wake-up the dispatcher misses hangs instead of waiting
    a second); 2. 30 events, each matching both hooks. Result: all 60 delivered, and neither hook
    waits for the other's backlog: the first 30 requests hold 10-20 of b's."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.default.update({"/a": Reply(delay_s=0.01), "/b": Reply(delay_s=0.01)})
    cfg = two_hooks_config(short_dir, receiver, global_limit=2, limit_a=2, limit_b=2)
    await deliver_all(short_dir, cfg, events=30, deliveries=60)
    order = [r.path for r in receiver.requests]
    assert order[:30].count("/b") in range(10, 21), "".join(p[1] for p in order)


async def deliver_all(d: Path, cfg: Path, *, events: int, deliveries: int) -> None:
    """Run the daemon on `cfg`, send `events` events to its socket (each acked), and wait until
    `deliveries` deliveries are delivered."""
    async with running_daemon(cfg):
        acks = await send_lines(d / "s.sock", [event_line("order.created") for _ in range(events)])
        assert all(a["ok"] for a in acks)
        await wait_db(d / "hookd.db", "SELECT state, COUNT(*) FROM deliveries GROUP BY state",
                      lambda r: r == [("delivered", deliveries)])  # fmt: skip


def two_hooks_config(d: Path, receiver: Receiver, *, global_limit: int, limit_a: int, limit_b: int) -> Path:
    hooks = (
        f'  - {{name: a, events: ["*"], url: "{receiver.url("/a")}", concurrency: {limit_a}}}\n'
        f'          - {{name: b, events: ["*"], url: "{receiver.url("/b")}", concurrency: {limit_b}}}'
    )
    return basic_config(d, receiver, hooks, delivery=f"{{concurrency: {global_limit}}}")
