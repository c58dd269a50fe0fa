"""History and replay as an operator meets them: tables that fit the terminal, ids by unique prefix,
--hook names that match nothing, --since in bare seconds, and `replay --cancel`.

Commands run through typer's CliRunner on a database a real daemon filled (tests/test_cli_history.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

import hookd.cli.history  # registers the commands
import hookd.cli.prune
import hookd.cli.replay
from hookd.cli.app import app
from hookd.store import sqlite_reads
from hookd.store.base import DeliveryQuery
from hookd.suggest import closest, did_you_mean
from hookd.units import parse_duration_text
from tests.cli_helpers import plain
from tests.conftest import Receiver, db_rows, new_database, open_store, running_daemon
from tests.store_helpers import query_plan
from tests.test_cli_history import populate
from tests.test_store_queries import routed


async def hookd(*args: str, env: dict[str, str] | None = None) -> Result:
    environment: dict[str, str | None] = {"HOOKD_CONFIG": None, "COLUMNS": None, **(env or {})}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)


def table_lines(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return plain(result.stdout).splitlines()


def delivery_ids(db: Path) -> list[str]:
    return [str(r[0]) for r in db_rows(db, "SELECT id FROM deliveries ORDER BY id")]


# -- tables that fit the terminal ------------------------------------------------------------------


async def test_history_fits_80_and_120_columns_with_short_unique_ids(short_dir: Path, receiver: Receiver) -> None:
    """1. Five deliveries (three delivered to good, two failed to bad with an error);
    2. `hookd history` at COLUMNS=80, then at COLUMNS=120.
    Result: no line is wider than the terminal; at 80 the delivery id, status and hook are whole
    (no `stat…`) and the caption names the columns left out; at 120 every column shows. Delivery
    ids are the same-length prefixes of the stored ids, at least 8 characters, each unique."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    full = delivery_ids(db)

    narrow = await hookd("history", "-c", str(cfg), env={"COLUMNS": "80"})
    wide = await hookd("history", "-c", str(cfg), env={"COLUMNS": "120"})

    for result, width in ((narrow, 80), (wide, 120)):
        lines = table_lines(result)
        assert max(len(line) for line in lines) <= width, "\n".join(lines)
        assert "…" not in plain(result.stdout)
    narrow_lines = table_lines(narrow)
    header = narrow_lines[0].split()
    assert {"delivery", "hook", "status"} <= set(header)
    rows = [line.split() for line in narrow_lines[2:7]]
    shorts = [r[header.index("delivery")] for r in rows]
    assert len({len(s) for s in shorts}) == 1 and len(shorts[0]) >= 8
    for short in shorts:
        assert [i for i in full if i.startswith(short)] == [next(i for i in full if i.startswith(short))]
    assert sorted(r[header.index("status")] for r in rows) == ["delivered"] * 3 + ["failed"] * 2
    assert "left out to fit 80 columns; --json has everything" in " ".join(plain(narrow.stdout).split())
    wide_header = table_lines(wide)[0].split()
    assert wide_header == [
        "time",
        "delivery",
        "event",
        "type",
        "hook",
        "status",
        "tries",
        "code",
        "ms",
        "last",
        "error",
    ]
    assert "left out" not in plain(wide.stdout)


# -- ids by prefix ----------------------------------------------------------------------------------


