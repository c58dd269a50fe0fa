"""Stop means stop: a real `hookd replay --wait` subprocess, signalled while a slow real receiver holds
its requests, leaves nothing queued and nothing `delivering` behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from hookd.config.load import load_config
from hookd.dispatcher import Dispatcher
from hookd.router import Router
from hookd.senders.http import HttpSender
from hookd.store.base import RoutedEvent
from hookd.store.sqlite import SQLiteStore
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    FAILSAFE_S,
    Receiver,
    Reply,
    daemon_config,
    db_rows,
    event_line,
    open_store,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)
from tests.test_store_queries import routed

EVENTS = 300
CONCURRENCY = 10


def slow_config(d: Path, receiver: Receiver) -> Path:
    return daemon_config(
        d,
        f"""
        delivery: {{concurrency: {CONCURRENCY}}}
        sources:
          - {{name: app, type: socket, path: {d}/s.sock}}
        hooks:
          - {{name: slow, events: ["*"], url: "{receiver.url("/slow")}", retry: {{max_attempts: 1}}}}
        """,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_replay_wait_and_withdraws_what_it_queued(
    short_dir: Path, receiver: Receiver, sig: signal.Signals
) -> None:
    """1. 300 deliveries to hook slow failed (503, one attempt each); no daemon runs;
    2. the receiver now holds every request without answering; `hookd replay --status failed --wait`
       runs as its own process with delivery.concurrency 10;
    3. once 10 replays are in flight, the process gets SIGINT (or SIGTERM).
    Result: it exits 130 (143) saying it withdrew 290 queued replays and recorded 10 in flight as
    cancelled; in the store all 300 replays are `cancelled`, none pending or delivering; the 10 have
    one attempt each, recorded with the reason; the 290 were never attempted."""
    db = short_dir / "hookd.db"
    receiver.default["/slow"] = Reply(status=503)
    cfg = slow_config(short_dir, receiver)
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(EVENTS)])
        # Claimed ahead of free slots too (up to twice the concurrency): those were never sent.
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'failed'", lambda r: r[0][0] == EVENTS)
    receiver.default["/slow"] = Reply(hold=asyncio.Event())  # never set: the receiver never answers

    env = {k: v for k, v in os.environ.items() if k != "HOOKD_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hookd", "replay", "-c", str(cfg), "--status", "failed", "--wait",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        await receiver.wait_count(EVENTS + CONCURRENCY, "/slow")
        await wait_db(
            db, "SELECT count(*) FROM deliveries WHERE state = 'delivering'", lambda r: r[0][0] >= CONCURRENCY
        )
        proc.send_signal(sig)
        async with asyncio.timeout(FAILSAFE_S):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 128 + sig, err.decode()
    assert (
        out.decode()
        .replace("\n", " ")
        .startswith(
            f"queued {EVENTS} replay(s) to slow stopped: withdrew {EVENTS - CONCURRENCY} queued replay(s); "
            f"{CONCURRENCY} in flight were recorded as cancelled; 0 delivered and 0 failed before the stop"
        )
    ), out.decode()
    replays = "FROM deliveries WHERE replay_of IS NOT NULL"
    assert db_rows(db, f"SELECT state, attempts, count(*) {replays} GROUP BY 1, 2 ORDER BY 2") == [
        ("cancelled", 0, EVENTS - CONCURRENCY),
        ("cancelled", 1, CONCURRENCY),
    ]
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'delivering')") == [(0,)]
    assert db_rows(
        db,
        "SELECT a.outcome, a.status, a.error, count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.replay_of IS NOT NULL GROUP BY 1, 2, 3",
    ) == [
        (
            "cancelled",
            None,
            "cancelled: hookd replay --wait was stopped before the receiver answered; not sent again",
            CONCURRENCY,
        )
    ]
    assert db_rows(db, f"SELECT DISTINCT last_error {replays} AND attempts = 0") == [
        ("withdrawn: hookd replay --wait was stopped before sending it",)
    ]
    assert len(receiver.at("/slow")) == EVENTS + CONCURRENCY  # nothing more was sent
    [(cut_id,)] = db_rows(db, f"SELECT id {replays} AND attempts = 1 LIMIT 1")
    shown = await hookd("history", "show", str(cut_id)[:24], "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = " ".join(plain(shown.stdout).split())
    assert "cancelled (replay) after 1 attempt(s)" in text, text
    assert re.search(r"attempt 1 \S+ no response in \d+ ms: cancelled error cancelled: hookd replay --wait", text), text


async def test_a_delivery_claimed_but_not_started_when_stopped_is_given_back(tmp_path: Path) -> None:
    """1. A delivery is handed to the dispatcher as claimed (stored `delivering`, attempt counted);
    2. in the same turn, before its task takes a step, the dispatcher is stopped and finished.
    Result: the delivery is pending again with its attempt uncounted, not left `delivering`."""
    cfg = socket_config(
        tmp_path,
        """
        hooks:
          - {name: h, events: ["*"], url: "http://127.0.0.1:9/"}
        """,
    )
    settings = load_config(cfg)
    router = Router(settings.hooks, secrets=settings.secrets)
    store = SQLiteStore(settings.storage.path, background_checkpoints=False)
    await store.open()
    sender = HttpSender(max_connections=1, user_agent="hookd-test")
    try:
        event = routed("e1", "h")
        result = await store.ingest(
            [RoutedEvent(event=event.event, source="app", hooks=("h",), claimed=frozenset({"h"}))], [], [], 1.0
        )
        dispatcher = Dispatcher(store, sender, list(router.by_name.values()), _Clock(), concurrency=1)
        dispatcher.committed(result.claimed, set(), {"h": 1})
        dispatcher.stop()
        await dispatcher.finish(0.0)
    finally:
        await sender.close()
        await store.close()
    assert db_rows(settings.storage.path, "SELECT state, attempts FROM deliveries") == [("pending", 0)]


class _Clock:
    def now(self) -> float:
        return 1.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


async def test_a_stopped_replay_wait_gives_back_what_it_did_not_queue(short_dir: Path, receiver: Receiver) -> None:
    """1. One delivery to hook slow failed; a second event's first delivery to slow is pending (the
       daemon is stopped); 2. `hookd replay --status failed --wait` runs: its drain sends both, and
       the receiver holds both requests; 3. SIGINT.
    Result: the replay is cancelled, as this command queued it; the other delivery is pending again,
    due at once, its attempt recorded as cut off by the stop: the daemon sends it, nothing withdrew it."""
    db = short_dir / "hookd.db"
    receiver.default["/slow"] = Reply(status=503)
    cfg = slow_config(short_dir, receiver)
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="old")])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'failed'", lambda r: r[0][0] == 1)
    async with open_store(db, background_checkpoints=False) as store:
        await store.ingest([routed("fresh", "slow")], [], [], 1.0)
    receiver.default["/slow"] = Reply(hold=asyncio.Event())  # never set: the receiver never answers

    env = {k: v for k, v in os.environ.items() if k != "HOOKD_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hookd", "replay", "-c", str(cfg), "--status", "failed", "--wait",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        await receiver.wait_count(1 + 2, "/slow")
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivering'", lambda r: r[0][0] == 2)
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(FAILSAFE_S):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 130, err.decode()
    assert "1 in flight were recorded as cancelled" in out.decode().replace("\n", " "), out.decode()
    rows = db_rows(
        db,
        "SELECT d.event_id, d.replay_of IS NOT NULL, d.state, a.outcome, a.error FROM deliveries d "
        "JOIN attempts a ON a.delivery_id = d.id AND a.attempt = d.attempts WHERE d.event_id = 'fresh' "
        "OR d.replay_of IS NOT NULL ORDER BY 1",
    )
    assert rows == [
        ("fresh", 0, "pending", "pending",
         "cancelled: hookd replay --wait, which was sending it, was stopped before the receiver answered; "
         "sent again by the daemon"),
        ("old", 1, "cancelled", "cancelled",
         "cancelled: hookd replay --wait was stopped before the receiver answered; not sent again"),
    ]  # fmt: skip
