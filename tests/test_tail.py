"""The file source, on real files appended to, rotated and truncated while tailed.

`Recorder.submit` stands in for ingest: it keeps every batch and the latest checkpoint per source
in a dict, as the store commits both in one transaction; `load_checkpoint` reads the same dict, so
a restart is: cancel the task, start a new FileTailSource on the same dict. Tests wait on
conditions (an asyncio.Event set by the recorder), never on time; asyncio.timeout is a failsafe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Literal

import orjson
import pytest

from hookd.config.model import FileSourceConfig
from hookd.errors import StartupError
from hookd.events import Event
from hookd.sources.base import Accepted, Batch, Checkpoint, Rejection, Source
from hookd.sources.tail import FileTailSource

FAILSAFE_S = 5.0


class Recorder:
    """Stands in for ingest: records batches, keeps the latest checkpoint, wakes waiters."""

    def __init__(self, checkpoints: dict[str, Checkpoint] | None = None) -> None:
        self.checkpoints: dict[str, Checkpoint] = {} if checkpoints is None else checkpoints
        self.batches: list[Batch] = []
        self._waiters: list[tuple[Callable[[], bool], asyncio.Event]] = []

    async def submit(self, batch: Batch) -> list[Accepted]:
        self.batches.append(batch)
        if batch.checkpoint is not None:
            self.checkpoints[batch.checkpoint.source] = batch.checkpoint
        for condition, reached in self._waiters:
            if condition():
                reached.set()
        return [Accepted(id=e.id, duplicate=False, deliveries=0) for e in batch.events]

    async def load_checkpoint(self, source: str) -> Checkpoint | None:
        return self.checkpoints.get(source)

    @property
    def events(self) -> list[Event]:
        return [e for b in self.batches for e in b.events]

    @property
    def rejections(self) -> list[Rejection]:
        return [r for b in self.batches for r in b.rejections]

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        if condition():
            return
        reached = asyncio.Event()
        self._waiters.append((condition, reached))
        try:
            async with asyncio.timeout(FAILSAFE_S):
                await reached.wait()
        finally:
            self._waiters.remove((condition, reached))

    async def wait_events(self, count: int) -> None:
        await self.wait_until(lambda: len(self.events) >= count)

    async def wait_checkpoint(self, source: str, condition: Callable[[Checkpoint], bool]) -> None:
        await self.wait_until(lambda: source in self.checkpoints and condition(self.checkpoints[source]))


def line(event_id: str, **extra: object) -> bytes:
    return orjson.dumps({"type": "test.line", "id": event_id, **extra}) + b"\n"


def lines(*ids: str) -> bytes:
    return b"".join(line(i) for i in ids)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def make_source(
    path: Path,
    recorder: Recorder,
    *,
    start_at: Literal["end", "beginning"] = "beginning",
    max_event_bytes: int = 10_000,
    poll_interval_s: float = 0.01,
    max_batch_lines: int = 1000,
) -> FileTailSource:
    config = FileSourceConfig(name="applog", path=path, start_at=start_at, max_event_bytes=max_event_bytes)
    return FileTailSource(
        config, recorder.load_checkpoint, poll_interval_s=poll_interval_s, max_batch_lines=max_batch_lines
    )


@contextlib.asynccontextmanager
async def tailing(source: Source, recorder: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    """Run the source for the duration of the block; cancel it after (a crash shows up here)."""
    task = asyncio.create_task(source.run(recorder.submit))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class LogWatch(logging.Handler):
    """Sets an asyncio.Event when the tail logger says something containing `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()

    async def wait(self) -> None:
        async with asyncio.timeout(FAILSAFE_S):
            await self.seen.wait()


@contextlib.contextmanager
def watch_log(text: str) -> Iterator[LogWatch]:
    watch = LogWatch(text)
    tail_logger = logging.getLogger("hookd.sources.tail")
    old_level = tail_logger.level
    tail_logger.addHandler(watch)
    tail_logger.setLevel(logging.INFO)
    try:
        yield watch
    finally:
        tail_logger.removeHandler(watch)
        tail_logger.setLevel(old_level)


def open_paths() -> set[str]:
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            found.add(os.readlink(fd))
    return found


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


async def test_follows_appends_and_describes(log_path: Path) -> None:
    """1. Start on an empty file from the beginning. 2. Append lines in three writes.

    Result: every line arrives once, in order, and the checkpoint ends at the file's size.
    """
    log_path.write_bytes(b"")
    recorder = Recorder()
    source: Source = make_source(log_path, recorder)
    assert source.name == "applog"
    assert source.describe() == f"file:{log_path}"
    async with tailing(source, recorder):
        append(log_path, lines("1", "2"))
        await recorder.wait_events(2)
        append(log_path, lines("3"))
        await recorder.wait_events(3)
        append(log_path, lines("4", "5"))
        await recorder.wait_events(5)
    assert recorder.ids == ["1", "2", "3", "4", "5"]
    assert all(e.type == "test.line" for e in recorder.events)
    assert recorder.checkpoints["applog"] == Checkpoint(
        source="applog",
        path=str(log_path),
        device=log_path.stat().st_dev,
        inode=log_path.stat().st_ino,
        offset=log_path.stat().st_size,
        line=5,
        fingerprint=hashlib.blake2b(line("5"), digest_size=16).hexdigest(),  # the last line read
    )
    assert all(b.source == "applog" for b in recorder.batches)


async def test_start_at_beginning_reads_existing_lines(log_path: Path) -> None:
    log_path.write_bytes(lines("old-1", "old-2"))
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, start_at="beginning"), recorder):
        await recorder.wait_events(2)
        append(log_path, lines("new-1"))
        await recorder.wait_events(3)
    assert recorder.ids == ["old-1", "old-2", "new-1"]


async def test_start_at_end_skips_existing_lines_and_keeps_line_numbers(log_path: Path) -> None:
    """1. A file holds two lines. 2. Start at the end; wait for the starting checkpoint.
    3. Append a bad line and a good one.

    Result: only the appended lines arrive; the bad one is line 3.
    """
    log_path.write_bytes(lines("old-1", "old-2"))
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, start_at="end"), recorder):
        await recorder.wait_checkpoint("applog", lambda c: c.offset == log_path.stat().st_size and c.line == 2)
        append(log_path, b"garbage\n" + lines("new-1"))
        await recorder.wait_events(1)
    assert recorder.ids == ["new-1"]
    assert [r.position for r in recorder.rejections] == [f"{log_path}:3"]


async def test_start_at_end_inside_an_unterminated_line_reads_that_line_whole(log_path: Path) -> None:
    """Starting exactly at the size would cut the line being written in two: start before it."""
    partial = line("being-written")
    log_path.write_bytes(lines("old-1") + partial[:10])
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, start_at="end"), recorder):
        await recorder.wait_checkpoint("applog", lambda c: c.offset == len(line("old-1")) and c.line == 1)
        append(log_path, partial[10:])
        await recorder.wait_events(1)
    assert recorder.ids == ["being-written"]
    assert recorder.rejections == []


async def test_partial_last_line_waits_for_its_newline(log_path: Path) -> None:
    """1. Write one line and half of the next in one write. 2. Append the rest.

    Result: the first batch holds only line 1, its checkpoint stops before the half line; the second
    line arrives whole once its newline does.
    """
    log_path.write_bytes(b"")
    second = line("2")
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder), recorder):
        append(log_path, line("1") + second[:7])
        await recorder.wait_events(1)
        assert recorder.ids == ["1"]
        assert recorder.checkpoints["applog"].offset == len(line("1"))
        assert recorder.checkpoints["applog"].line == 1
        append(log_path, second[7:])
        await recorder.wait_events(2)
    assert recorder.ids == ["1", "2"]
    assert recorder.rejections == []
    assert recorder.checkpoints["applog"].offset == len(line("1")) + len(second)


async def test_rotation_reads_old_file_to_its_end_then_the_new_file(log_path: Path) -> None:
    """1. Tail a file; lines 1-2 arrive. 2. Append line 3 and an unterminated line 4.
    3. Rename the file away, create a new one with lines 5-6. 4. Append lines 7-8 to the new file.

    Result: 1-8 each arrive once, in order; the old file's last line without newline is not lost;
    the checkpoint ends on the new file's inode with line numbers from 1.
    """
    log_path.write_bytes(lines("1", "2"))
    rotated = log_path.with_name("events.jsonl.1")
    recorder = Recorder()
    with watch_log("rotated") as rotation:
        async with tailing(make_source(log_path, recorder), recorder):
            await recorder.wait_events(2)
            append(log_path, line("3") + line("4").rstrip(b"\n"))
            log_path.rename(rotated)
            log_path.write_bytes(lines("5", "6"))
            await recorder.wait_events(6)
            await rotation.wait()
            append(log_path, lines("7", "8"))
            await recorder.wait_events(8)
    assert recorder.ids == ["1", "2", "3", "4", "5", "6", "7", "8"]
    final = recorder.checkpoints["applog"]
    assert (final.device, final.inode) == (log_path.stat().st_dev, log_path.stat().st_ino)
    assert (final.offset, final.line) == (log_path.stat().st_size, 4)
    old_file_checkpoints = [b.checkpoint for b in recorder.batches if b.checkpoint and b.checkpoint.offset > 0]
    assert any(c.inode == rotated.stat().st_ino and c.offset == rotated.stat().st_size for c in old_file_checkpoints)


async def test_rotation_when_the_new_file_comes_later(log_path: Path) -> None:
    """The path is missing for a while between the rename and the new file: lines keep coming."""
    log_path.write_bytes(lines("1"))
    recorder = Recorder()
    with watch_log("was removed") as removed:
        async with tailing(make_source(log_path, recorder), recorder):
            await recorder.wait_events(1)
            log_path.rename(log_path.with_name("events.jsonl.1"))
            await removed.wait()
            log_path.write_bytes(lines("2"))
            await recorder.wait_events(2)
    assert recorder.ids == ["1", "2"]


async def test_copytruncate_restarts_at_offset_zero(log_path: Path) -> None:
    """1. Tail lines 1-3. 2. Truncate the file in place and write one short line.

    Result: the short line arrives (read from offset 0, line 1); a warning says truncated.
    """
    log_path.write_bytes(lines("first-long-line-1", "first-long-line-2", "first-long-line-3"))
    recorder = Recorder()
    with watch_log("truncated") as truncated:
        async with tailing(make_source(log_path, recorder), recorder):
            await recorder.wait_events(3)
            inode = log_path.stat().st_ino
            with log_path.open("r+b") as f:
                f.truncate(0)
            append(log_path, b"not json\n" + lines("n2"))
            await recorder.wait_events(4)
            await truncated.wait()
            append(log_path, lines("n3"))
            await recorder.wait_events(5)
    assert log_path.stat().st_ino == inode
    assert recorder.ids == ["first-long-line-1", "first-long-line-2", "first-long-line-3", "n2", "n3"]
    assert [r.position for r in recorder.rejections] == [f"{log_path}:1"]
    assert recorder.checkpoints["applog"].offset == log_path.stat().st_size
    assert recorder.checkpoints["applog"].line == 3


async def test_restart_resumes_exactly_at_the_checkpoint(log_path: Path) -> None:
    """1. Tail lines 1-3 and half of line 4; stop. 2. Complete line 4, add line 5 and a bad line 6.
    3. Start a new source on the same checkpoints.

    Result: 1-5 each arrive exactly once across both runs; the bad line is reported as line 6.
    """
    fourth = line("4")
    log_path.write_bytes(lines("1", "2", "3") + fourth[:5])
    checkpoints: dict[str, Checkpoint] = {}
    first = Recorder(checkpoints)
    async with tailing(make_source(log_path, first), first):
        await first.wait_events(3)
    stopped_at = checkpoints["applog"]
    assert (stopped_at.offset, stopped_at.line) == (len(lines("1", "2", "3")), 3)

    append(log_path, fourth[5:] + lines("5") + b'{"id": "no-type"}\n')
    second = Recorder(checkpoints)
    async with tailing(make_source(log_path, second, start_at="beginning"), second):
        await second.wait_until(lambda: len(second.events) + len(second.rejections) >= 3)
    assert first.ids + second.ids == ["1", "2", "3", "4", "5"]
    assert [r.position for r in second.rejections] == [f"{log_path}:6"]
    assert (checkpoints["applog"].offset, checkpoints["applog"].line) == (log_path.stat().st_size, 6)


async def test_restart_with_start_at_end_keeps_lines_written_while_stopped(log_path: Path) -> None:
    """start_at=end applies once: lines written while the daemon was stopped are not skipped."""
    log_path.write_bytes(lines("before-start"))
    checkpoints: dict[str, Checkpoint] = {}
    first = Recorder(checkpoints)
    async with tailing(make_source(log_path, first, start_at="end"), first):
        await first.wait_checkpoint("applog", lambda c: c.line == 1)
    append(log_path, lines("while-stopped"))
    second = Recorder(checkpoints)
    async with tailing(make_source(log_path, second, start_at="end"), second):
        await second.wait_events(1)
    assert first.ids == []
    assert second.ids == ["while-stopped"]


async def test_checkpoint_of_another_inode_reads_the_new_file_from_zero(log_path: Path) -> None:
    """The file was rotated while stopped: the checkpoint's offset means nothing in the new file."""
    log_path.write_bytes(lines("1", "2", "3"))
    st = log_path.stat()
    stale = Checkpoint(
        source="applog", path=str(log_path), device=st.st_dev, inode=st.st_ino + 1, offset=len(line("1")), line=40
    )
    recorder = Recorder({"applog": stale})
    async with tailing(make_source(log_path, recorder, start_at="end"), recorder):
        await recorder.wait_events(3)
    assert recorder.ids == ["1", "2", "3"]
    assert recorder.checkpoints["applog"].inode == st.st_ino
    assert recorder.checkpoints["applog"].line == 3


async def test_checkpoint_past_the_end_reads_from_zero(log_path: Path) -> None:
    """Same inode, but shorter than the checkpoint: truncated while stopped."""
    log_path.write_bytes(lines("1"))
    st = log_path.stat()
    stale = Checkpoint(
        source="applog", path=str(log_path), device=st.st_dev, inode=st.st_ino, offset=st.st_size + 100, line=9
    )
    recorder = Recorder({"applog": stale})
    async with tailing(make_source(log_path, recorder), recorder):
        await recorder.wait_events(1)
    assert recorder.ids == ["1"]
    assert recorder.checkpoints["applog"].line == 1


async def test_file_and_directory_appear_later(tmp_path: Path) -> None:
    """1. Tail a path whose directory does not exist, start_at end. 2. Create both, with lines.

    Result: the new file is read from its first line (it was not there at start).
    """
    path = tmp_path / "later" / "events.jsonl"
    recorder = Recorder()
    with watch_log("waiting for it to appear") as waiting:
        async with tailing(make_source(path, recorder, start_at="end"), recorder):
            await waiting.wait()
            path.parent.mkdir()
            path.write_bytes(lines("1", "2"))
            await recorder.wait_events(2)
            append(path, lines("3"))
            await recorder.wait_events(3)
    assert recorder.ids == ["1", "2", "3"]
    assert recorder.checkpoints["applog"].line == 3


async def test_bad_lines_are_rejected_with_positions_and_good_lines_still_arrive(log_path: Path) -> None:
    """Lines: good, garbage, array, missing type, over the limit (held whole), blank, over the limit
    (3 MiB, never held whole), whitespace, good.

    Result: the two good lines arrive; five rejections name file:line, say why, keep an excerpt.
    """
    limit = 1000
    huge = b'{"type": "huge", "data": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    content = b"".join(
        [
            line("good-1"),
            b"this is not json\n",
            b"[1, 2, 3]\n",
            b'{"id": "no-type", "data": {}}\n',
            b'{"type": "big", "data": "' + b"y" * 2 * limit + b'"}\n',
            b"\n",
            huge + b"\n",
            b"   \t\r\n",
            line("good-9"),
        ]
    )
    log_path.write_bytes(content)
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, max_event_bytes=limit), recorder):
        await recorder.wait_events(2)
    assert recorder.ids == ["good-1", "good-9"]
    rejected = recorder.rejections
    assert [r.position for r in rejected] == [f"{log_path}:{n}" for n in (2, 3, 4, 5, 7)]
    assert all(r.source == "applog" for r in rejected)
    assert "invalid JSON" in rejected[0].reason
    assert rejected[0].excerpt == b"this is not json"
    assert "JSON object" in rejected[1].reason
    assert '"type" is missing' in rejected[2].reason
    assert f"over the limit of {limit} bytes" in rejected[3].reason
    assert f"event is {len(huge)} bytes, over the limit of {limit} bytes" in rejected[4].reason
    assert rejected[4].excerpt == huge[:200]
    assert all(len(r.excerpt) <= 200 for r in rejected)
    assert recorder.checkpoints["applog"].offset == len(content)
    assert recorder.checkpoints["applog"].line == 9


async def test_oversized_line_being_written_is_skipped_once_complete(log_path: Path) -> None:
    """An over-limit line with no newline yet is skipped as it grows, reported when it ends."""
    limit = 1000
    log_path.write_bytes(line("1") + b'{"type": "big", "data": "' + b"z" * 2 * 1024 * 1024)
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, max_event_bytes=limit), recorder):
        await recorder.wait_events(1)
        append(log_path, b"z" * 1024 * 1024 + b'"}\n' + line("3"))
        await recorder.wait_events(2)
    assert recorder.ids == ["1", "3"]
    assert [r.position for r in recorder.rejections] == [f"{log_path}:2"]
    assert recorder.checkpoints["applog"].line == 3


async def test_oversized_unterminated_last_line_of_a_rotated_file_is_rejected(log_path: Path) -> None:
    limit = 1000
    log_path.write_bytes(line("1") + b"w" * 1_500_000)
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder, max_event_bytes=limit), recorder):
        await recorder.wait_events(1)
        log_path.rename(log_path.with_name("events.jsonl.1"))
        log_path.write_bytes(lines("new-1"))
        await recorder.wait_events(2)
    assert recorder.ids == ["1", "new-1"]
    assert [r.position for r in recorder.rejections] == [f"{log_path}:2"]
    assert "event is 1500000 bytes" in recorder.rejections[0].reason


async def test_reads_batch_after_batch_without_waiting_for_a_poll(log_path: Path) -> None:
    """25 lines with max_batch_lines=10 and an hour between polls: all arrive at once, in 3 batches."""
    log_path.write_bytes(lines(*(str(n) for n in range(1, 26))))
    recorder = Recorder()
    source = make_source(log_path, recorder, poll_interval_s=3600, max_batch_lines=10)
    async with tailing(source, recorder):
        await recorder.wait_events(25)
    assert recorder.ids == [str(n) for n in range(1, 26)]
    sizes = [len(b.events) for b in recorder.batches if b.events]
    assert sizes == [10, 10, 5]
    line_marks = [b.checkpoint.line for b in recorder.batches if b.events and b.checkpoint]
    assert line_marks == [10, 20, 25]


async def test_start_fixes_the_position_before_run(log_path: Path) -> None:
    """1. start() with start_at=end (the daemon does this before its ready line). 2. Append a line.
    3. run().

    Result: the line appended between start and run is delivered, the older one is not.
    """
    log_path.write_bytes(lines("before-start"))
    recorder = Recorder()
    source = make_source(log_path, recorder, start_at="end")
    await source.start()
    append(log_path, lines("after-start"))
    async with tailing(source, recorder):
        await recorder.wait_events(1)
    assert recorder.ids == ["after-start"]


async def test_start_refuses_a_directory(tmp_path: Path) -> None:
    source = make_source(tmp_path, Recorder())
    with pytest.raises(StartupError, match="is a directory"):
        await source.start()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_close_after_start_without_run_closes_the_file(log_path: Path) -> None:
    log_path.write_bytes(lines("1"))
    source = make_source(log_path, Recorder())
    await source.start()
    assert str(log_path) in open_paths()
    await source.close()
    await source.close()
    assert str(log_path) not in open_paths()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
async def test_cancel_closes_the_file(log_path: Path) -> None:
    log_path.write_bytes(lines("1"))
    recorder = Recorder()
    async with tailing(make_source(log_path, recorder), recorder):
        await recorder.wait_events(1)
        assert str(log_path) in open_paths()
    assert str(log_path) not in open_paths()


async def test_a_failed_commit_is_retried_not_fatal(log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store fails the first commit (disk full, say): the source keeps the batch, retries it,
    and neither loses nor repeats a line; the task stays alive."""
    from hookd.sources import tail

    class FailingOnce(Recorder):
        failures = 0

        async def submit(self, batch: Batch) -> list[Accepted]:
            if batch.events and self.failures == 0:
                self.failures += 1
                raise RuntimeError("database or disk is full")
            return await super().submit(batch)

    log_path.write_bytes(lines("a-1", "a-2"))
    recorder = FailingOnce()
    monkeypatch.setattr(tail, "STORE_RETRY_S", 0.01)
    async with tailing(make_source(log_path, recorder, start_at="beginning"), recorder) as task:
        await recorder.wait_events(2)
        append(log_path, lines("a-3"))
        await recorder.wait_events(3)
        assert not task.done()
    assert recorder.failures == 1
    assert recorder.ids == ["a-1", "a-2", "a-3"]