async def test_show_and_event_filters_take_a_unique_prefix(short_dir: Path, receiver: Receiver) -> None:
    """1. Events o1, o2, u1 and five deliveries; 2. show, history --event and replay --event with prefixes.
    Result: a unique prefix names its delivery or event; an ambiguous one exits 2 listing the ids it
    starts; one that starts nothing says so (show exits 1, the filters warn)."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    [(failed_id,)] = db_rows(db, "SELECT id FROM deliveries WHERE event_id = 'o1' AND hook = 'bad'")
    short = str(failed_id)[:20]

    by_prefix = await hookd("history", "show", short, "-c", str(cfg), "--json")
    event = await hookd("history", "show", "u", "-c", str(cfg), "--json")
    ambiguous = await hookd("history", "show", "o", "-c", str(cfg))
    ambiguous_delivery = await hookd("history", "show", str(failed_id)[:4], "-c", str(cfg))
    nothing = await hookd("history", "show", "zz", "-c", str(cfg))
    listed = await hookd("history", "-c", str(cfg), "--event", "u", "--json")
    listed_nothing = await hookd("history", "-c", str(cfg), "--event", "zz", "--json")
    replayed = await hookd("replay", "-c", str(cfg), "--event", "o", "--hook", "bad")
    replayed_one = await hookd("replay", "-c", str(cfg), "--event", "o2", "--hook", "bad", "--json")

    assert by_prefix.exit_code == 0, by_prefix.output
    assert [d["id"] for d in orjson.loads(by_prefix.stdout)["deliveries"]] == [failed_id]
    assert event.exit_code == 0, event.output
    assert orjson.loads(event.stdout)["event"]["id"] == "u1"
    assert ambiguous.exit_code == 2
    assert plain(ambiguous.stderr) == (
        "error: the id prefix 'o' is ambiguous: 2 ids start with it; give more characters of the one you mean:\n"
        "  event o1\n  event o2\n"
    )
    assert ambiguous_delivery.exit_code == 2
    assert "5 ids start with it" in plain(ambiguous_delivery.stderr).replace("\n", " ")
    assert nothing.exit_code == 1
    assert plain(nothing.stderr).startswith("error: no delivery or event id is or starts with 'zz' in ")
    assert [r["event_id"] for r in orjson.loads(listed.stdout)] == ["u1"]
    assert orjson.loads(listed_nothing.stdout) == []
    assert plain(listed_nothing.stderr) == "warning: no stored event id is or starts with 'zz'\n"
    assert replayed.exit_code == 2
    assert "the id prefix 'o' is ambiguous" in plain(replayed.stderr)
    assert replayed_one.exit_code == 0, replayed_one.output
    assert [d["event_id"] for d in orjson.loads(replayed_one.stdout)["deliveries"]] == ["o2"]


def test_prefix_ranges_hold_exactly_the_ids_that_start_with_the_prefix() -> None:
    assert sqlite_reads.prefix_range("01a2") == ("01a2", "01a3")
    assert sqlite_reads.prefix_range("a\U0010ffff") == ("a\U0010ffff", "b")
    assert sqlite_reads.prefix_range("a\ud7ff") == ("a\ud7ff", "a\ue000")
    assert sqlite_reads.prefix_range("\U0010ffff") == ("\U0010ffff", None)
    assert sqlite_reads.prefix_range("") == ("", None)


@pytest.mark.parametrize("table", ["deliveries", "events"])
async def test_prefix_lookups_search_the_id_index(tmp_path: Path, table: str) -> None:
    """A prefix is a range on the id's own index (SEARCH), never a scan of the table."""
    await new_database(tmp_path / "hookd.db")
    bounded, open_ended = sqlite_reads.prefix_query(table)  # type: ignore[arg-type]
    neighbours = [
        f"SELECT id FROM {table} WHERE id < ? ORDER BY id DESC LIMIT 1",
        f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT 1",
    ]
    plans = [
        " / ".join(query_plan(tmp_path / "hookd.db", sql, args))
        for sql, args in (
            (bounded, ("01a", "01b", 11)),
            (open_ended, ("01a", 11)),
            *((sql, ("01a",)) for sql in neighbours),
        )
    ]
    for plan in plans:
        assert plan.startswith(f"SEARCH {table} USING "), plan
        assert "(id>?" in plan or "(id<?" in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan


# -- --hook names that match nothing ------------------------------------------------------------------


