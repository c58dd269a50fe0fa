"""History and replay as a new user meets them: tables at 80 and 120 columns (the hook name always
shown, columns left out strictly in the documented order, one line a row), producers' event ids
shown whole, and replay's messages for a wrong --status or a delivery id given to --event.

Commands run through typer's CliRunner on a database a real daemon filled (tests/test_cli_history.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from tests.cli_helpers import plain
from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db
from tests.test_cli_history import finished, populate
from tests.test_h19_history import hookd, table_lines

# What README.md says is left out first, last to first: the priority of the history columns.
LEFT_OUT_FIRST = ("ms", "type", "tries", "last error", "code", "event", "time", "hook", "status", "delivery")
LONG_PATH = "/moved/" + "a-very-long-path-segment/" * 8
ROW = re.compile(r"^(\d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)\s")


async def populate_more(d: Path, receiver: Receiver) -> Path:
    """populate() (o1, o2, u1: 3 delivered to good, 2 failed to bad), then hook bad answers a redirect
    it does not follow, to a long Location (a last error of some 250 characters), for
    customer-signup-42 (a producer's id) and for an event sent without an id (hookd makes a UUIDv7).
    Result: 9 deliveries, 4 failed. Returns the config path."""
    cfg = await populate(d, receiver)
    receiver.default["/bad"] = Reply(status=302, headers={"Location": receiver.url(LONG_PATH)})
    async with running_daemon(cfg):
        await send_lines(d / "s.sock", [event_line("order.created", id="customer-signup-42"), event_line("order.paid")])
        await wait_db(d / "hookd.db", *finished(9))  # type: ignore[arg-type]
    return cfg


def header(lines: list[str]) -> list[str]:
    return lines[0].replace("last error", "last_error").replace("p50 ms", "p50_ms").replace("p95 ms", "p95_ms").split()


async def test_history_leaves_columns_out_strictly_in_the_documented_order(short_dir: Path, receiver: Receiver) -> None:
    """1. Nine deliveries, four failed, two of them with a 250-character last error;
    2. `hookd history --limit 8` at COLUMNS=80.
    Result: the columns shown are exactly the most needed ones (no column is shown while one README
    ranks above it is left out), and the caption names the rest."""
    cfg = await populate_more(short_dir, receiver)

    narrow = table_lines(await hookd("history", "--limit", "8", "-c", str(cfg), env={"COLUMNS": "80"}))

    shown = [name.replace("_", " ") for name in header(narrow)]
    priority = LEFT_OUT_FIRST[::-1]
    assert 0 < len(shown) < len(priority)
    assert set(shown) == set(priority[: len(shown)]), shown
    assert {"delivery", "status", "hook"} <= set(shown)
    left_out = [name for name in ("time", "event", "type", "tries", "code", "ms", "last error") if name not in shown]
    assert f"{', '.join(left_out)} left out to fit 80 columns" in " ".join(" ".join(narrow).split())
    assert max(len(line) for line in narrow) <= 80


async def test_history_rows_stay_on_one_line_with_long_errors_cut(short_dir: Path, receiver: Receiver) -> None:
    """1. As above; 2. `hookd history` at COLUMNS=120.
    Result: every row is one line no wider than 120, the long errors cut with "…"; --json has them whole."""
    cfg = await populate_more(short_dir, receiver)

    wide = table_lines(await hookd("history", "-c", str(cfg), env={"COLUMNS": "120"}))

    assert "last_error" in header(wide)
    assert max(len(line) for line in wide) <= 120
    body = wide[2:]
    assert len([line for line in body if ROW.match(line)]) == 9
    assert body[9].startswith("9 delivery(ies), newest first"), "\n".join(wide)
    cut = [line for line in body[:9] if "HTTP 302" in line]
    assert len(cut) == 2 and all(line.endswith("…") for line in cut), "\n".join(wide)
    full = orjson.loads((await hookd("history", "-c", str(cfg), "--json")).stdout)
    assert sum(1 for r in full if LONG_PATH in (r["last_error"] or "")) == 2


async def test_producer_event_ids_are_shown_whole_and_generated_ones_short(short_dir: Path, receiver: Receiver) -> None:
    """1. Events customer-signup-42, o1, o2, u1 (a producer's ids) and one hookd gave a UUIDv7;
    2. `hookd history` at COLUMNS=100 and at 120.
    3. `hookd history --event cust` (only customer-signup-42's deliveries).
    Result: a producer's id is shown whole (never `customer`, the unique prefix it used to be cut to);
    the UUIDv7 one is cut to a unique prefix of 8 or more characters, which `history show` takes."""
    cfg = await populate_more(short_dir, receiver)
    [(generated,)] = db_rows(short_dir / "hookd.db", "SELECT id FROM events WHERE type = 'order.paid' AND id != 'o2'")

    for columns in ("100", "120"):
        lines = table_lines(await hookd("history", "-c", str(cfg), env={"COLUMNS": columns}))
        assert "event" in header(lines), "\n".join(lines)
        events = [line.split()[header(lines).index("event")] for line in lines[2:11]]
        assert "customer-signup-42" in events, events
        [short] = set(events) - {"o1", "o2", "u1", "customer-signup-42"}  # nothing else, like `customer`
        assert 8 <= len(short) < len(str(generated)) and str(generated).startswith(short)
    shown = await hookd("history", "show", short, "-c", str(cfg), "--json")
    assert orjson.loads(shown.stdout)["event"]["id"] == generated
    alone = table_lines(await hookd("history", "-c", str(cfg), "--event", "cust", env={"COLUMNS": "120"}))
    assert [line.split()[header(alone).index("event")] for line in alone[2:4]] == ["customer-signup-42"] * 2


async def test_stats_at_80_columns_keeps_the_hook_name_whole(short_dir: Path, receiver: Receiver) -> None:
    """1. Hooks good and bad with deliveries; 2. `hookd history stats` at COLUMNS=80.
    Result: every row starts with its hook's name, no header or figure is cut (no "…"), the caption
    names the columns left out (the least needed ones); no table line is wider than 80."""
    cfg = await populate_more(short_dir, receiver)

    lines = table_lines(await hookd("history", "stats", "-c", str(cfg), env={"COLUMNS": "80"}))

    start = next(i for i, line in enumerate(lines) if line.startswith("hook "))
    table = lines[start : start + 5]
    assert max(len(line) for line in table) <= 80, "\n".join(lines)
    columns = header(table)
    assert columns[0] == "hook" and {"success", "deliveries", "failed"} <= set(columns), columns
    rows = table[2:4]
    assert sorted(row.split()[0] for row in rows) == ["bad", "good"]
    assert all("…" not in row and len(row.split()) == len(columns) for row in rows), "\n".join(lines)
    assert sorted(row.split()[columns.index("success")] for row in rows) == ["0.0%", "100.0%"]
    left_out = [c for c in ("attempts", "p50_ms") if c not in columns]
    assert left_out, columns
    assert table[4] == f"{', '.join(left_out).replace('_', ' ')} left out to fit 80 columns; --json has everything"


async def test_replay_status_lists_only_what_replay_takes(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)

    typo = await hookd("replay", "-c", str(cfg), "--status", "delivred")
    pending = await hookd("replay", "-c", str(cfg), "--status", "pending")
    both = await hookd("replay", "-c", str(cfg), "--status", "failed,retrying")

    assert typo.exit_code == 2
    assert plain(typo.stderr).replace("\n", " ").strip() == (
        "error: --status 'delivred' is not one of: delivered, failed, cancelled; did you mean 'delivered'?"
    )
    for result, name in ((pending, "pending"), (both, "retrying")):
        assert result.exit_code == 2
        assert plain(result.stderr).replace("\n", " ").strip() == (
            f"error: --status {name} deliveries are still queued and will be sent anyway; replay takes finished "
            "ones: --status delivered, --status failed or --status cancelled"
        )


async def test_replay_event_given_a_delivery_id_names_its_event_and_hook(short_dir: Path, receiver: Receiver) -> None:
    """1. o1 failed to hook bad; 2. `replay --event <that delivery's id>`, then a prefix of it, then
    an id that is nothing. Result: a warning that the value is a delivery's id, with the --event and
    --hook to give instead (in --json too); nothing is queued; a plain unknown id keeps the short warning."""
    cfg = await populate(short_dir, receiver)
    [(delivery_id,)] = db_rows(
        short_dir / "hookd.db", "SELECT id FROM deliveries WHERE event_id = 'o1' AND hook = 'bad'"
    )
    delivery_id = str(delivery_id)

    exact = await hookd("replay", "-c", str(cfg), "--event", delivery_id)
    prefix = await hookd("replay", "-c", str(cfg), "--event", delivery_id[:23], "--json")
    cancel = await hookd("replay", "-c", str(cfg), "--cancel", "--event", delivery_id)
    nothing = await hookd("replay", "-c", str(cfg), "--event", "zz")

    assert exact.exit_code == 0, exact.output
    assert " ".join(plain(exact.stderr).split()) == (
        f"warning: no event '{delivery_id}' in the database: it is the id of delivery {delivery_id} (event 'o1' "
        "to hook 'bad'); to replay that delivery, give --event o1 --hook bad"
    )
    assert plain(exact.stdout) == "nothing to replay: no finished delivery matches\n"
    assert prefix.exit_code == 0, prefix.output
    doc = orjson.loads(prefix.stdout)
    assert doc["queued"] == 0
    assert doc["delivery_ids_given"] == [
        {"given": delivery_id[:23], "delivery_id": delivery_id, "event_id": "o1", "hook": "bad"}
    ]
    assert "give --event o1 --hook bad" in " ".join(plain(cancel.stderr).split())
    assert " ".join(plain(nothing.stderr).split()) == "warning: no event 'zz' in the database"
    assert db_rows(short_dir / "hookd.db", "SELECT count(*) FROM deliveries WHERE replay_of IS NOT NULL") == [(0,)]


async def test_history_event_given_a_delivery_id_says_which_it_is(short_dir: Path, receiver: Receiver) -> None:
    """`history --event <a delivery's id>`: the warning names the delivery's event and hook, and how to
    show it, instead of only 'no stored event id'."""
    cfg = await populate(short_dir, receiver)
    [(delivery_id,)] = db_rows(
        short_dir / "hookd.db", "SELECT id FROM deliveries WHERE event_id = 'o1' AND hook = 'bad'"
    )
    result = await hookd("history", "-c", str(cfg), "--event", str(delivery_id))
    assert result.exit_code == 0, result.output
    assert " ".join(plain(result.stderr).split()) == (
        f"warning: no stored event id is or starts with '{delivery_id}': it is the id of delivery {delivery_id} "
        f"(event 'o1' to hook 'bad'); `hookd history show {delivery_id}` shows it"
    )
