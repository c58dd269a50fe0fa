"""Issue 21, a new user's findings on the read commands (hooks list, history, status, test) and pauses
made while the daemon is stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from hookd import client
from hookd.cli.common import local_time
from hookd.events import utc_now_rfc3339
from hookd.store.base import BreakerRecord
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    new_database,
    open_store,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_until,
    write_config,
)
from tests.manual_clock import ManualClock
from tests.test_h21_pause_cli import ORDERS, listed, pause_config


async def test_a_read_command_refuses_an_sqlite_file_that_is_not_hookds(tmp_path: Path) -> None:
    """1. An SQLite file with a table of its own (another program's database), and an empty file.
    2. `hookd history --db` and `hookd hooks list --db` on the first; history on the second.
    Result: each exits 2 with a sentence that says the file is not a hookd database, names its tables and
    how to fix; the file keeps only its own table (hookd added none). The empty file is a new database."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    for args in (("history",), ("hooks", "list")):
        result = await hookd(*args, "--db", str(other))
        assert result.exit_code == 2, (args, result.output)
        text = " ".join(plain(result.output).split())
        assert f"{str(other)!r} (given with --db) is not a hookd database" in text, text
        assert "other tables (t) and no hookd migration records" in text
        assert "point --db (or storage.path) at the file hookd serve writes" in text
    assert db_rows(other, "SELECT name FROM sqlite_master WHERE type = 'table'") == [("t",)]
    empty = tmp_path / "empty.db"
    empty.touch()
    assert (await hookd("history", "--db", str(empty))).exit_code == 0


async def test_small_pause_and_history_texts(short_dir: Path, receiver: Receiver) -> None:
    """1. A config with hooks orders and billing; the database also knows `legacy` (no longer configured).
    2. `hooks pause legacy`, text and --json; `hooks pause -h`; `history --status paused`.
    Result: legacy is paused, with a warning that it is not in the config (`configured: false` in --json);
    pause -h speaks of restarts, not of config reloads (hookd has none); --status paused says paused is a
    hook's state (hooks list) and suggests no delivery status."""
    cfg = pause_config(short_dir, receiver, admin=False)
    db = short_dir / "hookd.db"
    await new_database(db)
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO hook_state (hook, updated_at) VALUES ('legacy', 0)")
    conn.close()
    paused = await hookd("hooks", "pause", "legacy", "-c", str(cfg))
    assert paused.exit_code == 0, paused.output
    text = " ".join(plain(paused.output).split())
    assert f"warning: legacy is not in the config ({cfg}), only in the database: the pause is stored" in text
    assert db_rows(db, "SELECT paused_by FROM hook_state WHERE hook = 'legacy'") == [("operator",)]
    assert (await hookd("hooks", "resume", "legacy", "--db", str(db))).exit_code == 0
    doc = await hookd("hooks", "pause", "legacy", "-c", str(cfg), "--json")
    assert doc.exit_code == 0
    assert orjson.loads(doc.stdout)["configured"] is False
    configured = await hookd("hooks", "pause", "orders", "-c", str(cfg), "--json")
    assert "warning" not in configured.output and orjson.loads(configured.output)["configured"] is True

    help_text = " ".join(plain((await hookd("hooks", "pause", "-h")).output).split())
    assert "it survives restarts and config edits" in help_text and "reload" not in help_text

    wrong = await hookd("history", "--status", "paused", "--db", str(db))
    assert wrong.exit_code == 2
    text = " ".join(plain(wrong.output).split())
    assert "--status 'paused' is not a delivery status" in text
    assert "paused is a hook's state, which hookd hooks list shows" in text and "did you mean" not in text


async def test_hooks_list_shows_the_last_failed_attempt_after_the_delivery_succeeded(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook orders (retry after 5s); its receiver answers 503 once, then 200. A daemon on a ManualClock.
    2. One event: the first attempt fails; the clock moves 5s; the retry is delivered.
    3. `hooks list --json`; and an old database's attempts filled in by migration 0009.
    Result: last_failure_at is the failed attempt's end (its delivery is delivered since, which the old
    list lost), last_success_at the retry's; the migration fills both from attempts already stored."""
    receiver.on("/orders", Reply(status=503))
    cfg = pause_config(short_dir, receiver, orders=", retry: {schedule: [5s]}", admin=False)
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock):
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await wait_db(db, ORDERS, lambda r: r == [("e1", "pending", 1)])
        failed_at = clock.now()
        clock.advance(5.0)
        await wait_db(db, ORDERS, lambda r: r == [("e1", "delivered", 2)])
    doc = await hookd("hooks", "list", "-c", str(cfg), "--json")
    orders = listed(doc.output)["orders"]
    assert orders["last_failure_at"] == utc_now_rfc3339(failed_at + _duration(db, 1))
    assert orders["last_success_at"] == utc_now_rfc3339(failed_at + 5.0 + _duration(db, 2))

    # A database from before migration 0009: its attempts give the two times once.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE hook_state SET last_success_at = NULL, last_failure_at = NULL")
        conn.execute("DELETE FROM migrations WHERE name = '0009_pause_announced'")
        conn.execute("ALTER TABLE hook_state DROP COLUMN pause_announced")
        conn.execute("ALTER TABLE hook_state DROP COLUMN last_success_at")
        conn.execute("ALTER TABLE hook_state DROP COLUMN last_failure_at")
    conn.close()
    again = listed((await hookd("hooks", "list", "-c", str(cfg), "--json")).output)["orders"]
    assert (again["last_failure_at"], again["last_success_at"]) == (
        orders["last_failure_at"],
        orders["last_success_at"],
    )


