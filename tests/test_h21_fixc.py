"""Issue 21, a new user's findings on the read commands (hooks list, history, status, test) and pauses
made while the daemon is stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from tests.conftest import Receiver, db_rows
from tests.test_cli_history import hookd, plain
from tests.test_h21_pause_cli import new_database, pause_config


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
