"""One SQLite connection on a thread of its own; each call runs a whole function there.

aiosqlite hops to its thread and back once per statement. A transaction of six statements was six
hops, and under load each hop waits for a turn of a busy event loop: at 2,000 events/s with
deliveries flowing, the ingest commit (and so the socket ack) took a median 43 ms (bench/). Here a
whole transaction is one function and one hop, and a function that has started always runs to its
end, so a cancelled caller can never leave the connection inside a transaction.

A bare queue and thread rather than a ThreadPoolExecutor: the executor's locks, work items and
future chaining cost ~6% of the event loop's time at 2,000 events/s (bench/, py-spy).
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


def _work(jobs: SimpleQueue[_Job]) -> None:
    while (job := jobs.get()) is not None:
        future, call = job
        try:
            result = call()
        except BaseException as e:
            _answer(future, _set_exception, e)
        else:
            _answer(future, _set_result, result)


def _answer(future: asyncio.Future[Any], setter: Callable[[asyncio.Future[Any], Any], None], value: object) -> None:
    # RuntimeError: the caller's loop is closed. Nobody is waiting, and the thread must go on.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(setter, future, value)


class ConnectionThread:
    """A sqlite3 connection used only from one worker thread, in call order (FIFO)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: SimpleQueue[_Job] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self, path: Path, *, timeout_s: float) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=_work, args=(self._jobs,), name=self.name, daemon=True)
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
        return await self._submit(functools.partial(fn, conn, *args, **kwargs))

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
        self._jobs.put((future, call))
        return await future
