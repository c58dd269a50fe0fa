"""Files hookd makes are as private as they must be whatever the umask it was started with: the
database (producers' payloads) and its -wal and -shm files the owner's alone; a unix socket never
open to others, even in the moment between its bind and its chmod."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hookd.sources.socket import owner_only_files
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config, wait_db


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
async def test_the_database_and_sockets_keep_their_modes_under_an_open_umask(
    short_dir: Path, receiver: Receiver
) -> None:
    """umask 000 (every file world-writable by default). Result: hookd.db, -wal and -shm are 0600,
    the lock file 0644 (who holds it is no secret); the socket source and the admin socket have the
    modes configured (0660, 0600)."""
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: h, events: ["*"], url: {receiver.url("/h")}}}
        admin: {{path: {short_dir}/admin.sock}}
        """,
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        files = {p.name: mode(p) for p in short_dir.glob("hookd.db*")}
        sockets = {"s.sock": mode(short_dir / "s.sock"), "admin.sock": mode(short_dir / "admin.sock")}
    assert files == {"hookd.db": 0o600, "hookd.db-wal": 0o600, "hookd.db-shm": 0o600, "hookd.db.lock": 0o644}
    assert sockets == {"s.sock": 0o660, "admin.sock": 0o600}


@pytest.mark.usefixtures("open_umask")
def test_a_file_made_while_a_socket_is_bound_is_the_owners_alone(tmp_path: Path) -> None:
    with owner_only_files():
        (tmp_path / "made").touch()
    (tmp_path / "after").touch()
    assert (mode(tmp_path / "made"), mode(tmp_path / "after")) == (0o600, 0o666)
