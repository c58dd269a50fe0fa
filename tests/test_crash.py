"""A real `hookd serve` process: kill -9 loses nothing acknowledged; SIGTERM stops gracefully."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import (
    DaemonProcess,
    Receiver,
    Reply,
    db_rows,
    event_line,
    process_alive,
    send_lines,
    socket_config,
    wait_db,
    wait_gone,
    write_config,
)


def crash_config(d: Path, receiver: Receiver, *, concurrency: int = 5) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: h
            events: ["*"]
            url: {receiver.url("/in")}
            concurrency: {concurrency}
            timeout: 5s
            retry: {{max_attempts: 50, initial_delay: 50ms, max_delay: 200ms}}
        delivery: {{shutdown_timeout: 10s}}
        """,
    )


async def flood(sock: Path, n: int, acked: list[str], *, chunk: int = 100) -> None:
    """Send n events in pipelined chunks, recording every acknowledged id, until n or the daemon dies."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        for start in range(0, n, chunk):
            lines = b"".join(event_line(id=f"e{i}") + b"\n" for i in range(start, min(n, start + chunk)))
            writer.write(lines)
            await writer.drain()
            for _ in range(min(chunk, n - start)):
                line = await reader.readline()
                if not line:
                    return
                reply = orjson.loads(line)
                assert reply["ok"] is True
                acked.append(str(reply["id"]))
    except (ConnectionError, OSError):
        return
    finally:
        writer.close()


async def serve_until_exit(cfg: Path) -> tuple[int | None, str]:
    """`hookd serve -c cfg` expected to refuse to start: its exit status and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hookd", "serve", "-c", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    return proc.returncode, err.decode()


async def test_kill_9_loses_no_acknowledged_event(short_dir: Path, receiver: Receiver) -> None:
    """1. Deliveries to the receiver hang (held), so 5 are in flight and the rest pending;
    2. a client floods events and kill -9 hits the daemon mid-flood;
    3. the receiver recovers and the daemon restarts.
    Result: every acknowledged event is delivered; only the in-flight ones are sent twice."""
    hold = asyncio.Event()
    receiver.default["/in"] = Reply(200, hold=hold)
    cfg = crash_config(short_dir, receiver)
    daemon = DaemonProcess(cfg)
    acked: list[str] = []
    try:
        await daemon.start()
        sender = asyncio.create_task(flood(short_dir / "s.sock", 3000, acked))
        await receiver.wait_count(5)  # the hook's 5 slots are taken, held by the receiver
        async with asyncio.timeout(20):
            while len(acked) < 1000:  # mid-flood
                await asyncio.sleep(0.005)
        (worker,) = daemon.children()
        daemon.kill9()
        assert await daemon.wait() == -signal.SIGKILL
        await wait_gone(worker)  # its socket to the daemon closed: it stops by itself
        await sender
        assert len(acked) >= 1000
        in_flight_at_kill = len(receiver.requests)
        assert in_flight_at_kill == 5

        hold.set()  # the receiver is healthy again
        receiver.default["/in"] = Reply(200)
        await daemon.start()
        await receiver.wait_for(lambda rs: set(acked) <= {r.headers["webhook-id"] for r in rs}, timeout=60)
    finally:
        hold.set()
        await daemon.stop()
    delivered = [r.headers["webhook-id"] for r in receiver.requests]
    assert set(acked) <= set(delivered)
    # Only what was in flight at the kill is sent twice (receivers dedupe on webhook-id).
    duplicates = len(delivered) - len(set(delivered))
    assert duplicates <= in_flight_at_kill
    # In flight at the kill, plus those claimed ahead of their slot: all put back and delivered.
    recovered = [int(m.group(1)) for line in daemon.log if (m := re.search(r"deliveries=(\d+) recovered", line))]
    assert len(recovered) == 1 and recovered[0] >= in_flight_at_kill
    states = dict(db_rows(short_dir / "hookd.db", "SELECT state, count(*) FROM deliveries GROUP BY state"))
    assert states.get("delivering", 0) == 0 and states.get("failed", 0) == 0


@pytest.mark.parametrize("to_group", [False, True], ids=["SIGTERM to the daemon", "SIGINT to its process group"])
async def test_a_stop_signal_lets_in_flight_finish_and_exits_0(
    short_dir: Path, receiver: Receiver, to_group: bool
) -> None:
    """1. A delivery is in flight (held by the receiver); 2. a stop signal; 3. the receiver answers.
    Result: the attempt is recorded as delivered, the socket file is removed, exit code 0.

    Ctrl-C in a terminal (and systemd's default KillMode) signals the delivery worker too; it leaves
    stopping to the daemon, so the in-flight attempt still gets its grace period."""
    hold = asyncio.Event()
    receiver.on("/in", Reply(200, hold=hold))
    cfg = crash_config(short_dir, receiver)
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        (worker,) = daemon.children()
        await send_lines(short_dir / "s.sock", [event_line(id="inflight")])
        await receiver.wait_count(1)
        if to_group:
            daemon.signal_group(signal.SIGINT)
        else:
            daemon.signal(signal.SIGTERM)
        await daemon.wait_for_line("waiting up to")
        assert process_alive(worker)
        hold.set()
        assert await daemon.wait() == 0
        assert not process_alive(worker)
    finally:
        hold.set()
        await daemon.close()
    assert db_rows(short_dir / "hookd.db", "SELECT state, attempts FROM deliveries") == [("delivered", 1)]
    assert not (short_dir / "s.sock").exists()
    assert any("hookd stopped" in line for line in daemon.log)


