"""One SQLite connection on a thread of its own; each call runs a whole function there.

aiosqlite hops to its thread and back once per statement. A transaction of six statements was six
hops, and under load each hop waits for a turn of a busy event loop: at 2,000 events/s with
deliveries flowing, the ingest commit (and so the socket ack) took a median 43 ms (bench/). Here a
whole transaction is one function and one hop, and a function that has started always runs to its
end, so a cancelled caller can never leave the connection inside a transaction.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ConnectionThread:
    """A sqlite3 connection used only from one worker thread, in call order (FIFO)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self, path: Path, *, timeout_s: float) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
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
            self._executor.shutdown(wait=False)
            self._executor = None
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
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        finally:
            executor.shutdown(wait=False)

    async def _submit(self, call: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)
