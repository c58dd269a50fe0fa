"""One sending process per database: an flock on `<db>.lock`, holding the owner's pid.

Two dispatchers on one database would each take the other's in-flight deliveries for interrupted
ones and send them twice; `hookd serve` and `hookd replay --wait` both hold this lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from hookd.errors import StartupError


class DatabaseLocked(StartupError):
    """Another process holds the database's lock."""

    def __init__(self, db: Path, owner_pid: str) -> None:
        self.db = db
        self.owner_pid = owner_pid
        super().__init__(
            f"another hookd (pid {owner_pid}) is already running with the database {str(db)!r}; "
            "stop it first, or give this one its own storage.path"
        )


def lock_database(db: Path) -> IO[str]:
    """Take the lock; keep the returned file open for as long as it is held (closing releases it)."""
    lock_path = db.with_name(db.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the owner's lifetime
    except OSError as e:
        raise StartupError(f"cannot create the lock file {str(lock_path)!r}: {e.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise DatabaseLocked(db, owner) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
