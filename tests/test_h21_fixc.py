"""Issue 21, a new user's findings on the read commands (hooks list, history, status, test) and pauses
made while the daemon is stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import db_rows
from tests.test_cli_history import hookd, plain


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