def _duration(db: Path, attempt: int) -> float:
    [(duration,)] = db_rows(
        db,
        "SELECT a.duration_s FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
        f"WHERE d.hook = 'orders' AND a.attempt = {attempt}",
    )
    assert isinstance(duration, float)
    return duration


async def test_history_show_says_a_paused_or_broken_hook_holds_the_next_try(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook orders' receiver answers 503: its delivery is retrying (due in 5s). The daemon stops.
    2. `hooks pause orders --reason maintenance`; `history show` (text, --json).
    3. `hooks resume`; its breaker is stored open, probing 100s after the due time; `history show`.
    Result: (2) next try "when the hook is resumed (paused by operator: maintenance)", held_by.paused in
    --json; (3) "at the breaker's probe, after <its time>", held_by.breaker.probe_at; not the due time."""
    receiver.on("/orders", Reply(status=503))
    cfg = pause_config(short_dir, receiver, orders=", retry: {schedule: [5s]}", admin=False)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg, clock=ManualClock()):
        assert all(a["ok"] for a in await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")]))
        await wait_db(db, ORDERS, lambda r: r == [("e1", "pending", 1)])
    [(delivery_id, next_at)] = db_rows(db, "SELECT id, next_at FROM deliveries WHERE hook = 'orders'")
    assert isinstance(delivery_id, str) and isinstance(next_at, float)
    assert (await hookd("hooks", "pause", "orders", "--reason", "maintenance", "-c", str(cfg))).exit_code == 0
    shown = await hookd("history", "show", delivery_id, "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = " ".join(plain(shown.output).split())
    assert "next try when the hook is resumed (paused by operator: maintenance)" in text
    doc = orjson.loads((await hookd("history", "show", delivery_id, "-c", str(cfg), "--json")).output)
    assert doc["deliveries"][0]["held_by"]["paused"]["reason"] == "maintenance"

    assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
    async with open_store(db) as store:
        await store.set_breaker(
            "orders", BreakerRecord(state="open", reason="5 failures", since=next_at, retry_at=next_at + 100), next_at
        )
    text = " ".join(plain((await hookd("history", "show", delivery_id, "-c", str(cfg))).output).split())
    assert f"next try at the breaker's probe, after {local_time(next_at + 100)}" in text, text
    doc = orjson.loads((await hookd("history", "show", delivery_id, "-c", str(cfg), "--json")).output)
    assert doc["deliveries"][0]["held_by"] == {"breaker": {"probe_at": utc_now_rfc3339(next_at + 100)}}
    by_event = orjson.loads((await hookd("history", "show", "e1", "-c", str(cfg), "--json")).output)
    assert {d["hook"]: d["held_by"] is None for d in by_event["deliveries"]} == {"orders": False, "billing": True}


async def test_status_counts_pending_as_history_does_and_quotes_each_reasons_own_error(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook h (retry in 1h): its receiver answers 400 (final), then 503. Hook p has rate_limit 1/min.
    2. Events h1 (fails for good), h2 (retrying), p1 (delivered: p's token is spent); `hooks pause p`
       and the admin refresh; p2 (waits).
    3. `hookd status` (text and --json).
    Result: h: pending 0, retrying 1 (pending is "not attempted yet", as in history); p: pending 1.
    Health's "failed for good" reason quotes HTTP 400 (the failed delivery's error), the retry reason
    HTTP 503. p's rate limit is not `waiting`: a paused hook waits for the resume, not for a token."""
    receiver.on("/h", Reply(status=400), Reply(status=503))
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: h, events: ["h.*"], url: "{receiver.url("/h")}", retry: {{schedule: [1h]}}}}
          - {{name: p, events: ["p.*"], url: "{receiver.url("/p")}", rate_limit: 1/min}}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )
    db = short_dir / "hookd.db"
    states = "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id"
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        assert daemon.admin_url is not None
        sock = short_dir / "s.sock"
        assert all(a["ok"] for a in await send_lines(sock, [event_line("h.x", id="h1"), event_line("p.x", id="p1")]))
        await wait_db(db, states, lambda r: r == [("h1", "failed", 1), ("p1", "delivered", 1)])
        assert all(a["ok"] for a in await send_lines(sock, [event_line("h.x", id="h2")]))
        await wait_db(db, states, lambda r: ("h2", "pending", 1) in r)
        assert (await hookd("hooks", "pause", "p", "-c", str(cfg))).exit_code == 0
        assert await client.refresh_hooks(daemon.admin_url, token=None)
        await wait_until(lambda: daemon.dispatcher.lanes["p"].paused is not None)
        assert all(a["ok"] for a in await send_lines(sock, [event_line("p.x", id="p2")]))
        await wait_db(db, states, lambda r: ("p2", "pending", 0) in r)

        doc = await client.fetch_status(daemon.admin_url, token=None)
        hooks = {str(item["name"]): item for item in doc["hooks"]}
        assert (hooks["h"]["pending"], hooks["h"]["retrying"]) == (0, 1)
        assert (hooks["p"]["pending"], hooks["p"]["retrying"]) == (1, 0)
        assert hooks["p"]["rate_limit"]["waiting_for_tokens"] is False
        reasons = doc["health"]["reasons"]
        failed = "hook 'h': 1 delivery(ies) failed for good in the last 5 min (last error: HTTP 400 (a 4xx other than"
        assert any(r.startswith(failed) for r in reasons), reasons
        assert (
            "hook 'h': 1 delivery(ies) waiting to retry after a failed attempt in the last 5 min "
            "(last error: HTTP 503)" in reasons
        )
        text = plain((await hookd("status", "--url", daemon.admin_url)).output)
        [p_line] = [line for line in text.splitlines() if line.startswith("p ")]
        assert "1/min" in p_line and "waiting" not in p_line
        assert "pending: not attempted yet; retrying: waiting after a failed attempt" in " ".join(text.split())


