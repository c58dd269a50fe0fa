"""A source that fails is visible and comes back: real file sources that really fail (their path
becomes a directory, a device), supervised by the daemon's SourceSupervisor, with polls and backoff
on a ManualClock so the retry timing is exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hookd.config.model import FileSourceConfig, SocketSourceConfig
from hookd.health import SourceHealth
from hookd.sources.socket import SocketSource
from hookd.sources.tail import FileTailSource
from hookd.supervisor import SourceSupervisor
from tests.conftest import send_lines
from tests.manual_clock import ManualClock
from tests.test_tail import Recorder, lines

POLL_S = 0.25
STABLE_S = 100.0


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


class Supervised:
    """One FileTailSource under a SourceSupervisor, as the daemon runs it."""

    def __init__(self, path: Path) -> None:
        self.clock = ManualClock()
        self.recorder = Recorder()
        self.health = SourceHealth()
        config = FileSourceConfig(name="applog", path=path, start_at="beginning")
        self.source = FileTailSource(config, self.recorder.load_checkpoint, poll_interval_s=POLL_S, clock=self.clock)
        self.supervisor = SourceSupervisor(
            self.source,
            self.recorder.submit,
            clock=self.clock,
            health=self.health,
            first_retry_s=1.0,
            max_retry_s=4.0,
            stable_s=STABLE_S,
        )

    def backoff(self) -> list[float]:
        """The supervisor's waits so far (the source's own polls and the stable watch left out)."""
        return [s for s in self.clock.slept if s not in (POLL_S, STABLE_S)]

    async def wait_failing(self, failures: int) -> None:
        async with asyncio.timeout(5):
            while (f := self.health.failing().get("applog")) is None or f.failures < failures:
                await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def supervised(path: Path) -> AsyncIterator[tuple[Supervised, asyncio.Task[None]]]:
    s = Supervised(path)
    await s.source.start()  # the daemon starts sources before its ready line, then supervises run()
    task = asyncio.create_task(s.supervisor.run())
    try:
        yield s, task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await s.source.close()


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@contextlib.contextmanager
def captured(name: str) -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger(name)
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


async def test_a_path_that_becomes_a_directory_is_reported_retried_with_backoff_and_recovers(log_path: Path) -> None:
    """1. Tail lines 1-2. 2. The file is renamed away and a directory takes its path; a poll.
    3. The clock moves through four retries. 4. The directory goes, a file with lines 3-4 comes.

    Result: the task never ends; health names the source and the reason from the first failure;
    retries wait 1, 2, 4, 4 s on the clock; the failure is logged once (ERROR), not per retry; once
    the file is back its lines arrive, health is ok again and the log says the source works again.
    """
    log_path.write_bytes(lines("1", "2"))
    with captured("hookd.supervisor") as log:
        async with supervised(log_path) as (s, task):
            await s.recorder.wait_events(2)
            await s.clock.wait_sleeping(POLL_S)
            log_path.rename(log_path.with_name("events.jsonl.1"))
            log_path.mkdir()
            s.clock.advance(POLL_S)
            await s.wait_failing(1)
            failure = s.health.failing()["applog"]
            assert "is a directory; path must name a file" in failure.reason
            assert str(log_path) in failure.reason
            assert failure.retry_at == s.clock.now() + 1.0
            for n, wait in enumerate([1.0, 2.0, 4.0], start=2):
                await s.clock.wait_sleeping(wait)
                s.clock.advance(wait)
                await s.wait_failing(n)
            assert s.backoff() == [1.0, 2.0, 4.0, 4.0]
            assert not task.done()
            log_path.rmdir()
            log_path.write_bytes(lines("3", "4"))
            await s.clock.wait_sleeping(4.0)
            s.clock.advance(4.0)
            await s.recorder.wait_events(4)
            assert s.health.failing() == {}
            assert not task.done()
    assert s.recorder.ids == ["1", "2", "3", "4"]
    errors = log.at(logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith(f'source=applog reason="{str(log_path)!r} is a directory; path must name a file')
    assert errors[0].endswith(" stopped; trying again in 1s (hookd status shows it until it works)")
    assert all("Traceback" not in m for m in errors)
    infos = log.at(logging.INFO)
    assert len(infos) == 1 and infos[0].startswith("source=applog failures=4 over_s=") and "works again" in infos[0]


async def test_a_quiet_source_counts_as_recovered_once_it_has_run_for_a_while(log_path: Path) -> None:
    """1. Tail an empty file. 2. Its path becomes a symlink loop; a poll. 3. The same file comes
    back (nothing new to store); the retry succeeds and the file stays quiet.

    Result: health stays degraded until the restarted source has run `stable_s` on the clock, then
    returns to ok; the task never ends.
    """
    log_path.write_bytes(b"")
    aside = log_path.with_name("aside.jsonl")
    async with supervised(log_path) as (s, task):
        await s.clock.wait_sleeping(POLL_S)
        log_path.rename(aside)
        os.symlink(log_path, log_path)  # a loop: "Too many levels of symbolic links"
        s.clock.advance(POLL_S)
        await s.wait_failing(1)
        assert "Too many levels of symbolic links" in s.health.failing()["applog"].reason
        log_path.unlink()
        aside.rename(log_path)  # the same file (inode, offset): the restart has nothing to store
        await s.clock.wait_sleeping(1.0)
        s.clock.advance(1.0)
        await s.clock.wait_sleeping(STABLE_S)
        await s.clock.wait_sleeping(POLL_S)  # running again, idle
        assert "applog" in s.health.failing()
        s.clock.advance(STABLE_S - 1)
        await s.clock.wait_sleeping(POLL_S)
        assert "applog" in s.health.failing()
        s.clock.advance(1)
        async with asyncio.timeout(5):
            while s.health.failing():
                await asyncio.sleep(0)
        assert not task.done()
    assert s.recorder.ids == []


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc/self/mem")
async def test_a_read_that_fails_is_reported_with_the_file_and_retried(log_path: Path) -> None:
    """1. Tail line 1. 2. The path becomes a symlink to /proc/self/mem: a regular file whose read at
    offset 0 fails with EIO. 3. A regular file with line 2 takes the path back; the retry comes.

    Result: health names the file and the I/O error; the failure is logged once though every retry
    fails the same way; line 2 arrives and health is ok again.
    """
    log_path.write_bytes(lines("1"))
    with captured("hookd.supervisor") as log:
        async with supervised(log_path) as (s, task):
            await s.recorder.wait_events(1)
            await s.clock.wait_sleeping(POLL_S)
            log_path.rename(log_path.with_name("events.jsonl.1"))
            os.symlink("/proc/self/mem", log_path)
            s.clock.advance(POLL_S)
            await s.wait_failing(1)
            reason = s.health.failing()["applog"].reason
            assert f"reading {str(log_path)!r} failed: Input/output error" in reason
            await s.clock.wait_sleeping(1.0)
            s.clock.advance(1.0)
            await s.wait_failing(2)
            log_path.unlink()
            log_path.write_bytes(lines("2"))
            await s.clock.wait_sleeping(2.0)
            s.clock.advance(2.0)
            await s.recorder.wait_events(2)
            assert s.health.failing() == {}
            assert not task.done()
    assert s.recorder.ids == ["1", "2"]
    assert len(log.at(logging.ERROR)) == 1


async def test_a_socket_source_can_be_started_again_after_close(short_dir: Path) -> None:
    """The supervisor restarts a failed source with close, start, run: a socket source binds again,
    lists its address once, and answers on it."""
    config = SocketSourceConfig(name="app", path=short_dir / "s.sock")
    source = SocketSource(config)
    await source.start()
    await source.close()
    await source.start()
    recorder = Recorder()
    task = asyncio.create_task(source.run(recorder.submit))
    try:
        assert source.describe() == f"unix:{short_dir / 's.sock'}"
        [reply] = await send_lines(short_dir / "s.sock", [lines("s1").rstrip(b"\n")])
        assert reply == {"ok": True, "id": "s1"}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()
