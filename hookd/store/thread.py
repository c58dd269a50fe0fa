"""One SQLite connection on a thread of its own; each call runs a whole function there (or, when
short and the thread is idle, right in the caller's thread).

aiosqlite hops to its thread and back once per statement. A transaction of six statements was six
hops, and under load each hop waits for a turn of a busy event loop: at 2,000 events/s with
deliveries flowing, the ingest commit (and so the socket ack) took a median 43 ms (bench/). Here a
whole transaction is one function and one hop, and a function that has started always runs to its
end, so a cancelled caller can never leave the connection inside a transaction.

A bare queue and thread rather than a ThreadPoolExecutor: the executor's locks, work items and
future chaining cost ~6% of the event loop's time at 2,000 events/s (bench/, py-spy).

`run_here_if_idle` runs a short call on the caller's thread instead, when the connection's thread
has nothing queued or running: the two hops (a queue put that wakes the thread, a threadsafe
callback that wakes the loop) each made the waker lose the CPU while holding the GIL, and took a
quarter of the daemon's GIL time at 2,000 events/s (py-spy); without them ack p99 fell by a third
(bench/).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_Job = tuple[asyncio.Future[Any], Callable[[], Any]] | None  # None: the thread ends


def _set_result(future: asyncio.Future[Any], result: object) -> None:
    if not future.done():  # the caller may have been cancelled meanwhile
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class Deferred(Exception):
    """Raised by the `here` call of `run_here_if_idle` when it cannot finish at once (a lock another
    process holds): it had no effect, and the `there` call runs on the connection's thread instead."""


class _Finished:
    """How many calls the worker thread has run; written by that thread only."""

    count = 0


def _work(jobs: SimpleQueue[_Job], finished: _Finished) -> None:
    while (job := jobs.get()) is not None:
        future, call = job
        setter: Callable[[asyncio.Future[Any], Any], None]
        try:
            value: object = call()
            setter = _set_result
        except BaseException as e:
            value, setter = e, _set_exception
        finished.count += 1  # before the answer: once it arrives, the connection is free again
        _answer(future, setter, value)


def _answer(future: asyncio.Future[Any], setter: Callable[[asyncio.Future[Any], Any], None], value: object) -> None:
    # RuntimeError: the caller's loop is closed. Nobody is waiting, and the thread must go on.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(setter, future, value)


def _after(before: Callable[[sqlite3.Connection], None], conn: sqlite3.Connection, call: Callable[[], T]) -> T:
    before(conn)
    return call()


class ConnectionThread:
    """A sqlite3 connection used from its worker thread in call order (FIFO), and from the caller's
    thread only while the worker has nothing to do (`run_here_if_idle`): never from both at once.
    `before`, when given, runs on the worker thread ahead of each call made there with `run` or as
    the `there` of `run_here_if_idle`."""

    def __init__(self, name: str, *, before: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.name = name
        self.before = before
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        # Calls handed to the thread (written by the caller's thread only) and calls it has run:
        # equal when it is idle, so the connection is free for the caller's thread.
        self._submitted = 0
        self._finished = _Finished()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self, path: Path, *, timeout_s: float) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=_work, args=(self._jobs, self._finished), name=self.name, daemon=True)
        self._thread.start()
        connect = functools.partial(
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
            sqlite3.connect,
            str(path),
            timeout=timeout_s,
            isolation_level=None,
            check_same_thread=False,  # made on the worker thread by this call, and used only there
        )
        try:
            self._conn = await self._submit(connect)
        except BaseException:
            self._stop_thread()
            raise

    async def run(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(connection, *args, **kwargs)` on the connection's thread, after every earlier call."""
        conn = self._conn
        if conn is None:
            raise RuntimeError(f"the store is not open ({self.name})")
        return await self._submit(self._there(conn, functools.partial(fn, conn, *args, **kwargs)))

    async def run_here_if_idle(
        self, here: Callable[[sqlite3.Connection], T], there: Callable[[sqlite3.Connection], T]
    ) -> T:
        """`here(connection)` at once on the caller's thread (blocking its event loop for as long as
        it runs) when no call is queued or running on the connection's thread; otherwise, or when
        `here` raises Deferred, `there(connection)` on that thread, after the earlier calls. For
        short calls only; `here` must not wait for anything."""
        conn = self._conn
        if conn is None:
            raise RuntimeError(f"the store is not open ({self.name})")
        if self._submitted == self._finished.count:
            with contextlib.suppress(Deferred):
                return here(conn)
        return await self._submit(self._there(conn, functools.partial(there, conn)))

    def _there(self, conn: sqlite3.Connection, call: Callable[[], T]) -> Callable[[], T]:
        return call if self.before is None else functools.partial(_after, self.before, conn, call)

    async def close(self) -> None:
        """Close the connection after the calls already queued. Idempotent."""
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await self._submit(conn.close)
        finally:
            self._stop_thread()

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)  # ends after the jobs before it
            self._thread = None

    async def _submit(self, call: Callable[[], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._submitted += 1
        self._jobs.put((future, call))
        return await future
