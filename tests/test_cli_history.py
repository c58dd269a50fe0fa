"""`hookd history` and `hookd prune` through typer's CliRunner, on a database a real daemon filled.

The runner blocks (and the commands run their own event loop), so it runs in a thread while the
test's loop serves the receiver and, where it runs, the daemon.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
from typer.testing import Result

import hookd.cli.history  # registers the commands
import hookd.cli.prune
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, write_config

SECRET = "s3cret-token-value"


def history_config(d: Path, receiver: Receiver, *, db: str = "hookd.db") -> Path:
    return write_config(
        d,
        f"""
        version: 1
        storage: {{path: {d}/{db}}}
        sources:
          - {{name: app, type: socket, path: {d}/s.sock}}
        hooks:
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
            headers: {{Authorization: "Bearer {SECRET}", X-Event: "{{{{ id }}}}"}}
          - name: bad
            events: ["order.*"]
            url: {receiver.url("/bad")}
            retry: {{max_attempts: 1}}
        """,
    )


def finished(n: int) -> tuple[str, object]:
    return "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')", lambda r: r[0][0] == n


async def populate(d: Path, receiver: Receiver) -> Path:
    """1. Hook good gets every event and answers 200; hook bad gets order.* and answers 503 (one attempt);
    2. o1 (order.created) is sent first, then o2 (order.paid) and u1 (user.created) in a later commit.
    Result: 3 delivered to good, 2 failed to bad. Returns the config path."""
    receiver.default["/bad"] = Reply(status=503, body=b"down for maintenance")
    cfg = history_config(d, receiver)
    async with running_daemon(cfg):
        await send_lines(d / "s.sock", [event_line("order.created", id="o1", data={"total": 5})])
        await wait_db(d / "hookd.db", *finished(2))  # type: ignore[arg-type]
        await send_lines(d / "s.sock", [event_line("order.paid", id="o2"), event_line("user.created", id="u1")])
        await wait_db(d / "hookd.db", *finished(5))  # type: ignore[arg-type]
    return cfg


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def ids(result: Result) -> list[tuple[str, str]]:
    assert result.exit_code == 0, result.output
    return [(str(r["event_id"]), str(r["hook"])) for r in orjson.loads(result.stdout)]


# -- hookd history ------------------------------------------------------------------------------------


async def test_lists_deliveries_newest_first_as_a_table_and_as_json(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    human = await hookd("history", "-c", str(cfg))
    as_json = await hookd("history", "-c", str(cfg), "--json")

    assert human.exit_code == 0, human.output
    out = plain(human.stdout)
    assert re.search(r"^time +delivery +event +type +hook +status +tries +code +ms +last error$", out, re.M), out
    lines = [line for line in out.splitlines() if re.match(r"^\d{4}-\d\d-\d\dT", line)]
    assert len(lines) == 5
    assert re.search(r" o1 +order\.created +bad +failed +1 +503 +\d+ +HTTP 503$", out, re.M), out
    assert re.search(r" u1 +user\.created +good +delivered +1 +200 +\d+ *$", out, re.M), out
    assert "5 delivery(ies), newest first" in out
    rows = orjson.loads(as_json.stdout)
    assert as_json.exit_code == 0
    assert [r["event_id"] for r in rows][-2:] == ["o1", "o1"]  # the first commit is the oldest
    assert sorted((r["event_id"], r["hook"], r["status"]) for r in rows) == [
        ("o1", "bad", "failed"),
        ("o1", "good", "delivered"),
        ("o2", "bad", "failed"),
        ("o2", "good", "delivered"),
        ("u1", "good", "delivered"),
    ]
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)
    first = next(r for r in rows if r["hook"] == "bad" and r["event_id"] == "o1")
    assert first["last_status"] == 503 and first["last_error"] == "HTTP 503" and first["attempts"] == 1
    assert first["type"] == "order.created" and first["replay_of"] is None and first["next_at"] is None
    assert isinstance(first["last_duration_s"], float)


async def test_filters_hook_status_event_type_window_and_limit(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    c = ("-c", str(cfg), "--json")
    [(o1_at,)] = db_rows(short_dir / "hookd.db", "SELECT max(created_at) FROM deliveries WHERE event_id = 'o1'")
    [(o2_at,)] = db_rows(short_dir / "hookd.db", "SELECT min(created_at) FROM deliveries WHERE event_id = 'o2'")
    assert isinstance(o1_at, float) and isinstance(o2_at, float) and o1_at < o2_at
    between = rfc3339((o1_at + o2_at) / 2)

    assert sorted(ids(await hookd("history", *c, "--hook", "bad"))) == [("o1", "bad"), ("o2", "bad")]
    assert sorted(ids(await hookd("history", *c, "--status", "failed"))) == [("o1", "bad"), ("o2", "bad")]
    assert len(ids(await hookd("history", *c, "--status", "delivered,failed"))) == 5
    assert len(ids(await hookd("history", *c, "--status", "retrying", "--status", "pending"))) == 0
    assert sorted(ids(await hookd("history", *c, "--event", "o1"))) == [("o1", "bad"), ("o1", "good")]
    assert sorted(ids(await hookd("history", *c, "--event", "u1", "--event", "o2", "--hook", "good"))) == [
        ("o2", "good"),
        ("u1", "good"),
    ]
    assert sorted(ids(await hookd("history", *c, "--type", "user.*"))) == [("u1", "good")]
    assert len(ids(await hookd("history", *c, "--type", "order.*"))) == 4
    assert sorted(ids(await hookd("history", *c, "--since", between))) == [
        ("o2", "bad"),
        ("o2", "good"),
        ("u1", "good"),
    ]
    assert sorted(ids(await hookd("history", *c, "--until", between))) == [("o1", "bad"), ("o1", "good")]
    assert len(ids(await hookd("history", *c, "--since", "1h"))) == 5
    assert ids(await hookd("history", *c, "--until", "1h")) == []
    assert len(ids(await hookd("history", *c, "--limit", "2"))) == 2
    human = await hookd("history", "-c", str(cfg), "--limit", "2")
    assert "2 delivery(ies), newest first; more match: --limit 0 shows them all" in plain(human.stdout)
    empty = await hookd("history", "-c", str(cfg), "--hook", "nope")
    assert (empty.exit_code, empty.stdout) == (0, "no deliveries match\n")


async def test_usage_errors_exit_2_with_a_sentence(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    typo = await hookd("history", "-c", str(cfg), "--status", "faild")
    since = await hookd("history", "-c", str(cfg), "--since", "yesterday")
    naive = await hookd("history", "-c", str(cfg), "--until", "2026-01-31T12:00:00")

    assert typo.exit_code == 2
    assert plain(typo.stderr) == (
        "error: --status 'faild' is not one of: pending, delivering, delivered, retrying, failed, cancelled; "
        "did you mean 'failed'?\n"
    )
    assert since.exit_code == 2
    assert "--since 'yesterday' is neither a duration nor a time; write how long ago, like 30m" in plain(since.stderr)
    assert naive.exit_code == 2 and "has no timezone" in plain(naive.stderr)
    assert "Traceback" not in typo.output + since.output + naive.output


async def test_missing_database_says_where_it_looked(short_dir: Path, receiver: Receiver) -> None:
    cfg = history_config(short_dir, receiver, db="var/none.db")

    from_config = await hookd("history", "-c", str(cfg))
    from_flag = await hookd("history", "--db", str(short_dir / "typo.db"))
    no_config = await hookd("history", "-c", str(short_dir / "absent.yaml"))

    assert from_config.exit_code == 2
    assert plain(from_config.stderr).replace("\n", " ") == (
        f"error: no database at '{short_dir}/var/none.db' (storage.path in {cfg}); hookd serve creates it on "
        "its first start: start the daemon once, or point --db at the right file "
    )
    assert from_flag.exit_code == 2 and "(given with --db)" in plain(from_flag.stderr)
    assert not (short_dir / "typo.db").exists() and not (short_dir / "var").exists()  # nothing created
    assert no_config.exit_code == 2
    assert "hookd history needs a valid config for storage.path (-c FILE), or --db PATH." in plain(no_config.stderr)


async def test_a_database_path_that_cannot_be_opened_is_a_sentence(short_dir: Path) -> None:
    # A directory this user may not enter raises from exists(); so does a name too long, as root too.
    db = short_dir / ("x" * 300) / "hookd.db"
    result = await hookd("history", "--db", str(db))
    assert result.exit_code == 2
    assert (
        plain(result.stderr).replace("\n", "")
        == f"error: cannot open the database '{db}' (given with --db): File name too long"
    )


async def test_reads_beside_a_running_daemon_and_with_db_alone(short_dir: Path, receiver: Receiver) -> None:
    cfg = history_config(short_dir, receiver)
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line("user.created", id="u9")])
        await wait_db(short_dir / "hookd.db", *finished(1))  # type: ignore[arg-type]
        during = await hookd("history", "--db", str(short_dir / "hookd.db"), "--json")
        await send_lines(short_dir / "s.sock", [event_line("user.created", id="u10")])  # the daemon still writes
        await wait_db(short_dir / "hookd.db", *finished(2))  # type: ignore[arg-type]
    assert ids(during) == [("u9", "good")]


# -- hookd history show -------------------------------------------------------------------------------


async def test_show_a_delivery_id_prints_the_event_and_each_attempt_redacted(
    short_dir: Path, receiver: Receiver
) -> None:
    cfg = await populate(short_dir, receiver)
    sql = "SELECT id FROM deliveries WHERE event_id = 'o1' AND hook = 'good'"
    [(delivery_id,)] = db_rows(short_dir / "hookd.db", sql)
    assert isinstance(delivery_id, str)

    result = await hookd("history", "show", delivery_id, "-c", str(cfg))

    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert out.startswith("event o1  order.created\n")
    assert re.search(r"^  received   \d{4}-.* by source app$", out, re.M), out
    assert re.search(r'^  body       \{\n {15}"id": "o1",$', out, re.M), out  # pretty-printed, lined up
    assert re.search(r'^ {17}"total": 5$', out, re.M), out
    assert f"delivery {delivery_id} to hook good: delivered after 1 attempt(s)" in out
    assert re.search(r"^  attempt 1  \d{4}-\S+  HTTP 200 in \d+ ms: delivered$", out, re.M), out
    assert re.search(rf"^    request    POST {re.escape(receiver.url('/good'))}$", out, re.M), out
    assert re.search(r"^ +Authorization: \*\*\*$", out, re.M), out
    assert re.search(r"^ +X-Event: o1$", out, re.M), out
    assert re.search(r"^ +webhook-id: o1$", out, re.M), out
    assert re.search(r"^    response   content-type: application/octet-stream$", out, re.M), out
    assert re.search(r"^    body       ok$", out, re.M), out
    assert SECRET not in result.output
    assert "to hook bad" not in out  # a delivery id shows that delivery only


async def test_show_an_event_id_prints_all_its_deliveries_and_json(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    human = await hookd("history", "show", "o1", "-c", str(cfg))
    as_json = await hookd("history", "show", "o1", "-c", str(cfg), "--json")

    assert human.exit_code == 0, human.output
    out = plain(human.stdout)
    assert "to hook good: delivered after 1 attempt(s)" in out
    assert "to hook bad: failed after 1 attempt(s)" in out
    assert re.search(r"^  attempt 1  \S+  HTTP 503 in \d+ ms: failed$", out, re.M), out
    assert re.search(r"^    error      HTTP 503$", out, re.M), out
    assert re.search(r"^    body       down for maintenance$", out, re.M), out
    doc = orjson.loads(as_json.stdout)
    assert doc["event"]["id"] == "o1" and doc["event"]["envelope"]["data"] == {"total": 5}
    assert doc["event"]["received_by"] == "app"
    assert sorted(d["hook"] for d in doc["deliveries"]) == ["bad", "good"]
    good = next(d for d in doc["deliveries"] if d["hook"] == "good")
    [attempt] = good["attempts"]
    assert attempt["status"] == 200 and attempt["outcome"] == "delivered" and attempt["response_excerpt"] == "ok"
    assert attempt["request"]["headers"]["Authorization"] == "***"
    assert attempt["request"]["method"] == "POST" and isinstance(attempt["duration_s"], float)
    assert SECRET not in as_json.stdout


async def test_show_an_unknown_id_exits_1(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    result = await hookd("history", "show", "nope", "-c", str(cfg))

    assert result.exit_code == 1
    assert plain(result.stderr).startswith("error: no delivery or event id is or starts with 'nope' in ")


# -- hookd history stats ------------------------------------------------------------------------------


async def test_stats_per_hook(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    as_json = await hookd("history", "stats", "-c", str(cfg), "--json")
    human = await hookd("history", "stats", "-c", str(cfg), "--since", "1h")
    old = await hookd("history", "stats", "-c", str(cfg), "--until", "1h", "--since", "2h")

    assert as_json.exit_code == 0, as_json.output
    doc = orjson.loads(as_json.stdout)
    bad, good = doc["hooks"]
    assert (good["hook"], good["deliveries"], good["delivered"], good["failed"], good["success_rate"]) == (
        "good", 3, 3, 0, 1.0
    )  # fmt: skip
    assert good["attempts"] == 3 and good["failures"] == [] and 0 < good["p50_s"] <= good["p95_s"]
    assert (bad["hook"], bad["deliveries"], bad["failed"], bad["success_rate"], bad["attempts"]) == (
        "bad", 2, 2, 0.0, 2
    )  # fmt: skip
    assert bad["failures"] == [{"reason": "HTTP 503", "attempts": 2}]
    assert human.exit_code == 0, human.output
    out = plain(human.stdout)
    assert re.search(r"^good +3 +3 +0 +0 +100\.0% +3 +\d+ +\d+$", out, re.M), out
    assert re.search(r"^bad +2 +0 +2 +0 +0\.0% +2 +\d+ +\d+$", out, re.M), out
    assert re.search(r"^bad +HTTP 503 +2$", out, re.M), out
    assert old.exit_code == 0 and old.stdout.startswith("no deliveries created from ")


# -- hookd prune --------------------------------------------------------------------------------------


async def test_prune_deletes_finished_work_older_than_asked(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    kept = await hookd("prune", "-c", str(cfg))  # storage.retention: 90d
    pruned = await hookd("prune", "-c", str(cfg), "--older-than", "0s", "--json")
    bad = await hookd("prune", "-c", str(cfg), "--older-than", "soon")

    assert kept.exit_code == 0, kept.output
    assert plain(kept.stdout).startswith(
        "pruned 0 delivery(ies), 0 attempt(s), 0 event(s) and 0 rejected line(s) older than 90d (before "
    )
    assert pruned.exit_code == 0, pruned.output
    doc = orjson.loads(pruned.stdout)
    assert (doc["deliveries"], doc["attempts"], doc["events"], doc["rejected"]) == (5, 5, 3, 0)
    assert doc["older_than_s"] == 0
    assert db_rows(db, "SELECT count(*) FROM deliveries") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM events") == [(0,)]
    assert bad.exit_code == 2 and "--older-than: 'soon' is not a duration" in plain(bad.stderr)
