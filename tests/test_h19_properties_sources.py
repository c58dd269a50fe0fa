"""Property: whatever lines arrive on the socket and in a tailed file, every valid event is stored exactly
as sent and delivered, every invalid line gets one reason, the sources keep going, and nothing logs a
traceback.

Each example runs a real in-process daemon (a unix socket source, a file source, SQLite, the delivery
worker) against a real aiohttp receiver on 127.0.0.1, with the lines interleaved: valid events with
deep, wide and exact-integer data, and lines that must be refused (deep, duplicate keys, control
characters, invalid UTF-8, overflowing numbers, over the size limit), plus arbitrary bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookd.jsonvalue import MAX_DEPTH
from tests.conftest import Receiver, db_rows, running_daemon, send_lines, serving_receiver, wait_db, write_config

MAX_EVENT_SIZE = 4096

# JSON values as a producer sends them: exact integers of any size, finite doubles, any text.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Line:
    raw: bytes
    valid: bool | None  # None: arbitrary bytes, either verdict is fine as long as there is one
    data: object = None
    event_id: str | None = None


def _valid(event_id: str, data: object, ascii_only: bool) -> Line:
    raw = json.dumps({"type": "prop.event", "id": event_id, "data": data}, ensure_ascii=ascii_only).encode()
    return Line(raw, True, data, event_id)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


INVALID = [
    b"[1, 2]",
    b'"just a string"',
    b"null",
    b'{"id": "x"}',
    b'{"type": ""}',
    b'{"type": "a", "extra": 1}',
    b'{"type": "a\\nb"}',
    b'{"type": "a", "id": "a\\u0000b"}',
    b'{"type": "a", "id": " padded"}',
    b'{"type": "a", "type": "b"}',
    b'{"type": "a", "\\u0074ype": "b"}',
    b'{"type": "a", "data": {"n": 1e400}}',
    b'{"type": "a", "data": "\xff\xfe"}',
    b'{"type": "a", "data": ' + _nested(MAX_DEPTH + 1).encode() + b"}",
    b'{"type": "a", "data": "' + b"x" * MAX_EVENT_SIZE + b'"}',
    b'{"type": "a", "data": ',
]


@st.composite
def example_lines(draw: st.DrawFn) -> list[Line]:
    lines: list[Line] = []
    for i in range(draw(st.integers(min_value=1, max_value=10))):
        kind = draw(st.sampled_from(["valid", "valid", "deepest", "invalid", "bytes"]))
        if kind == "valid":
            lines.append(_valid(f"ev-{i}", draw(json_values), draw(st.booleans())))
        elif kind == "deepest":
            # The deepest event accepted: the event object, then "data", then lists down to the limit.
            data = json.loads(_nested(MAX_DEPTH - 1))
            lines.append(_valid(f"ev-{i}", data, True))
        elif kind == "invalid":
            lines.append(Line(draw(st.sampled_from(INVALID)), False))
        else:
            raw = draw(st.binary(min_size=1, max_size=64)).replace(b"\n", b" ").replace(b"\r", b" ")
            if raw.strip():
                lines.append(Line(raw, None))
    return lines


def _same(a: object, b: object) -> bool:
    """Equal, and of the same JSON kind at every level (1, 1.0 and True are not the same value)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _run(lines: list[Line], directory: Path) -> None:
    async with serving_receiver() as receiver:
        await _run_with(lines, directory, receiver)


async def _run_with(lines: list[Line], directory: Path, receiver: Receiver) -> None:
    feed = directory / "in.jsonl"
    feed.write_bytes(b"")
    config = write_config(
        directory,
        f"""
        version: 1
        storage: {{path: {directory}/h.db}}
        sources:
          - {{name: sock, type: socket, path: {directory}/s.sock, max_event_size: {MAX_EVENT_SIZE}}}
          - {{name: file, type: file, path: {feed}, start_at: beginning, max_event_size: {MAX_EVENT_SIZE}}}
        hooks:
          - name: all
            events: ["*"]
            url: {receiver.url("/all")}
        """,
    )
    records = _Records()
    logger = logging.getLogger("hookd")
    logger.addHandler(records)
    try:
        async with running_daemon(config):
            answers = await send_lines(directory / "s.sock", [line.raw for line in lines])
            # The same lines in the file, with the file's event ids kept apart from the socket's.
            file_lines = [
                _valid("file-" + line.event_id, line.data, True) if line.valid and line.event_id else line
                for line in lines
            ]
            last = _valid("file-last", {"half": "written in two parts"}, True)
            half = last.raw[: len(last.raw) // 2]
            feed.write_bytes(b"".join(line.raw + b"\n" for line in file_lines) + half)
            for line, answer in zip(lines, answers, strict=True):
                if line.valid is not None:
                    assert answer["ok"] is line.valid, (line.raw, answer)
                if answer["ok"] is False:
                    assert isinstance(answer["error"], str) and answer["error"].strip()
                    assert "Traceback" not in answer["error"]
            refused = sum(1 for answer in answers if answer["ok"] is False)
            db = directory / "h.db"
            file_count = "SELECT count(*) FROM events WHERE source = 'file'"
            await wait_db(db, "SELECT count(*) FROM rejected WHERE source = 'file'", lambda r: r[0][0] >= refused)
            await wait_db(db, file_count, lambda r: r[0][0] >= len(file_lines) - refused)
            # The half line at the end of the file is not an event until its newline arrives.
            assert db_rows(db, file_count)[0][0] == len(file_lines) - refused
            with feed.open("ab") as f:
                f.write(last.raw[len(half) :] + b"\n")
            await wait_db(db, file_count, lambda r: r[0][0] >= len(file_lines) - refused + 1)
            reasons = db_rows(db, "SELECT reason FROM rejected WHERE source = 'file'")
            assert len(reasons) == refused
            assert all(isinstance(r[0], str) and r[0].strip() for r in reasons)
            stored = {str(row[0]): json.loads(bytes(row[1])) for row in db_rows(db, "SELECT id, body FROM events")}  # type: ignore[arg-type]
            valid = [line for line in [*lines, *file_lines, last] if line.valid]
            for line in valid:
                assert line.event_id is not None
                assert _same(stored[line.event_id]["data"], line.data), (line.raw, stored[line.event_id])
            await receiver.wait_count(len(stored))
            delivered = {r.headers["webhook-id"]: json.loads(r.body) for r in receiver.requests}
            for line in valid:
                assert line.event_id is not None
                assert _same(delivered[line.event_id]["data"], line.data)
    finally:
        logger.removeHandler(records)
    for record in records.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert record.levelno < logging.ERROR, record.getMessage()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(lines=example_lines())
def test_every_valid_event_arrives_exactly_and_every_invalid_line_gets_one_reason(lines: list[Line]) -> None:
    """1. Send the lines to the socket and write them to the tailed file. 2. Wait for the file to be
    read and every event delivered. Result: valid events stored and delivered with the same data, one
    answer with a reason per invalid line, no traceback or error in the log."""
    directory = Path(tempfile.mkdtemp(prefix="hp-", dir="/tmp"))
    try:
        asyncio.run(_run(lines, directory))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
