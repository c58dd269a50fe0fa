"""Shared fixtures: a real HTTP receiver on 127.0.0.1:0, short socket dirs, daemons in and out of process."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from ssl import SSLContext

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import settings as hypothesis_settings

from hookd.clock import Clock
from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.store.sqlite import SQLiteStore
from tests.manual_clock import ManualClock

FAILSAFE_S = 20.0

# Property tests: the default suite runs a small, repeatable sample (CI must not go red by chance);
# HOOKD_HYPOTHESIS=long searches far wider with fresh randomness (README, "Development"),
# HOOKD_HYPOTHESIS_EXAMPLES examples per property (3,000 by default).
hypothesis_settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, database=None)
hypothesis_settings.register_profile(
    "long", max_examples=int(os.environ.get("HOOKD_HYPOTHESIS_EXAMPLES", "3000")), deadline=None
)
hypothesis_settings.load_profile(os.environ.get("HOOKD_HYPOTHESIS", "ci"))


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: asyncio.Event | None = None  # answer only once this is set
    delay_s: float = 0.0  # answer this long after the request arrived


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return orjson.loads(self.body)


class Receiver:
    """A real aiohttp server that records requests and answers from a per-path script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: dict[str, list[Reply]] = {}
        self.default: dict[str, Reply] = {}
        self._changed = asyncio.Condition()
        self.server: TestServer | None = None
        self.holds: list[asyncio.Event] = []
        self.open: Counter[str] = Counter()  # requests being answered now, by path
        self.peak: Counter[str] = Counter()  # the most open at once, by path, and "*" for all paths

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        got = Received(request.method, request.path, dict(request.headers), body)
        self.requests.append(got)
        async with self._changed:
            self._changed.notify_all()
        queue = self.script.get(request.path)
        reply = queue.pop(0) if queue else self.default.get(request.path, Reply())
        self.open[request.path] += 1
        self.peak[request.path] = max(self.peak[request.path], self.open[request.path])
        self.peak["*"] = max(self.peak["*"], self.open.total())
        try:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.hold is not None:
                await reply.hold.wait()
        finally:
            self.open[request.path] -= 1
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    def url(self, path: str = "/") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def on(self, path: str, *replies: Reply) -> None:
        self.script.setdefault(path, []).extend(replies)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = FAILSAFE_S) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.requests))

    async def wait_count(self, n: int, path: str | None = None, timeout: float = FAILSAFE_S) -> None:
        await self.wait_for(lambda rs: sum(1 for r in rs if path is None or r.path == path) >= n, timeout)


@asynccontextmanager
async def serving(app: web.Application, *, ssl: SSLContext | None = None) -> AsyncIterator[TestServer]:
    """`app` on a real aiohttp server at 127.0.0.1, on a port the system chose (server.port says which),
    closed at the end; HTTPS with `ssl`."""
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(ssl=ssl)
    try:
        yield server
    finally:
        await server.close()


@asynccontextmanager
async def serving_receiver(rec: Receiver | None = None) -> AsyncIterator[Receiver]:
    """A started Receiver, closed at the end with every held reply released (for tests that cannot
    take the fixture, such as one hypothesis example per event loop). `rec` serves a subclass that
    notes more about each request instead of a plain Receiver."""
    rec = rec or Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    async with serving(app) as server:
        rec.server = server
        try:
            yield rec
        finally:
            for reply_list in rec.script.values():
                for reply in reply_list:
                    if reply.hold is not None:
                        reply.hold.set()
            for reply in rec.default.values():
                if reply.hold is not None:
                    reply.hold.set()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as rec:
        yield rec


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="hk-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_config(directory: Path, text: str) -> Path:
    path = directory / "hookd.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def daemon_config(directory: Path, rest: str) -> Path:
    """hookd.yaml with its database at `directory`/hookd.db, then `rest` (sources, hooks and any other
    top-level sections) indented as at the call site: the database is the same in every daemon test."""
    return write_config(
        directory, f"version: 1\nstorage: {{path: {directory}/hookd.db}}\n" + textwrap.dedent(rest).lstrip("\n")
    )


def socket_config(directory: Path, rest: str, *, tail_log: bool = False) -> Path:
    """daemon_config with one socket source, app, at `directory`/s.sock (where send_lines writes), then
    `rest`: `hooks:` and any other top-level sections. Most daemon tests differ only in `rest`.
    `tail_log` adds a file source, log, reading `directory`/events.jsonl from its beginning."""
    log = f"\n  - {{name: log, type: file, path: {directory}/events.jsonl, start_at: beginning}}" if tail_log else ""
    sources = f"sources:\n  - {{name: app, type: socket, path: {directory}/s.sock}}{log}\n"
    return daemon_config(directory, sources + textwrap.dedent(rest).lstrip("\n"))


