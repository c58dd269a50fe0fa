"""The `type: file` source: follows a JSONL file like `tail -F`, one event per line.

It follows appends, survives rotation (the file renamed away and a new one created: the old file is
read to its end first, then the new one from offset 0) and truncation (copytruncate: back to offset
0), and waits for a file or directory that does not exist yet. It polls every `poll_interval_s` (on
the injected Clock) while idle and reads straight through, batch by batch, while data is there.

The position is a Checkpoint (device, inode, offset, line, fingerprint) committed with the events it
covers, so a restart resumes exactly after the last committed line: nothing skipped, nothing read
twice. The fingerprint is a hash of the last line before the offset (at most its last
FINGERPRINT_BYTES): a file truncated and written again past the offset between two polls (or while
hookd was stopped) keeps its inode and has no size drop to see, but its bytes before the offset
change, so it is read again from offset 0 instead of from the middle of new lines.
An unterminated last line is not consumed until its newline arrives, or until the file is rotated
away. Whenever the position jumps instead of moving through lines (start at the end, a new file,
truncation) the source submits a batch holding only the new checkpoint, so a restart before the
next line still starts from the right place.

Reads are plain reads of at most one chunk from a local file, with a yield to the event loop after
each chunk; a line over `max_event_bytes` is skipped chunk by chunk, never held in memory whole, and
after READ_BUDGET_BYTES the source looks at the path again (rotation, truncation) before reading on.
Only regular files are tailed: a device or a FIFO (a symlink to /dev/zero, a named pipe) has no
end, no offset to resume at and no rotation, so it is refused with a SourceError saying so; the
supervisor reports it and tries the path again, so the source recovers when the path is a regular
file again.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from hookd.clock import Clock, RealClock
from hookd.config.model import FileSourceConfig
from hookd.errors import EventError, StartupError
from hookd.events import Event, parse_event_line, size_limit
from hookd.files import file_kind
from hookd.logs import LogLine
from hookd.sources.base import Batch, Checkpoint, Rejection, SourceError, Submit

logger = logging.getLogger("hookd.sources.tail")

CHUNK_BYTES = 1024 * 1024  # one read; also the soft byte limit of one batch
STORE_RETRY_S = 0.5
STORE_RETRY_MAX_S = 30.0
EXCERPT_BYTES = 200  # kept from a rejected line for the operator
# Read at most this much before looking at the path again: a line with no end in sight (a file
# growing without newlines) must not keep the source from noticing rotation or truncation.
READ_BUDGET_BYTES = 8 * CHUNK_BYTES
FINGERPRINT_BYTES = 256

LoadCheckpoint = Callable[[str], Awaitable[Checkpoint | None]]


@dataclass(slots=True)
class _Oversized:
    """A line over the size limit being skipped: only its start and its length so far are kept."""

    line: int  # its 1-based line number
    excerpt: bytes
    size: int  # bytes seen so far, newline excluded
    tail: bytes  # its last FINGERPRINT_BYTES seen so far, for the fingerprint


class FileTailSource:
    """Tails one JSONL file. Safe to cancel at any point: the position only moves on commit."""

    def __init__(
        self,
        config: FileSourceConfig,
        load_checkpoint: LoadCheckpoint,
        *,
        poll_interval_s: float = 0.25,
        max_batch_lines: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        if max_batch_lines < 1:
            raise ValueError("max_batch_lines must be at least 1")
        self.name = config.name
        self._config = config
        # Absolute but not resolved: like `tail -F`, follow the name, whatever it points to now.
        self._path = Path(os.path.abspath(config.path))
        self._load_checkpoint = load_checkpoint
        self._poll_interval_s = poll_interval_s
        self._max_batch_lines = max_batch_lines
        self._clock: Clock = clock or RealClock()
        self._file: io.FileIO | None = None
        self._device = 0
        self._inode = 0
        # Committed position: moved only after `submit` returns.
        self._offset = 0
        self._fingerprint: str | None = None  # of the position: committed, or where reading starts
        # Read cursor: `_buf` holds the unconsumed bytes that start at file offset `_buf_pos`.
        self._buf = bytearray()
        self._buf_pos = 0
        self._cursor_line = 0
        self._oversized: _Oversized | None = None
        # The last line consumed, and whether it ended with a newline: the next checkpoint's fingerprint.
        self._last_line = b""
        self._last_newline = False
        self._budget = READ_BUDGET_BYTES  # bytes left to read before looking at the path again
        self._last_problem = ""  # the last "cannot follow the file" message logged, to log each once
        self._started = False
        self._loaded: Checkpoint | None = None  # the checkpoint found at start

    def describe(self) -> str:
        return f"file:{self._path}"

    async def start(self) -> None:
        """Load the checkpoint and, if the file exists, open it at its starting position.

        Done before the daemon says it is ready, so that with start_at=end a line appended after
        the ready line is not skipped. A missing file is not an error: `run` waits for it.
        Raises StartupError if the path is a directory, a device or a FIFO. Idempotent; `run`
        calls it if needed, and after `close` it starts again from the committed checkpoint.
        """
        if self._started:
            return
        self._loaded = await self._load_checkpoint(self.name)
        # start_at applies to a file there at start; one that appears later is new: read it all.
        existed = os.path.exists(self._path)
        try:
            opened = self._open()
        except SourceError as e:
            raise StartupError(str(e)) from None
        self._started = True
        if opened:
            await self._position(existed=existed)

    async def run(self, submit: Submit) -> None:
        """Tail the file until cancelled. Bad lines become Rejections; a failing `submit` is retried.

        Raises SourceError when the path cannot be tailed (a directory, a device, no permission):
        the supervisor reports it and, after a pause, starts this source again.
        """
        try:
            await self.start()
            while self._file is None:
                await self._clock.sleep(self._poll_interval_s)
                if self._open():
                    await self._position(existed=False)
            start = self._checkpoint(self._buf_pos, self._cursor_line, self._fingerprint)
            if start != self._loaded:
                await self._store(submit, Batch(checkpoint=start, source=self.name))
            self._offset = start.offset
            while True:
                # Look at the path before reading on: what changed while we slept (rotation,
                # truncation, a rewrite past our offset) decides where the next bytes come from.
                await self._follow(submit)
                self._budget = READ_BUDGET_BYTES
                await self._drain(submit)
                if self._budget > 0:  # reached the end of the file: wait for more
                    await self._clock.sleep(self._poll_interval_s)
        finally:
            self._close()

    async def stop_reading(self) -> None:
        """Nothing to answer: a file's position is committed with its lines, and the next start resumes."""

    async def close(self) -> None:
        """Close the file (for a source started but never run); the next `start` reloads the checkpoint.
        Idempotent."""
        self._close()
        self._started = False

    # -- opening and following the name --------------------------------------------------------

    async def _position(self, *, existed: bool) -> None:
        """Place the cursor in the file just opened: the checkpoint, or start_at, or offset 0."""
        size = os.fstat(self._fileno()).st_size
        where = self._where()
        checkpoint = self._loaded
        if checkpoint is not None and checkpoint.path != str(self._path):
            logger.info(
                LogLine(
                    "the checkpoint is for another file; ignoring it", {**where, "checkpoint_file": checkpoint.path}
                )
            )
            checkpoint = None
        if checkpoint is not None:
            if (checkpoint.device, checkpoint.inode) != (self._device, self._inode):
                logger.info(
                    LogLine("is another file than at the last checkpoint (rotated); reading it from offset 0", where)
                )
                offset, line = 0, 0
            elif checkpoint.offset > size:
                logger.warning(
                    LogLine(
                        "is shorter than its checkpoint: truncated while stopped; reading from offset 0",
                        {**where, "size": size, "checkpoint_offset": checkpoint.offset},
                    )
                )
                offset, line = 0, 0
            elif checkpoint.fingerprint is not None and self._read_fingerprint(checkpoint.offset) != (
                checkpoint.fingerprint
            ):
                logger.warning(
                    LogLine(
                        "was truncated and written again while stopped (the line before the checkpoint's offset "
                        "is not the one read there); reading from offset 0",
                        {**where, "checkpoint_offset": checkpoint.offset},
                    )
                )
                offset, line = 0, 0
            else:
                offset, line = checkpoint.offset, checkpoint.line
                logger.info(LogLine("resuming", {**where, "offset": offset, "line": line}))
        elif existed and self._config.start_at == "end":
            offset, line = await self._find_end(size)
            logger.info(LogLine("starting at the end", {**where, "offset": offset, "line": line}))
        else:
            offset, line = 0, 0
            logger.info(LogLine("reading from offset 0", where))
        self._seek(offset, line)
        self._fingerprint = self._read_fingerprint(offset)

    def _open(self) -> bool:
        """Open the file at the path; False (logged once) while it does not exist.

        Raises SourceError when it exists but cannot be tailed: a directory, not a regular file
        (a device or FIFO would be read forever or block), or not readable.
        """
        try:
            # Non-blocking: opening a FIFO with no writer would otherwise block the whole daemon.
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            self._notice("does not exist yet; waiting for it to appear")
            return False
        except OSError as e:
            raise SourceError(
                f"source {self.name!r}: {str(self._path)!r} cannot be opened: {e.strerror}; "
                "check its permissions (and those of its directories)"
            ) from None
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise SourceError(f"source {self.name!r}: {str(self._path)!r} is a directory; path must name a file")
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SourceError(
                f"source {self.name!r}: {str(self._path)!r} is {file_kind(st.st_mode)}, not a regular file; "
                "a file source tails regular files only (it cannot checkpoint or rotate a stream): "
                "point path at the log file itself, or send a stream to a socket source"
            )
        os.set_blocking(fd, True)
        file = io.FileIO(fd, "rb", closefd=True)
        self._close()
        self._file = file
        self._device, self._inode = st.st_dev, st.st_ino
        self._last_problem = ""
        return True

    async def _follow(self, submit: Submit) -> None:
        """Before reading on: switch to a new file, or restart a truncated or rewritten one.

        Raises SourceError (from `_open`) when the path now names something that cannot be tailed.
        """
        try:
            st = os.stat(self._path)
        except (FileNotFoundError, NotADirectoryError):
            self._notice("was removed; waiting for a new file")
            return
        except OSError as e:
            raise SourceError(
                f"source {self.name!r}: {str(self._path)!r} cannot be read: {e.strerror}; "
                "check its permissions (and those of its directories)"
            ) from None
        self._last_problem = ""
        where = self._where()
        if (st.st_dev, st.st_ino) != (self._device, self._inode):
            # Rotated: finish the old file first, its unterminated last line included; up to its size
            # now, so that a writer still appending to it (a line with no end) cannot hold us there.
            self._budget = max(0, os.fstat(self._fileno()).st_size - (self._buf_pos + len(self._buf)))
            await self._drain(submit, final=True)
            old = f"{self._device}:{self._inode}"
            if not self._open():
                return  # gone again between stat and open: the next poll sees what is there
            logger.info(LogLine("rotated; reading new file from offset 0", {**where, "old_inode": old}))
            await self._restart_at_zero(submit)
            return
        size = os.fstat(self._fileno()).st_size
        if size < self._buf_pos + len(self._buf):
            logger.warning(
                LogLine(
                    "truncated; reading from offset 0",
                    {**where, "size": size, "offset": self._buf_pos + len(self._buf)},
                )
            )
            await self._restart_at_zero(submit)
            return
        if self._fingerprint is not None and self._read_fingerprint(self._offset) != self._fingerprint:
            # copytruncate raced a poll: truncated, then written past our offset before we looked.
            logger.warning(
                LogLine(
                    "truncated and written again past the offset (the line before it is not the one read there); "
                    "reading from offset 0",
                    {**where, "offset": self._offset, "size": size},
                )
            )
            await self._restart_at_zero(submit)

    async def _restart_at_zero(self, submit: Submit) -> None:
        self._seek(0, 0)
        self._fingerprint = None
        await self._commit_position(submit)
        self._offset = 0

    def _where(self) -> dict[str, object]:
        return {"source": self.name, "file": str(self._path)}

    def _notice(self, message: str) -> None:
        """A state of the path worth one line (not a failure: those raise SourceError), once until it changes."""
        if message != self._last_problem:
            logger.info(LogLine(message, self._where()))
            self._last_problem = message

    async def _find_end(self, size: int) -> tuple[int, int]:
        """Offset just past the last complete line before `size`, and how many lines come before it.

        Not `size` itself: starting inside an unterminated line would turn its tail into garbage.
        Counting reads the existing file once, a chunk at a time, so that line numbers stay true.
        """
        file = self._require_file()
        file.seek(0)
        lines = 0
        end = 0
        position = 0
        while position < size:
            chunk = file.read(min(CHUNK_BYTES, size - position))
            if not chunk:
                break
            newlines = chunk.count(b"\n")
            if newlines:
                lines += newlines
                end = position + chunk.rindex(b"\n") + 1
            position += len(chunk)
            await asyncio.sleep(0)
        return end, lines

    def _seek(self, offset: int, line: int) -> None:
        self._require_file().seek(offset)
        self._buf.clear()
        self._buf_pos = offset
        self._cursor_line = line
        self._oversized = None
        self._last_line, self._last_newline = b"", True

    async def _store(self, submit: Submit, batch: Batch) -> None:
        """Submit until the store takes it: while it fails the file simply waits (nothing is lost,
        the checkpoint has not moved), instead of the source dying until a restart."""
        delay = STORE_RETRY_S
        while True:
            try:
                await submit(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.error(LogLine(f"could not store the lines; retrying in {delay:.0f}s", {
                    **self._where(), "lines": len(batch.events) + len(batch.rejections), "error": str(e)}))  # fmt: skip
                await self._clock.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)

    async def _commit_position(self, submit: Submit) -> None:
        checkpoint = self._checkpoint(self._buf_pos, self._cursor_line, self._fingerprint)
        await self._store(submit, Batch(checkpoint=checkpoint, source=self.name))

    # -- reading lines ---------------------------------------------------------------------------

    async def _drain(self, submit: Submit, *, final: bool = False) -> None:
        """Submit complete lines batch by batch, without sleeping, up to the end of the file or until
        `_budget` bytes are read (it is then 0: the caller looks at the path again, and goes on).

        With `final` (the file was rotated away) an unterminated last line at the end of the budget
        is consumed too.
        """
        while (batch := await self._next_batch(final=final)) is not None:
            await self._store(submit, batch)
            assert batch.checkpoint is not None
            self._offset = batch.checkpoint.offset
            self._fingerprint = batch.checkpoint.fingerprint

    async def _next_batch(self, *, final: bool) -> Batch | None:
        """Up to max_batch_lines lines (about CHUNK_BYTES), or None when no complete line is there
        (or the read budget ran out inside a long line)."""
        events: list[Event] = []
        rejections: list[Rejection] = []
        start = end = self._buf_pos
        taken = 0
        line = self._cursor_line
        while taken < self._max_batch_lines and end - start < CHUNK_BYTES:
            if self._take_line(events, rejections):
                taken += 1
                end, line = self._buf_pos, self._cursor_line
                continue
            if self._fill():
                await asyncio.sleep(0)  # one chunk read: let others run
                continue
            if final and self._take_unterminated(events, rejections):
                taken += 1
                end, line = self._buf_pos, self._cursor_line
            break
        if taken == 0:
            return None
        checkpoint = self._checkpoint(end, line, self._last_line_fingerprint())
        return Batch(events=events, rejections=rejections, checkpoint=checkpoint, source=self.name)

    def _fill(self) -> bool:
        """Read one chunk into the buffer; False at the end of the file or of the read budget."""
        if self._budget <= 0:
            return False
        try:
            chunk = self._require_file().read(min(CHUNK_BYTES, self._budget))
        except OSError as e:  # EIO and the like: say which file, for the supervisor's report
            raise SourceError(f"source {self.name!r}: reading {str(self._path)!r} failed: {e.strerror}") from e
        if not chunk:
            return False
        self._buf += chunk
        self._budget -= len(chunk)
        return True

    def _take_line(self, events: list[Event], rejections: list[Rejection]) -> bool:
        """Consume one complete line from the buffer; False when the buffer holds none."""
        newline = self._buf.find(b"\n")
        skipping = self._oversized
        if skipping is not None:
            if newline < 0:
                skipping.size += len(self._buf)
                skipping.tail = (skipping.tail + self._buf[-FINGERPRINT_BYTES:])[-FINGERPRINT_BYTES:]
                self._discard(len(self._buf))
                return False
            skipping.size += newline
            skipping.tail = (skipping.tail + self._buf[max(0, newline - FINGERPRINT_BYTES) : newline])[
                -FINGERPRINT_BYTES:
            ]
            self._discard(newline + 1)
            self._cursor_line += 1
            self._oversized = None
            self._last_line, self._last_newline = skipping.tail, True
            self._reject_oversized(skipping, rejections)
            return True
        if newline < 0:
            if len(self._buf) > self._config.max_event_bytes + 1:  # + the \r a CRLF line may end in
                # Too long already: skip to its newline without keeping it.
                self._oversized = _Oversized(
                    line=self._cursor_line + 1,
                    excerpt=bytes(self._buf[:EXCERPT_BYTES]),
                    size=len(self._buf),
                    tail=bytes(self._buf[-FINGERPRINT_BYTES:]),
                )
                self._discard(len(self._buf))
            return False
        raw = bytes(self._buf[:newline])
        self._discard(newline + 1)
        self._cursor_line += 1
        self._last_line = raw  # with its newline: `_last_newline` is False only after an unterminated line
        self._parse(raw, self._cursor_line, events, rejections)
        return True

    def _take_unterminated(self, events: list[Event], rejections: list[Rejection]) -> bool:
        """Consume the last line of a rotated file, which has no newline; False if there is none."""
        skipping = self._oversized
        if skipping is not None:
            self._cursor_line += 1
            self._oversized = None
            self._last_line, self._last_newline = skipping.tail, False
            self._reject_oversized(skipping, rejections)
            return True
        if not self._buf:
            return False
        raw = bytes(self._buf)
        self._discard(len(raw))
        self._cursor_line += 1
        self._last_line, self._last_newline = raw, False
        self._parse(raw, self._cursor_line, events, rejections)
        return True

    def _discard(self, count: int) -> None:
        del self._buf[:count]
        self._buf_pos += count

    def _parse(self, raw: bytes, line: int, events: list[Event], rejections: list[Rejection]) -> None:
        if not raw.strip():
            return  # blank lines are counted, not reported
        try:
            # A CRLF line's \r is not part of the event, as on the socket.
            events.append(parse_event_line(raw.rstrip(b"\r"), max_bytes=self._config.max_event_bytes))
        except EventError as e:
            self._reject(line, e.reason, raw[:EXCERPT_BYTES], rejections)

    def _reject_oversized(self, skipped: _Oversized, rejections: list[Rejection]) -> None:
        limit = self._config.max_event_bytes
        reason = f"event is {skipped.size} bytes, over {size_limit(limit)}"
        self._reject(skipped.line, reason, skipped.excerpt, rejections, kind="too_large")

    def _reject(
        self, line: int, reason: str, excerpt: bytes, rejections: list[Rejection], *, kind: str = "invalid_event"
    ) -> None:
        position = f"{self._path}:{line}"  # ingest logs it, after the commit
        rejections.append(Rejection(self.name, position, reason, excerpt, kind=kind))

    # -- small helpers ----------------------------------------------------------------------------

    def _checkpoint(self, offset: int, line: int, fingerprint: str | None) -> Checkpoint:
        return Checkpoint(
            source=self.name,
            path=str(self._path),
            device=self._device,
            inode=self._inode,
            offset=offset,
            line=line,
            fingerprint=fingerprint,
        )

    def _last_line_fingerprint(self) -> str:
        """The fingerprint of the position just after the last line consumed, from memory: what
        was read, not what the file holds by the time the batch is committed."""
        line = self._last_line
        if self._last_newline:
            return _fingerprint(line[-(FINGERPRINT_BYTES - 1) :] + b"\n")
        return _fingerprint(line[-FINGERPRINT_BYTES:])

    def _read_fingerprint(self, offset: int) -> str | None:
        """The fingerprint of `offset` in the file as it is now (None at offset 0: nothing before it)."""
        if offset == 0:
            return None
        size = min(FINGERPRINT_BYTES, offset)
        window = os.pread(self._fileno(), size, offset - size)
        if len(window) < size:
            return ""  # shorter than `offset` now: matches no fingerprint
        # Keep the last line only: the same bytes `_last_line_fingerprint` hashes.
        return _fingerprint(window[window.rfind(b"\n", 0, len(window) - 1) + 1 :])

    def _require_file(self) -> io.FileIO:
        if self._file is None:
            raise RuntimeError("FileTailSource has no open file")  # a bug: run() opens it first
        return self._file

    def _fileno(self) -> int:
        return self._require_file().fileno()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
