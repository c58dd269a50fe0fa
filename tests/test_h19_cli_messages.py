"""Messages a new user met and could not act on, each now saying what happened and what to do."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.store.lock import DatabaseLocked, lock_database
from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, db_rows
from tests.test_cli_history import populate
from tests.test_cli_replay import REPLAYS


def test_socket_option_given_a_config_file_says_so(tmp_path: Path) -> None:
    """`hookd send --socket hookd.yaml`: not "a socket file left by a stopped hookd", but what it is."""
    config = tmp_path / "hookd.yaml"
    config.write_text("version: 1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["send", "--socket", str(config), '{"type": "a"}'])
    assert result.exit_code == 2
    assert plain(result.stderr).replace("\n", " ").strip() == (
        f"error: '{config}' is a regular file, not a socket; --socket takes the `path` of a socket source in "
        "the config (to name the config instead, use -c)"
    )


def test_the_lock_names_a_running_replay_wait_not_a_daemon(tmp_path: Path) -> None:
    db = tmp_path / "hookd.db"
    held = lock_database(db, holder="hookd replay --wait")
    try:
        with pytest.raises(DatabaseLocked) as refused:
            lock_database(db)
    finally:
        held.close()
    assert str(refused.value) == (
        f"`hookd replay --wait` (pid {os.getpid()}) is sending deliveries from the database '{db}'; "
        "wait for it to finish (Ctrl-C stops it), then try again"
    )
    assert "daemon" not in str(refused.value)
    lock_database(db).close()  # given back


async def test_replay_wait_while_another_replay_wait_sends(short_dir: Path, receiver: Receiver) -> None:
    cfg = await populate(short_dir, receiver)
    db = short_dir / "hookd.db"
    held = await asyncio.to_thread(lock_database, db, holder="hookd replay --wait")
    try:
        result = await hookd("replay", "-c", str(cfg), "--status", "failed", "--wait")
    finally:
        held.close()
    assert result.exit_code == 2
    assert plain(result.stderr).replace("\n", " ") == (
        f"error: `hookd replay --wait` (pid {os.getpid()}) is already sending deliveries from the database '{db}', "
        "and only one process may; wait for it to finish and run this again, or drop --wait to only queue the "
        "replays (the running hookd serve, or the next, sends them) "
    )
    assert db_rows(db, REPLAYS) == []
