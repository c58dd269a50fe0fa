"""Logging to stderr: one line per event, key=value for people or JSON for machines."""

from __future__ import annotations

import logging
import sys
import time
from typing import Literal

import orjson

LogFormat = Literal["human", "json"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            # exc_text first: a filter (hookd.redact) may have put the redacted traceback there.
            entry["exception"] = record.exc_text or self.formatException(record.exc_info or (None, None, None))
        return orjson.dumps(entry).decode()


def setup_logging(fmt: LogFormat = "human", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(message)s", "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger("hookd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