async def test_hookd_test_shows_the_ordering_key_and_validate_unbraces_it(tmp_path: Path) -> None:
    """1. Hook o has ordering_key data.order_id, hook n none; hook t writes `"{{ data.order_id }}"`.
    2. `hookd test --type order.created --data {"order_id": "o-7"}` (text, --json) on the first config;
       `hookd validate` on the second.
    Result: o's key o-7 is shown (text: `ordering key: o-7`; --json ordering_key), n has none (null);
    validate says to write the JMESPath expression without {{ }}: data.order_id."""
    cfg = write_config(
        tmp_path,
        """
        version: 1
        storage: {path: hookd.db}
        sources: [{name: app, type: socket, path: s.sock}]
        hooks:
          - {name: o, events: ["order.*"], url: "http://127.0.0.1:9/o", ordering_key: data.order_id}
          - {name: n, events: ["order.*"], url: "http://127.0.0.1:9/n"}
        """,
    )
    args = ("test", "-c", str(cfg), "--type", "order.created", "--data", '{"order_id": "o-7"}')
    text = plain((await hookd(*args)).output)
    assert "o: matched\n    ordering key: o-7\n" in text and text.count("ordering key:") == 1
    doc = orjson.loads((await hookd(*args, "--json")).output)
    keys = {h["hook"]: h["ordering_key"] for h in doc["events"][0]["hooks"]}
    assert keys == {"o": "o-7", "n": None}

    braced = tmp_path / "braced.yaml"
    braced.write_text(cfg.read_text().replace("ordering_key: data.order_id", 'ordering_key: "{{ data.order_id }}"'))
    result = await hookd("validate", "-c", str(braced))
    assert result.exit_code == 1
    assert "write the JMESPath expression without {{ }}: data.order_id" in " ".join(plain(result.output).split())


async def test_hooks_and_history_run_without_the_deployments_secrets(short_dir: Path, receiver: Receiver) -> None:
    """1. A config whose hook URL takes ${H21_UNSET_TOKEN} (not set in this shell); a database.
    2. `hooks pause`, `hooks list`, `hooks resume`, `history` with -c; a second config whose
       storage.path is ${H21_UNSET_DIR}/hookd.db.
    Result: (2) each works from the config's storage.path, and no output holds a resolved secret; the
    second exits 2 saying storage.path uses ${H21_UNSET_DIR}, which is not set: set it or pass --db."""
    cfg = pause_config(short_dir, receiver, admin=False)
    cfg.write_text(cfg.read_text().replace('/orders"', '/orders?token=${H21_UNSET_TOKEN}"'))
    db = short_dir / "hookd.db"
    await new_database(db)
    paused = await hookd("hooks", "pause", "orders", "-c", str(cfg))
    assert paused.exit_code == 0, paused.output
    assert db_rows(db, "SELECT hook, paused_by FROM hook_state") == [("orders", "operator")]
    listing = await hookd("hooks", "list", "-c", str(cfg), "--json")
    assert listing.exit_code == 0, listing.output
    assert listed(listing.stdout)["orders"]["state"] == "paused"
    assert (await hookd("hooks", "resume", "orders", "-c", str(cfg))).exit_code == 0
    assert (await hookd("history", "-c", str(cfg))).exit_code == 0

    elsewhere = short_dir / "elsewhere.yaml"
    elsewhere.write_text(cfg.read_text().replace(f"path: {short_dir}/hookd.db", 'path: "${H21_UNSET_DIR}/hookd.db"'))
    refused = await hookd("hooks", "list", "-c", str(elsewhere))
    assert refused.exit_code == 2
    text = " ".join(plain(refused.output).split())
    assert (
        "storage.path in" in text and "uses ${H21_UNSET_DIR}, which is not set here; set it, or pass --db PATH" in text
    )
    assert (await hookd("hooks", "list", "-c", str(elsewhere), "--db", str(db))).exit_code == 0
