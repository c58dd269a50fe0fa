"""Endless input cannot hold the file source: devices and FIFOs are refused, and a regular file
that grows without newlines is read in bounded passes, so rotation is still noticed."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookd.errors import StartupError
from hookd.sources.base import SourceError
from hookd.sources.tail import CHUNK_BYTES
from tests.test_tail import Recorder, lines, make_source, tailing, watch_log


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        pytest.param(lambda p: os.symlink("/dev/zero", p), "a character device", id="symlink to /dev/zero"),
        pytest.param(os.mkfifo, "a FIFO (named pipe)", id="fifo without a writer"),
    ],
)
async def test_a_stream_at_start_is_refused_with_the_reason(log_path: Path, make: object, kind: str) -> None:
    """Opening a FIFO with no writer would block the daemon; reading /dev/zero never ends: both are
    refused at start, without reading a byte, with what the path is and what to do instead."""
    assert callable(make)
    make(log_path)
    source = make_source(log_path, Recorder())
    with pytest.raises(StartupError) as info:
        async with asyncio.timeout(5):
            await source.start()
    message = str(info.value)
    assert f"{str(log_path)!r} is {kind}, not a regular file" in message
    assert "send a stream to a socket source" in message
    await source.close()


async def test_a_stream_appearing_at_run_time_ends_run_with_a_source_error(log_path: Path) -> None:
    """1. Tail a regular file. 2. The path becomes a symlink to /dev/zero.

    Result: run() raises SourceError (for the supervisor) at the next poll instead of reading zeros
    forever; the line read before is stored."""
    log_path.write_bytes(lines("1"))
    recorder = Recorder()
    source = make_source(log_path, recorder)
    task = asyncio.create_task(source.run(recorder.submit))
    try:
        await recorder.wait_events(1)
        log_path.rename(log_path.with_name("events.jsonl.1"))
        os.symlink("/dev/zero", log_path)
        with pytest.raises(SourceError, match="is a character device, not a regular file"):
            async with asyncio.timeout(5):
                await task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, SourceError):
            await task
    assert recorder.ids == ["1"]


@contextlib.asynccontextmanager
async def growing_without_newlines(path: Path) -> AsyncIterator[None]:
    """A writer that keeps the file open and extends it forever (sparse zeros: no newline, no disk),
    one chunk per turn of the event loop: a line that never ends, as the source reads it."""
    fd = os.open(path, os.O_WRONLY)
    stop = asyncio.Event()

    async def grow() -> None:
        while not stop.is_set():
            os.ftruncate(fd, os.fstat(fd).st_size + CHUNK_BYTES)
            await asyncio.sleep(0)

    task = asyncio.create_task(grow())
    try:
        yield
    finally:
        stop.set()
        await task
        os.close(fd)


async def test_a_line_that_never_ends_does_not_hide_rotation(log_path: Path) -> None:
    """1. Tail a file; line 1 arrives. 2. A writer holding the file open extends it without newlines,
    as fast as it is read. 3. The file is rotated: renamed, a new one with line 2 created.

    Result: line 2 arrives while the writer is still going: the source looks at the path between
    bounded read passes, and reads the old file up to its size when the rotation was seen, not
    forever; the endless line is one oversized rejection.
    """
    log_path.write_bytes(lines("1"))
    recorder = Recorder()
    with watch_log("rotated") as rotated:
        # Polls about every turn of the loop, so the writer cannot run far ahead while the source
        # sleeps: it keeps pace with the reads, and the file stays small (the test fast).
        source = make_source(log_path, recorder, max_event_bytes=1000, poll_interval_s=1e-9)
        async with tailing(source, recorder):
            await recorder.wait_events(1)
            async with growing_without_newlines(log_path):
                async with asyncio.timeout(5):
                    while log_path.stat().st_size < 4 * CHUNK_BYTES:  # the source is inside the line
                        await asyncio.sleep(0)
                log_path.rename(log_path.with_name("events.jsonl.1"))
                log_path.write_bytes(lines("2"))
                await rotated.wait()
                await recorder.wait_events(2)
    assert recorder.ids == ["1", "2"]
    [rejection] = recorder.rejections
    assert rejection.position == f"{log_path}:2"
    assert "over the limit of 1000 bytes" in rejection.reason
    assert int(rejection.reason.split()[2]) > 3 * CHUNK_BYTES  # "event is N bytes": seen mid-line