async def test_a_hook_name_nothing_has_is_a_warning_with_did_you_mean(short_dir: Path, receiver: Receiver) -> None:
    """1. Hooks good and bad, each with deliveries; 2. history and replay with --hook godo, and with
    --db alone; 3. --hook bad, which has deliveries.
    Result: a warning with did-you-mean on stderr for the typo (exit 0, as for an empty result),
    naming where hookd looked; none for a real hook."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"

    history = await hookd("history", "-c", str(cfg), "--hook", "godo")
    replay = await hookd("replay", "-c", str(cfg), "--hook", "godo", "--status", "failed")
    db_only = await hookd("history", "--db", str(db), "--hook", "bda")
    nothing_close = await hookd("replay", "--db", str(db), "--hook", "zzzz", "--dry-run")
    real = await hookd("history", "--db", str(db), "--hook", "bad", "--json")

    with_config = (
        "warning: no hook named 'godo' in the config or in any stored delivery, so nothing can match it; "
        "did you mean 'good'?"
    )
    assert history.exit_code == 0 and replay.exit_code == 0
    assert plain(history.stderr).replace("\n", " ").strip() == with_config
    assert plain(history.stdout) == "no deliveries match\n"
    assert plain(replay.stderr).replace("\n", " ").strip() == with_config
    assert plain(replay.stdout) == "nothing to replay: no finished delivery matches\n"
    assert "no hook named 'bda' in any stored delivery, so nothing can match it; did you mean 'bad'?" in (
        plain(db_only.stderr).replace("\n", " ")
    )
    assert "the hooks known are: bad, good" in plain(nothing_close.stderr).replace("\n", " ")
    assert real.stderr == "" and len(orjson.loads(real.stdout)) == 2


# -- durations in bare seconds ----------------------------------------------------------------------


async def test_since_and_older_than_take_a_bare_number_of_seconds(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    since = await hookd("history", "-c", str(cfg), "--since", "60", "--json")
    until = await hookd("history", "-c", str(cfg), "--until", "3600.5", "--json")
    prune = await hookd("prune", "-c", str(cfg), "--older-than", "86400")

    assert since.exit_code == 0, since.output
    assert len(orjson.loads(since.stdout)) == 5
    assert until.exit_code == 0, until.output
    assert orjson.loads(until.stdout) == []
    assert prune.exit_code == 0, prune.output
    assert parse_duration_text(" 90 ") == 90.0
    assert parse_duration_text("1h30m") == 5400.0
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration_text("-5")


# -- replay --cancel --------------------------------------------------------------------------------


async def test_cancel_withdraws_queued_replays_and_keeps_them_in_history(short_dir: Path, receiver: Receiver) -> None:
    """1. Two failed deliveries to bad are replayed with no daemon running (two pending replays);
    2. `replay --cancel --dry-run`, then `replay --cancel --hook bad`;
    3. `history --status cancelled`; `replay --status failed` again; a daemon runs.
    Result: the dry run counts 2 and changes nothing; the cancel withdraws both (state cancelled,
    the reason as last error, no longer due); history lists them; replaying again queues two new
    replays of the failed originals (a withdrawn replay stands for nothing); the daemon sends only those."""
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    queued = await hookd("replay", "-c", str(cfg), "--status", "failed")
    assert queued.exit_code == 0, queued.output

    dry = await hookd("replay", "-c", str(cfg), "--cancel", "--dry-run")
    assert plain(dry.stdout) == "would withdraw 2 queued replay(s)\n"
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'pending'") == [(2,)]
    cancel = await hookd("replay", "-c", str(cfg), "--cancel", "--hook", "bad", "--json")
    again = await hookd("replay", "-c", str(cfg), "--cancel")
    listed = await hookd("history", "-c", str(cfg), "--status", "cancelled", "--json")

    assert cancel.exit_code == 0, cancel.output
    assert orjson.loads(cancel.stdout) == {"dry_run": False, "withdrawn": 2}
    assert plain(again.stdout) == "withdrew 0 queued replay(s)\n"
    assert (
        db_rows(db, "SELECT state, next_at, last_error, attempts FROM deliveries WHERE replay_of IS NOT NULL")
        == [("cancelled", None, "withdrawn by hookd replay --cancel", 0)] * 2
    )
    assert sorted((r["event_id"], r["status"]) for r in orjson.loads(listed.stdout)) == [
        ("o1", "cancelled"),
        ("o2", "cancelled"),
    ]
    requeued = await hookd("replay", "-c", str(cfg), "--status", "failed")
    assert plain(requeued.stdout).startswith("queued 2 replay(s) to bad\n"), requeued.output
    before = len(receiver.at("/bad"))
    async with running_daemon(cfg):
        await receiver.wait_count(before + 2, "/bad")
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'cancelled'") == [(2,)]
    assert len(receiver.at("/bad")) == before + 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cancel", "--wait"), "--cancel withdraws queued replays; --wait queues or sends them"),
        (("--cancel", "--rate", "5/s"), "--cancel withdraws queued replays; --rate queues or sends them"),
        (("--cancel", "--status", "failed"), "--status 'failed' is not one of: pending, retrying"),
    ],
)
async def test_cancel_usage_errors(short_dir: Path, receiver: Receiver, args: tuple[str, ...], message: str) -> None:
    cfg = await populate(short_dir, receiver)
    result = await hookd("replay", "-c", str(cfg), *args)
    assert result.exit_code == 2
    assert message in plain(result.stderr).replace("\n", " ")


def test_one_did_you_mean_helper_serves_every_caller() -> None:
    assert closest("godo", ["good", "bad"]) == "good"
    assert did_you_mean("faild", ["delivered", "failed"]) == "; did you mean 'failed'?"
    assert did_you_mean("zzzz", ["good", "bad"]) == ""


async def test_withdraw_takes_only_queued_deliveries_and_prune_removes_them_later(tmp_path: Path) -> None:
    """1. Three deliveries: one claimed (in flight), two pending; 2. withdraw all of them;
    3. prune at a time after they were withdrawn.
    Result: only the two pending become cancelled (the one in flight is left to its attempt); the
    prune deletes the cancelled ones like any finished delivery, and never the one in flight."""
    async with open_store(tmp_path / "hookd.db", background_checkpoints=False) as store:
        await store.ingest([routed("e1", "a", "b", "c")], [], [], 100.0)
        [claimed] = await store.claim_due(100.0, {"a": 1})
        withdrawn = await store.withdraw(DeliveryQuery(), 101.0, "withdrawn for the test")
        again = await store.withdraw(DeliveryQuery(), 102.0, "withdrawn for the test")
        states = {r.hook: (r.state, r.last_error) for r in await store.deliveries(DeliveryQuery())}
        pruned = await store.prune_counts(200.0)
    assert (withdrawn, again) == (2, 0)
    assert states == {
        "a": ("delivering", None),
        "b": ("cancelled", "withdrawn for the test"),
        "c": ("cancelled", "withdrawn for the test"),
    }
    assert claimed.hook == "a" and pruned.deliveries == 2