@asynccontextmanager
async def running_daemon(
    config: Path, *, clock: Clock | None = None, store_type: type[SQLiteStore] = SQLiteStore
) -> AsyncIterator[Daemon]:
    """A started in-process daemon, stopped at the end; `clock` (a ManualClock) moves its time only
    when the test says so; `store_type` swaps in an instrumented store."""
    settings = load_config(config)
    daemon = Daemon(
        settings, clock=clock, store=store_type(settings.storage.path, synchronous=settings.storage.synchronous)
    )
    await daemon.start()
    try:
        yield daemon
    finally:
        daemon.request_stop()
        await daemon.stop()


async def send_lines(sock: Path, lines: list[bytes], *, expect: int | None = None) -> list[dict[str, object]]:
    """Write lines to the daemon's socket and read one reply per non-blank line."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        writer.write(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
        await writer.drain()
        n = expect if expect is not None else sum(1 for line in lines if line.strip())
        replies = []
        async with asyncio.timeout(FAILSAFE_S):
            for _ in range(n):
                replies.append(orjson.loads(await reader.readline()))
        return replies
    finally:
        writer.close()
        await writer.wait_closed()


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it exited meanwhile
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def wait_gone(pid: int) -> None:
    async with asyncio.timeout(FAILSAFE_S):
        while process_alive(pid):
            await asyncio.sleep(0.02)


def event_line(type_: str = "order.created", **fields: object) -> bytes:
    return orjson.dumps({"type": type_, **fields})


def db_rows(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


async def wait_db(
    db: Path, sql: str, predicate: Callable[[list[tuple[object, ...]]], bool]
) -> list[tuple[object, ...]]:
    """Wait for a store state (checked every 20 ms; the timeout is only a failsafe)."""
    async with asyncio.timeout(FAILSAFE_S):
        while True:
            rows = db_rows(db, sql)
            if predicate(rows):
                return rows
            await asyncio.sleep(0.02)


async def wait_until(condition: Callable[[], bool]) -> None:
    """Until `condition` holds, letting the loop run (checked every 10 ms; the timeout is only a failsafe)."""
    async with asyncio.timeout(FAILSAFE_S):
        while not condition():
            await asyncio.sleep(0.01)


async def idle(clock: ManualClock) -> None:
    """Until a daemon's dispatcher waits on `clock` again, and a few turns more: the moment to check
    that a lane which should not send has sent nothing (there is no event for "did nothing")."""
    await wait_until(lambda: clock.waiting() > 0)
    for _ in range(20):
        await asyncio.sleep(0)


@asynccontextmanager
async def open_store(path: Path, *, background_checkpoints: bool = True) -> AsyncIterator[SQLiteStore]:
    """An open SQLiteStore at `path` (created and migrated if new), closed at the end even when the
    block fails: for a test that writes or reads the database beside a daemon or a CLI command."""
    store = SQLiteStore(path, background_checkpoints=background_checkpoints)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def new_database(path: Path) -> None:
    """The database a daemon makes on its first start, for CLI commands run with no daemon."""
    async with open_store(path):
        pass


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hookd.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLiteStore at `db_path`, closed at the end, without the background checkpointer: no
    timer task or second connection runs beside a test that reads the file and counts its queries' work."""
    async with open_store(db_path, background_checkpoints=False) as s:
        yield s


class DaemonProcess:
    """`python -m hookd serve` as a real subprocess, for signal and kill -9 tests."""

    def __init__(self, config: Path, *args: str) -> None:
        self.config = config
        self.args = args  # more `hookd serve` options (--log-format json, ...)
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._logged = asyncio.Condition()

    async def start(self) -> None:
        self._ready.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", "serve", "-c", str(self.config), *self.args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # a process group of its own, as under a service manager or a shell
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(FAILSAFE_S):
            await self._ready.wait()

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log.append(text)
            if " ready: " in text:
                self._ready.set()
            async with self._logged:
                self._logged.notify_all()
        self._ready.set()  # exited: let start() return and the test see the log

    async def wait_for_line(self, text: str) -> None:
        """Until the daemon has logged a line containing `text` (the timeout is only a failsafe)."""
        async with asyncio.timeout(FAILSAFE_S), self._logged:
            await self._logged.wait_for(lambda: any(text in line for line in self.log))

    async def stop(self) -> None:
        """SIGTERM if still running, wait for the exit, release everything (for `finally` blocks)."""
        if self.proc is not None and self.proc.returncode is None:
            self.signal(signal.SIGTERM)
            await self.wait()
        await self.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        """Like Ctrl-C in a terminal, or systemd's default KillMode: every process of the group."""
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def children(self) -> list[int]:
        """Pids of the daemon's child processes (its delivery worker)."""
        assert self.proc is not None
        return child_pids(self.proc.pid)

    async def wait(self) -> int:
        assert self.proc is not None
        async with asyncio.timeout(FAILSAFE_S + 30):
            code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def raw_http_server(answer: bytes) -> AsyncIterator[str]:
    """A server on 127.0.0.1:0 that reads one request and writes `answer` as it is (aiohttp's own
    server refuses to send a control character in a header, as a hostile receiver would). Yields its URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0
        )
        await reader.readexactly(length)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/r"
    finally:
        server.close()
        await server.wait_closed()
