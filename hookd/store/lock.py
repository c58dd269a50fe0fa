"""One sending process per database: an flock on `<db>.lock`, holding the owner's pid and command.

Two dispatchers on one database would each take the other's in-flight deliveries for interrupted
ones and send them twice; `hookd serve` and `hookd replay --wait` both hold this lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from hookd.errors import StartupError

DAEMON = "hookd serve"  # the lock holder's command when the lock file names none


class DatabaseLocked(StartupError):
    """Another process holds the database's lock."""

    def __init__(self, db: Path, owner_pid: str, owner: str = DAEMON) -> None:
        self.db = db
        self.owner_pid = owner_pid
        self.owner = owner  # the command holding the lock, as `holder` named it
        if owner == DAEMON:
            what = f"another hookd daemon (`{owner}`, pid {owner_pid}) is already running with the database"
            fix = "stop it first, or give this one its own storage.path"
        else:
            what = f"`{owner}` (pid {owner_pid}) is sending deliveries from the database"
            fix = "wait for it to finish (Ctrl-C stops it), then try again"
        super().__init__(f"{what} {str(db)!r}; {fix}")


def lock_database(db: Path, *, holder: str = DAEMON) -> IO[str]:
    """Take the lock; keep the returned file open for as long as it is held (closing releases it).

    `holder` names the command taking it, so whoever finds the lock taken can say what holds it."""
    lock_path = db.with_name(db.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        # Whatever the umask: others may read who holds it, never write a false holder into it.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        handle = os.fdopen(fd, "a+")  # held open for the owner's lifetime
    except OSError as e:
        raise StartupError(f"cannot create the lock file {str(lock_path)!r}: {e.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid, _, command = handle.read().strip().partition("\n")
        handle.close()
        raise DatabaseLocked(db, pid or "unknown", command.strip() or DAEMON) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n{holder}")
    handle.flush()
    return handle
