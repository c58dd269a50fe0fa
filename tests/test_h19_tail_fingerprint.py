"""copytruncate that races a poll: the file is truncated and written again past the old offset
before the source looks. Same inode, no size drop to see: only the checkpoint's fingerprint (a hash
of the line before the offset) tells. Polls run on a ManualClock, so the race is exact, not timed.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hookd.config.model import FileSourceConfig
from hookd.sources.base import Checkpoint
from hookd.sources.tail import FileTailSource
from hookd.store.migrations import MIGRATIONS
from tests.conftest import open_store
from tests.manual_clock import ManualClock
from tests.test_tail import Recorder, append, line, lines, tailing, watch_log

POLL_S = 0.25


def make_source(path: Path, recorder: Recorder, clock: ManualClock, *, max_event_bytes: int = 10_000) -> FileTailSource:
    config = FileSourceConfig(name="applog", path=path, start_at="beginning", max_event_bytes=max_event_bytes)
    return FileTailSource(config, recorder.load_checkpoint, poll_interval_s=POLL_S, clock=clock)


def rewrite_in_place(path: Path, data: bytes) -> None:
    """What copytruncate leaves for the next poll: same inode, truncated, then written again."""
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(data)


OLD = lines("old-1", "old-2", "old-3")
NEW = lines(*(f"new-{n}" for n in range(1, 7)))  # longer than OLD: no size drop at the next poll


async def test_truncated_and_rewritten_past_the_offset_between_two_polls_is_read_from_zero(log_path: Path) -> None:
    """1. Tail three lines; the source goes to sleep until the next poll.
    2. Truncate the file and write six new lines (more bytes than before) in place.
    3. Let the poll happen.

    Result: all six new lines arrive, none skipped; the log says the file was truncated and written
    again; the checkpoint ends at the new size.
    """
    assert len(NEW) > len(OLD)
    log_path.write_bytes(OLD)
    clock = ManualClock()
    recorder = Recorder()
    with watch_log("truncated and written again") as warned:
        async with tailing(make_source(log_path, recorder, clock), recorder):
            await recorder.wait_events(3)
            await clock.wait_sleeping(POLL_S)
            inode = log_path.stat().st_ino
            rewrite_in_place(log_path, NEW)
            assert log_path.stat().st_ino == inode
            clock.advance(POLL_S)
            await recorder.wait_events(9)
            await warned.wait()
    assert recorder.ids == ["old-1", "old-2", "old-3", *(f"new-{n}" for n in range(1, 7))]
    assert recorder.rejections == []
    final = recorder.checkpoints["applog"]
    assert (final.offset, final.line) == (len(NEW), 6)


async def test_truncated_and_rewritten_while_stopped_is_read_from_zero(log_path: Path) -> None:
    """1. Tail three lines, stop. 2. Truncate and write six new lines in place. 3. Start again.

    Result: the fingerprint survives with the checkpoint; the new lines are read from line 1.
    """
    log_path.write_bytes(OLD)
    checkpoints: dict[str, Checkpoint] = {}
    first = Recorder(checkpoints)
    async with tailing(make_source(log_path, first, ManualClock()), first):
        await first.wait_events(3)
    assert checkpoints["applog"].fingerprint is not None
    rewrite_in_place(log_path, NEW)
    second = Recorder(checkpoints)
    with watch_log("written again while stopped") as warned:
        async with tailing(make_source(log_path, second, ManualClock()), second):
            await second.wait_events(6)
            await warned.wait()
    assert second.ids == [f"new-{n}" for n in range(1, 7)]


@pytest.mark.parametrize(
    "last",
    [
        pytest.param(line("a-line-longer-than-the-fingerprint", data="x" * 400), id="long line"),
        pytest.param(b"\n", id="blank line"),
        pytest.param(b'{"type": "big", "data": "' + b"y" * 3 * 1024 * 1024 + b'"}\n', id="oversized line"),
        pytest.param(b"not json\n", id="rejected line"),
    ],
)
async def test_appends_after_any_kind_of_line_are_no_false_alarm(log_path: Path, last: bytes) -> None:
    """The fingerprint taken from memory matches the one read back from the file, whatever the last
    line was: a plain append after it is read on, never mistaken for a rewrite."""
    log_path.write_bytes(lines("1") + last)
    clock = ManualClock()
    recorder = Recorder()
    with watch_log("written again") as warned:
        async with tailing(make_source(log_path, recorder, clock, max_event_bytes=1000), recorder):
            await recorder.wait_checkpoint("applog", lambda c: c.offset == log_path.stat().st_size)
            await clock.wait_sleeping(POLL_S)
            append(log_path, lines("2"))
            clock.advance(POLL_S)
            await recorder.wait_until(lambda: "2" in recorder.ids)
    assert [i for i in recorder.ids if i in ("1", "2")] == ["1", "2"]
    assert recorder.ids.count("2") == 1
    assert not warned.seen.is_set()


async def test_the_fingerprint_is_stored_with_the_checkpoint_and_old_databases_migrate(tmp_path: Path) -> None:
    """1. A database made before fingerprints (only the first migration), holding a checkpoint.
    2. Open it with this hookd.

    Result: the migration adds the column; the old checkpoint reads with no fingerprint (checked
    from its next commit on); a new one round-trips its fingerprint.
    """
    db_path = tmp_path / "hookd.db"
    first_name, first_sql = MIGRATIONS[0]
    with closing(sqlite3.connect(db_path)) as db, db:
        db.executescript(first_sql)
        db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        db.execute("INSERT INTO migrations VALUES (?, 1.0)", (first_name,))
        db.execute("INSERT INTO checkpoints VALUES ('applog', '/logs/a.jsonl', 1, 2, 30, 3, 1.0)")
    async with open_store(db_path) as store:
        old = await store.checkpoint("applog")
        assert old == Checkpoint(source="applog", path="/logs/a.jsonl", device=1, inode=2, offset=30, line=3)
        assert old.fingerprint is None
        new = Checkpoint(
            source="applog", path="/logs/a.jsonl", device=1, inode=2, offset=40, line=4, fingerprint="0f" * 16
        )
        await store.ingest([], [], [new], 2.0)
        assert await store.checkpoint("applog") == new
    with closing(sqlite3.connect(db_path)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"