async def test_invalid_config_refuses_to_start_with_exit_3(short_dir: Path) -> None:
    cfg = write_config(short_dir, "version: 1\nhooks:\n  - name: x\n    events: [a]\n    url: ftp://nope\n")
    code, text = await serve_until_exit(cfg)
    assert code == 3
    assert "hookd.yaml:5:10" in text and "http:// or https://" in text
    assert "hookd cannot start" in text
    assert "Traceback" not in text


async def test_socket_in_use_refuses_second_daemon(short_dir: Path, receiver: Receiver) -> None:
    cfg = crash_config(short_dir, receiver)
    first = DaemonProcess(cfg)
    try:
        await first.start()
        code, text = await serve_until_exit(cfg)
        assert code == 3
        assert "another hookd daemon (`hookd serve`, pid " in text and "is already running with the database" in text
        assert "Traceback" not in text
        # The first daemon is unharmed.
        assert await send_lines(short_dir / "s.sock", [event_line(id="still")]) == [{"ok": True, "id": "still"}]
    finally:
        first.signal(signal.SIGTERM)
        await first.wait()
        await first.close()


async def test_a_start_that_fails_says_why_once_and_not_that_hookd_stopped(short_dir: Path, receiver: Receiver) -> None:
    """Another daemon (its own database) already serves the socket path: the second one fails after
    opening its store, so it stops what it started; it must not log "hookd stopped" (it never ran),
    once or, as before, twice, ahead of the reason."""
    cfg = crash_config(short_dir, receiver)
    first = DaemonProcess(cfg)
    other = short_dir / "other"
    other.mkdir()
    clash = write_config(other, cfg.read_text().replace(f"{short_dir}/hookd.db", f"{other}/hookd.db"))
    try:
        await first.start()
        code, text = await serve_until_exit(clash)
        assert code == 3
        assert "hookd cannot start: source 'app': another process is listening" in text
        assert "hookd stopped" not in text and "Traceback" not in text
    finally:
        first.signal(signal.SIGTERM)
        await first.wait()
        await first.close()


async def test_second_sigint_cancels_in_flight_attempts_at_once(short_dir: Path, receiver: Receiver) -> None:
    """1. An attempt hangs at the receiver; shutdown_timeout is 60 s; 2. SIGINT, and once the daemon
    says it is waiting, SIGINT again. Result: it cancels the attempt and exits without waiting the
    60 s (the receiver never answers); the cut-off attempt is recorded and the delivery is pending,
    due at once (not `delivering`, which only a crash leaves); it is sent again at the next start."""
    hold = asyncio.Event()
    receiver.on("/in", Reply(200, hold=hold))
    cfg = crash_config(short_dir, receiver)
    cfg.write_text(cfg.read_text().replace("shutdown_timeout: 10s", "shutdown_timeout: 60s"))
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await send_lines(short_dir / "s.sock", [event_line(id="forced")])
        await receiver.wait_count(1)
        daemon.signal(signal.SIGINT)
        await daemon.wait_for_line("waiting up to 60s")
        daemon.signal(signal.SIGINT)
        async with asyncio.timeout(20):  # far below the 60 s grace
            code = await daemon.proc.wait()  # type: ignore[union-attr]
        await daemon.wait()
        assert code == 0
        assert any("cancelled 1 in-flight delivery(ies)" in line for line in daemon.log)
        db = short_dir / "hookd.db"
        assert db_rows(db, "SELECT state, attempts, last_status FROM deliveries") == [("pending", 1, None)]
        [(attempt, outcome, status, error)] = db_rows(db, "SELECT attempt, outcome, status, error FROM attempts")
        assert (attempt, outcome, status) == (1, "pending", None)
        # The operator asked for an immediate stop: the reason says so, not the grace period it skipped.
        assert "told to stop at once (a second Ctrl-C or stop signal)" in str(error)
        assert "shutdown_timeout" not in str(error)
        receiver.on("/in", Reply(200))
        hold.set()
        await daemon.start()
        await receiver.wait_for(lambda rs: sum(r.headers["webhook-id"] == "forced" for r in rs) >= 2)
        await wait_db(db, "SELECT state FROM deliveries", lambda rows: rows == [("delivered",)])
        assert db_rows(db, "SELECT attempt, outcome FROM attempts ORDER BY attempt") == [
            (1, "pending"),
            (2, "delivered"),
        ]
        assert not any("interrupted" in line for line in daemon.log)  # a clean stop leaves nothing to recover
    finally:
        hold.set()
        await daemon.stop()
