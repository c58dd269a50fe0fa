"""Log records across a worker's socketpair: a worker process (delivery or http) hands each of its
records to the daemon, which logs it in its own format, as if logged there."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from hookd.logs import LogLine


@dataclass(slots=True)
class Log:
    """A log record of a worker's, logged by the daemon in its own format (a message of every
    worker's protocol)."""

    levelno: int
    logger: str
    message: str | LogLine
    traceback: str | None


class LogOutbox(Protocol):
    """Where a worker puts its records: its channel to the daemon."""

    def put(self, message: Log) -> None: ...


class ForwardLogs(logging.Handler):
    """In a worker: its log records go to the daemon (as messages.Log, through the channel's codec)."""

    def __init__(self, outbox: LogOutbox) -> None:
        super().__init__()
        self.outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            # Plain values only: the frame is pickled later, and one that cannot be would lose it all.
            message = record.msg.plain() if isinstance(record.msg, LogLine) and not record.args else record.getMessage()
            traceback = logging.Formatter().formatException(record.exc_info) if record.exc_info else None
            self.outbox.put(Log(record.levelno, record.name, message, traceback))


def log_forwarded(m: Log, worker: str) -> None:
    """In the daemon: a worker's record, logged here as if logged here: a LogLine keeps its fields, a
    traceback stays apart from the message (each format escapes and places both). `worker` names the
    process in the record's path ("delivery worker")."""
    logger = logging.getLogger(m.logger)
    if not logger.isEnabledFor(m.levelno):
        return
    record = logger.makeRecord(logger.name, m.levelno, f"({worker})", 0, m.message, (), None)
    record.exc_text = m.traceback
    logger.handle(record)
