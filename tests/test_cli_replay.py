"""`hookd replay` through typer's CliRunner on a database a real daemon filled, then sent by a real
daemon (in process, or a `hookd serve` subprocess) or by `replay --wait` itself."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

import hookd.cli.history  # registers the commands
import hookd.cli.replay
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    FAILSAFE_S,
    DaemonProcess,
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)
from tests.test_cli_history import populate

REPLAYS = "SELECT event_id, hook, state, attempts, replay_of FROM deliveries WHERE replay_of IS NOT NULL ORDER BY 1, 2"


def replays_delivered(n: int) -> tuple[str, object]:
    sql = "SELECT count(*) FROM deliveries WHERE replay_of IS NOT NULL AND state = 'delivered'"
    return sql, lambda rows: rows[0][0] == n


def failed_ids(db: Path) -> dict[str, str]:
    rows = db_rows(db, "SELECT event_id, id FROM deliveries WHERE state = 'failed' AND replay_of IS NULL")
    return {str(e): str(i) for e, i in rows}


def count(db: Path) -> int:
    [(n,)] = db_rows(db, "SELECT count(*) FROM deliveries")
    assert isinstance(n, int)
    return n


# -- queue, then a daemon sends ---------------------------------------------------------------------


async def test_replayed_failures_wait_for_the_next_start_then_get_sent(short_dir: Path, receiver: Receiver) -> None:
    """1. Deliveries of o1 and o2 to hook bad failed (503, one attempt); no daemon runs;
    2. the receiver recovers; `hookd replay --status failed`;
    3. a daemon starts.
    Result: two replay rows (same event, replay_of = the failed one, pending) that the daemon
    delivers with webhook-id = the event id; history marks them as replays."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    originals = failed_ids(db)
    receiver.default["/bad"] = Reply()

    result = await hookd("replay", "-c", str(cfg), "--status", "failed")

    assert result.exit_code == 0, result.output
    assert plain(result.stdout) == (
        "queued 2 replay(s) to bad\n"
        "a running hookd sends them within a second; if none runs, they wait for its next start (hookd history "
        "--status pending shows them)\n"
    )
    assert db_rows(db, REPLAYS) == [
        ("o1", "bad", "pending", 0, originals["o1"]),
        ("o2", "bad", "pending", 0, originals["o2"]),
    ]
    assert failed_ids(db) == originals  # the originals stay as they were
    async with running_daemon(cfg):
        await receiver.wait_count(4, "/bad")
        await wait_db(db, *replays_delivered(2))  # type: ignore[arg-type]
    assert sorted(r.headers["webhook-id"] for r in receiver.at("/bad")[2:]) == ["o1", "o2"]
    shown = await hookd("history", "-c", str(cfg), "--event", "o1", "--hook", "bad", "--json")
    rows = orjson.loads(shown.stdout)
    assert [(r["status"], r["replay_of"]) for r in rows] == [("delivered", originals["o1"]), ("failed", None)]
    human = await hookd("history", "-c", str(cfg), "--event", "o1", "--hook", "bad")
    assert " delivered (replay) " in plain(human.stdout)


