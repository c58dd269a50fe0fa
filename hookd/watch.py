"""`hookd serve --watch`: reload when the config file changes.

The file is looked at once a second (no inotify: the same on every system, and a second is soon
enough for a person who saved a file). Its identity is its inode, size and modification time, so an
editor's or `git pull`'s atomic rename (a new inode in its place) is seen as well as a write in place.
A file that is briefly missing (between an unlink and a rename) is waited for, and a reload that
fails does not end the watching: the next change is reloaded too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from hookd.clock import Clock
from hookd.logs import LogLine

log = logging.getLogger("hookd.watch")

WATCH_INTERVAL_S = 1.0
MISSING_WARN_S = 3.0  # a file gone this long is not an editor's rename in progress: said in the log

Stamp = tuple[int, int, int, int] | None


def stamp(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


async def watch_config(
    path: Path, on_change: Callable[[], Awaitable[object]], clock: Clock, *, interval_s: float = WATCH_INTERVAL_S
) -> None:
    """Call `on_change` each time the file at `path` is another than at the last look; until cancelled."""
    seen = stamp(path)
    gone_since: float | None = None  # when the file was first seen missing
    said_gone = False
    while True:
        await clock.sleep(interval_s)
        now = stamp(path)
        if now is None:
            # Between an unlink and its rename, or moved away: said once when it stays gone.
            gone_since = clock.now() if gone_since is None else gone_since
            if not said_gone and clock.now() - gone_since >= MISSING_WARN_S:
                log.warning(LogLine("config file is gone; the config loaded before keeps running, and the "
                                    "file is watched for its return", {"file": str(path.absolute())}))  # fmt: skip
                said_gone = True
            continue
        if said_gone:
            log.info(LogLine("config file is back", {"file": str(path.absolute())}))
        gone_since, said_gone = None, False
        if now == seen:
            continue
        seen = now
        try:
            await on_change()
        except Exception:  # the reload logged why; the next change is still watched
            continue
