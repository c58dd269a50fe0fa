"""Writes the outcomes of attempts to the store in batches (group commit for status updates).

One recorder task writes at most once per RECORD_INTERVAL_S: while one write is in flight or the
interval runs, the next outcomes gather. An attempt held here when the process dies is lost with it,
and so is only its record: its delivery is still `delivering` in the store and is sent again at the
next start (at-least-once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from hookd.health import RecentErrors
from hookd.logs import LogLine, isoformat
from hookd.store.base import AttemptRecord, Store

log = logging.getLogger("hookd.dispatcher")

# Pause before trying the store again after it failed (locked by another writer, disk full, ...).
STORE_RETRY_S = 1.0
# Outcomes are written at most once per interval, unless this many are waiting.
RECORD_INTERVAL_S = 0.01
RECORD_BATCH_FULL = 1000


class Recorder:
    """Writes attempt records in batches; `flush()` waits until everything added so far is stored."""

    def __init__(
        self, store: Store, errors: RecentErrors, on_retry_scheduled: Callable[[], None] = lambda: None
    ) -> None:
        self.store = store
        self.errors = errors
        self.on_retry_scheduled = on_retry_scheduled
        self._buffer: list[AttemptRecord] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._last_write = float("-inf")

    def add(self, record: AttemptRecord) -> None:
        self._buffer.append(record)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hookd-recorder")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer:
                # At most one write per interval: at a steady 2,000 events/s each write otherwise held
                # one outcome, and a write's fixed cost (~80 µs of SQLite and its WAL pages, a thread
                # hop) dominated (bench/). Under load batches are large anyway. A crash re-sends what
                # waited here, so the interval stays short.
                wait = self._last_write + RECORD_INTERVAL_S - loop.time()
                if wait > 0 and len(self._buffer) < RECORD_BATCH_FULL:
                    await asyncio.sleep(wait)
                self._last_write = loop.time()
                batch, self._buffer = self._buffer, []
                try:
                    await asyncio.shield(self.store.record_attempts(batch))
                    if log.isEnabledFor(logging.DEBUG):
                        _log_recorded(batch)
                    if any(r.state == "pending" or r.ordered for r in batch):
                        # A retry's due time is in the store only now, and so is the next delivery of a
                        # key whose delivery ended (it became due in the same write).
                        self.on_retry_scheduled()
                except asyncio.CancelledError:
                    self._buffer[:0] = batch
                    raise
                except Exception as e:
                    escaped = (
                        [storable(r) for r in batch] if isinstance(e, UnicodeError | ValueError | TypeError) else batch
                    )
                    if any(a is not b for a, b in zip(escaped, batch, strict=True)):
                        # Text the store cannot take (a lone surrogate from undecodable bytes): one such
                        # row must not hold up every other attempt's record. Written again at once.
                        log.error(LogLine("an attempt held text that cannot be stored; recorded with it escaped",
                                          {"attempts": len(batch), "error": str(e)}))  # fmt: skip
                        self._buffer[:0] = escaped
                        continue
                    # Kept and written again (idempotent by delivery and attempt): dropping the batch
                    # would leave its deliveries `delivering`, unsent, until a restart.
                    log.error(LogLine(f"could not record the attempts; retrying in {STORE_RETRY_S:.0f}s",
                                      {"attempts": len(batch), "error": str(e)}))  # fmt: skip
                    self.errors.add(f"recording {len(batch)} attempt(s) failed: {e}")
                    self._buffer[:0] = batch
                    await asyncio.sleep(STORE_RETRY_S)
            self._idle.set()

    async def flush(self) -> None:
        if self._buffer:
            self._wake.set()
        await self._idle.wait()

    async def close(self, timeout_s: float = 10.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            # Their deliveries stay `delivering`: recovered and sent again at the next start.
            log.error(LogLine("could not record the attempts before stopping; they are sent again at the next start",
                              {"attempts": len(self._buffer)}))  # fmt: skip
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None


def _log_recorded(batch: Sequence[AttemptRecord]) -> None:
    """Debug: each write of outcomes, with its counts, and each retry it scheduled with its due time."""
    states = Counter(r.state for r in batch)
    log.debug(LogLine("recorded attempts", {"attempts": len(batch), **{s: states[s] for s in sorted(states)}}))
    for r in batch:
        if r.state == "pending" and r.next_at is not None:
            log.debug(LogLine("retry scheduled", {"delivery": r.delivery_id, "try": r.attempt + 1,
                                                  "due_at": isoformat(r.next_at)}))  # fmt: skip


def storable(record: AttemptRecord) -> AttemptRecord:
    """`record` with every text escaped to valid UTF-8 (lone surrogates as \\udcNN), or itself when it
    holds none to escape."""
    fixed = dataclasses.replace(
        record,
        error=_valid(record.error),
        request=_valid_tree(record.request),
        response_headers={_valid(k): _valid(v) for k, v in record.response_headers.items()},
        response_excerpt=_valid(record.response_excerpt),
        hops=tuple(dataclasses.replace(h, url=_valid(h.url)) for h in record.hops),
    )
    return record if fixed == record else fixed


def _valid(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _valid_tree(value: Mapping[str, object]) -> dict[str, object]:
    def walk(v: object) -> object:
        if isinstance(v, str):
            return _valid(v)
        if isinstance(v, Mapping):
            return {_valid(str(k)): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return {_valid(k): walk(v) for k, v in value.items()}