async def test_a_running_daemon_picks_replays_up(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    receiver.default["/bad"] = Reply()
    async with running_daemon(cfg):
        result = await hookd("replay", "-c", str(cfg), "--event", "o2", "--hook", "bad")
        assert result.exit_code == 0, result.output
        await receiver.wait_count(3, "/bad")  # two failed first attempts, then the replay
        await wait_db(short_dir / "hookd.db", *replays_delivered(1))  # type: ignore[arg-type]
    assert receiver.at("/bad")[-1].headers["webhook-id"] == "o2"


async def test_replaying_twice_does_not_multiply_deliveries(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    first = await hookd("replay", "-c", str(cfg), "--event", "o1")
    again = await hookd("replay", "-c", str(cfg), "--event", "o1")  # the replays are still pending

    assert first.exit_code == 0 and "queued 2 replay(s) to good, bad" in first.stdout
    assert again.exit_code == 0
    assert plain(again.stdout) == "nothing to replay: no finished delivery matches\n"
    assert len(db_rows(db, REPLAYS)) == 2


async def test_an_event_id_the_database_does_not_hold_is_named(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    typo = await hookd("replay", "-c", str(cfg), "--event", "o9", "--dry-run")
    mixed = await hookd("replay", "-c", str(cfg), "--event", "o9", "--event", "o1", "--dry-run", "--json")

    assert typo.exit_code == 0
    assert plain(typo.stderr) == "warning: no event 'o9' in the database\n"
    assert plain(typo.stdout) == "nothing to replay: no finished delivery matches\n"
    assert orjson.loads(mixed.stdout)["missing_events"] == ["o9"]
    assert len(orjson.loads(mixed.stdout)["deliveries"]) == 2


async def test_dry_run_lists_and_changes_nothing(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    before = count(db)
    originals = failed_ids(db)

    human = await hookd("replay", "-c", str(cfg), "--status", "failed", "--dry-run")
    as_json = await hookd("replay", "-c", str(cfg), "--status", "failed", "--dry-run", "--json")

    assert human.exit_code == 0, human.output
    out = plain(human.stdout)
    assert originals["o1"] in out and originals["o2"] in out
    assert "would replay 2 delivery(ies)" in out and out.endswith("dry run: nothing was queued\n")
    doc = orjson.loads(as_json.stdout)
    assert doc["dry_run"] is True and doc["queued"] == 0
    assert [(d["id"], d["replay_of"], d["event_id"], d["hook"]) for d in doc["deliveries"]] == [
        (None, originals["o1"], "o1", "bad"),
        (None, originals["o2"], "o2", "bad"),
    ]
    assert count(db) == before


async def test_rate_spaces_the_due_times(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    result = await hookd("replay", "-c", str(cfg), "--status", "delivered", "--rate", "10/s", "--json")
    bad_rate = await hookd("replay", "-c", str(cfg), "--status", "delivered", "--rate", "fast")

    assert result.exit_code == 0, result.output
    rows = db_rows(db, "SELECT next_at, created_at FROM deliveries WHERE replay_of IS NOT NULL ORDER BY next_at")
    assert len(rows) == 3
    created = {r[1] for r in rows}
    assert len(created) == 1
    start = float(created.pop())  # type: ignore[arg-type]
    assert [round(float(r[0]) - start, 6) for r in rows] == [0.0, 0.1, 0.2]  # type: ignore[arg-type]
    doc = orjson.loads(result.stdout)
    assert doc["queued"] == 3 and all(d["next_at"] for d in doc["deliveries"])
    assert bad_rate.exit_code == 2
    assert "--rate: 'fast' is not a rate; write a count per unit, like 5/s" in plain(bad_rate.stderr)


# -- --wait: sent from this process -----------------------------------------------------------------


async def test_wait_sends_in_process_and_exits_0(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    receiver.default["/bad"] = Reply()

    result = await hookd("replay", "-c", str(cfg), "--status", "failed", "--wait")

    assert result.exit_code == 0, result.output
    assert plain(result.stdout) == "queued 2 replay(s) to bad\n2 delivered, 0 failed, 0 to be retried\n"
    assert [r[2] for r in db_rows(db, REPLAYS)] == ["delivered", "delivered"]
    assert sorted(r.headers["webhook-id"] for r in receiver.at("/bad")[2:]) == ["o1", "o2"]
    async with running_daemon(cfg):  # the lock was given back
        pass


async def test_wait_with_a_rate_sends_each_when_it_falls_due(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    result = await hookd("replay", "-c", str(cfg), "--status", "delivered", "--wait", "--rate", "50/s")

    assert result.exit_code == 0, result.output
    assert "3 delivered, 0 failed, 0 to be retried" in plain(result.stdout)
    rows = db_rows(db, "SELECT state, created_at FROM deliveries WHERE replay_of IS NOT NULL")
    assert [r[0] for r in rows] == ["delivered"] * 3
    [(last_try,)] = db_rows(
        db, "SELECT max(a.started_at) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.replay_of IS NOT NULL"
    )  # fmt: skip
    due_last = float(rows[0][1]) + 2 / 50  # type: ignore[arg-type]
    assert float(last_try) >= due_last  # type: ignore[arg-type]  # the third was not sent before it was due


async def test_wait_exits_1_when_the_receiver_still_fails(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    result = await hookd("replay", "-c", str(cfg), "--event", "o1", "--hook", "bad", "--wait", "--json")
    human = await hookd("replay", "-c", str(cfg), "--event", "o2", "--hook", "bad", "--wait")

    assert result.exit_code == 1, result.output
    doc = orjson.loads(result.stdout)
    [sent] = doc["results"]
    assert (sent["event_id"], sent["status"], sent["last_status"], sent["replay_of"]) == (
        "o1", "failed", 503, doc["deliveries"][0]["replay_of"]
    )  # fmt: skip
    assert human.exit_code == 1
    out = plain(human.stdout)
    assert "0 delivered, 1 failed, 0 to be retried" in out
    assert "not delivered; hookd history show ID has every attempt" in out
    assert [r[2] for r in db_rows(db, REPLAYS)] == ["failed", "failed"]


async def test_wait_is_refused_while_a_daemon_runs(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        result = await hookd("replay", "-c", str(cfg), "--status", "failed", "--wait")
    assert result.exit_code == 2
    assert plain(result.stderr).replace("\n", " ") == (
        f"error: a hookd daemon (pid {os.getpid()}) is running with the database '{db}', and only one process "
        "may send its deliveries; drop --wait: the daemon sends the replays itself within a second "
    )
    assert db_rows(db, REPLAYS) == []  # refused before anything was queued


# -- --from-file ------------------------------------------------------------------------------------


async def test_from_file_stores_new_events_and_replays_stored_ones(short_dir: Path, receiver: Receiver) -> None:
    """1. o1 is stored (delivered to good, failed to bad); the file holds o1 again, a new order n1 and a
    new user event n2; 2. a dry run, then the replay; 3. a daemon starts.
    Result: n1 and n2 are stored from the file with first deliveries; o1 keeps its deliveries and gets a
    replay of each; the daemon delivers all five."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    receiver.default["/bad"] = Reply()
    events = short_dir / "events.jsonl"
    events.write_bytes(
        b"\n".join([event_line("order.created", id="o1"), event_line("order.created", id="n1"), b"",
                    event_line("user.created", id="n2")]) + b"\n"
    )  # fmt: skip
    before = count(db)

    dry = await hookd("replay", "-c", str(cfg), "--from-file", str(events), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert count(db) == before and db_rows(db, "SELECT id FROM events WHERE id = 'n1'") == []
    assert "3 event(s) in the file: 2 new, 1 already stored" in plain(dry.stdout)
    assert "would queue 5 delivery(ies)" in plain(dry.stdout)

    result = await hookd("replay", "-c", str(cfg), "--from-file", str(events), "--json")

    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert (doc["events"], doc["new_events"], doc["queued"]) == (3, 2, 5)
    new = db_rows(db, "SELECT id, source FROM events WHERE id IN ('n1', 'n2') ORDER BY id")
    assert new == [("n1", "replay:events.jsonl"), ("n2", "replay:events.jsonl")]
    rows = db_rows(
        db,
        "SELECT event_id, hook, state, replay_of IS NOT NULL FROM deliveries WHERE event_id IN ('o1', 'n1', 'n2') "
        "AND state = 'pending' ORDER BY 1, 2",
    )
    assert rows == [
        ("n1", "bad", "pending", 0),
        ("n1", "good", "pending", 0),
        ("n2", "good", "pending", 0),
        ("o1", "bad", "pending", 1),
        ("o1", "good", "pending", 1),
    ]
    async with running_daemon(cfg):
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'pending'", lambda r: r[0][0] == 0)
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'") == [(3 + 5,)]


async def test_from_file_with_a_bad_line_exits_2_and_changes_nothing(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    events = short_dir / "events.jsonl"
    events.write_bytes(event_line(id="x1") + b"\n{not json\n" + b'{"id": "x3"}\n')
    before = count(db)

    result = await hookd("replay", "-c", str(cfg), "--from-file", str(events))
    missing = await hookd("replay", "-c", str(cfg), "--from-file", str(short_dir / "absent.jsonl"))

    assert result.exit_code == 2
    err = plain(result.stderr)
    assert f"2 line(s) of '{events}' are not events; nothing was replayed" in err
    assert f"{events}:2: invalid JSON" in err
    assert f'{events}:3: "type" is missing' in err
    assert count(db) == before and db_rows(db, "SELECT id FROM events WHERE id = 'x1'") == []
    assert missing.exit_code == 2 and "cannot read" in plain(missing.stderr)


# -- usage --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to replay: --status failed, --event ID"),
        (("--status", "pending"), "--status pending deliveries are still queued and will be sent anyway"),
        (("--status", "faled"), "did you mean 'failed'?"),
        (("--hook", "bad", "--from-file", "x.jsonl"), "--from-file replays the file's events; filters like"),
        (("--since", "later"), "--since 'later' is neither a duration nor a time"),
    ],
)
async def test_usage_errors_exit_2(short_dir: Path, receiver: Receiver, args: tuple[str, ...], message: str) -> None:
    cfg = await populate(short_dir, receiver)

    result = await hookd("replay", "-c", str(cfg), *args)

    assert result.exit_code == 2, result.output
    assert message in plain(result.stderr).replace("\n", " ")
    assert "Traceback" not in result.output


# -- a real `hookd serve` and real `hookd` commands --------------------------------------------------

# `python -m hookd` once hookd.cli.app registers history and replay; until then the same entry point
# with the modules imported first.
HOOKD = [sys.executable, "-m", "hookd"]


async def run_hookd(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HOOKD_CONFIG"}
    proc = await asyncio.create_subprocess_exec(
        *HOOKD, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    async with asyncio.timeout(FAILSAFE_S):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_replay_command_and_a_serving_daemon_in_separate_processes(short_dir: Path, receiver: Receiver) -> None:
    """1. `hookd serve` runs; the receiver answers 503, so three events' deliveries fail (one attempt each);
    2. the receiver recovers; `hookd replay --status failed` runs as its own process and exits;
    3. `hookd history --json` runs as its own process.
    Result: the running daemon delivers the three replays (same webhook-id), and history shows them
    delivered, each pointing at the failed delivery it replays."""
    receiver.default["/in"] = Reply(status=503)
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/in")}", retry: {{max_attempts: 1}}}}
        """,
    )
    db = short_dir / "hookd.db"
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(3)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'failed'", lambda r: r[0][0] == 3)
        failed = failed_ids(db)
        receiver.default["/in"] = Reply()

        code, out, err = await run_hookd("replay", "-c", str(cfg), "--status", "failed")
        assert code == 0, err
        assert out.startswith("queued 3 replay(s) to h\n")

        await receiver.wait_count(6, "/in")
        await wait_db(db, *replays_delivered(3))  # type: ignore[arg-type]
        code, out, err = await run_hookd("history", "-c", str(cfg), "--json", "--status", "delivered")
        assert code == 0, err
        rows = orjson.loads(out)
        assert sorted((r["event_id"], r["status"], r["replay_of"]) for r in rows) == [
            (e, "delivered", failed[e]) for e in ("e0", "e1", "e2")
        ]
        assert sorted(r.headers["webhook-id"] for r in receiver.at("/in")[3:]) == ["e0", "e1", "e2"]
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await daemon.close()
