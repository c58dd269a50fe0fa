"""Log lines: no value can forge or break one, in either format; JSON lines carry their values as
fields of their own; `--log-level debug` shows what happens to a delivery."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hookd.logs import HumanFormatter, JsonFormatter, LogFormat, LogLine, setup_logging
from hookd.redact import Redactor, redact_log_handlers
from tests.conftest import (
    DaemonProcess,
    Receiver,
    Reply,
    daemon_config,
    db_rows,
    send_lines,
    socket_config,
    wait_db,
)

HUMAN_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (DEBUG|INFO|WARNING|ERROR|CRITICAL) +(.*)")
FIELD = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)')
ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|(.))")
SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}

# Values a producer or a receiver controls, at their most hostile: line breaks of every kind, a
# forged record after them, quotes that would end a quoted value early, `=` and spaces that would
# start a field, escapes, terminal control sequences, a bidi override, a lone surrogate.
FORGED = "2026-01-01T00:00:00.000Z INFO    delivery=forged hook=h try=1 status=200 ms=1 delivered"
HOSTILE = [
    f"a\n{FORGED}",
    f"a\r{FORGED}",
    f"a\r\n{FORGED}",
    f"a\u2028{FORGED}",
    "a\u2029b\x85c\x0bd\x0ce\x1cf",
    'x" hook="forged',
    "x' hook='forged",
    "a=b c=d",
    "trailing backslash\\",
    'back\\"slash',
    "\\n is not a newline",
    "\x00\x01\x1b[31mred\x1b[0m\x7f\x80\x9f",
    "\u202eevil\u202c \u200b \u00a0 \ufeff",
    "\udcff surrogate",
    "",
    " ",
    "日本語 ünïcödé",
    "-",
]
# And every single character of the first planes, alone and between letters.
EVERY_CHAR = [chr(c) for c in range(0x3100) if not 0xD800 <= c < 0xE000] + ["\ud800", "\U0001f600", "\U000e0001"]


def unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        hex_ = m.group(1) or m.group(2) or m.group(3)
        return chr(int(hex_, 16)) if hex_ else SIMPLE[m.group(4)]

    return ESCAPE.sub(one, text)


def parse_human(line: str) -> dict[str, str]:
    """A human log line back into its parts: level, message and each field, unescaped."""
    m = HUMAN_LINE.fullmatch(line)
    assert m is not None, f"not a log line: {line!r}"
    entry = {"level": m.group(2).lower()}
    text, pos = m.group(3), 0
    while (f := FIELD.match(text, pos)) is not None:
        raw = f.group(2)
        entry[f.group(1)] = unescape(raw[1:-1]) if raw.startswith('"') else raw
        pos = f.end()
    entry["message"] = text[pos:]
    return entry


def plain_json(line: str) -> dict[str, str]:
    """A JSON log line with its values written as the human format writes them."""
    entry = orjson.loads(line)
    assert isinstance(entry, dict), line
    spelled = {None: "-", True: "true", False: "false"}
    return {k: spelled[v] if v is None or isinstance(v, bool) else str(v) for k, v in entry.items()}


def make_record(msg: object, *args: object, exc: str | None = None) -> logging.LogRecord:
    exc_info = None
    if exc is not None:
        try:
            raise ValueError(exc)
        except ValueError:
            exc_info = sys.exc_info()
    return logging.getLogger("hookd.test").makeRecord("hookd.test", logging.WARNING, __file__, 1, msg, args, exc_info)


def one_clean_line(text: str) -> str:
    """The line, after checking it is one line of printable characters (str.splitlines() breaks at
    \\x0b, \\x0c, \\x1c-\\x1e, \\x85, U+2028 and U+2029 as well as at CR and LF)."""
    assert len(text.splitlines()) == 1 and text.isprintable(), repr(text)
    return text


@pytest.mark.parametrize(
    "values", [HOSTILE, EVERY_CHAR, [f"a{c}b" for c in EVERY_CHAR]], ids=["hostile", "char", "a-char-b"]
)
def test_a_field_value_comes_back_exactly_from_one_printable_human_line(values: list[str]) -> None:
    fmt = HumanFormatter()
    for value in values:
        fields = {"delivery": "d1", "event": value, "hook": "h", "try": 2, "status": None, "ms": 7}
        line = one_clean_line(fmt.format(make_record(LogLine("delivered", fields))))
        assert parse_human(line) == {
            "level": "warning", "delivery": "d1", "event": value, "hook": "h", "try": "2", "status": "-", "ms": "7",
            "message": "delivered",
        }  # fmt: skip


@pytest.mark.parametrize("value", HOSTILE)
def test_the_shapes_people_read_stay_as_they_were(value: str) -> None:
    fmt = HumanFormatter()
    delivered = fmt.format(make_record(LogLine("delivered", {"delivery": "d-1", "hook": "h", "try": 2, "ms": 7})))
    assert delivered.endswith(" WARNING delivery=d-1 hook=h try=2 ms=7 delivered")
    rejected = fmt.format(make_record(LogLine("rejected", {"source": "app", "at": "conn 1 line 6", "reason": value})))
    assert ' WARNING source=app at="conn 1 line 6" reason=' in rejected


@pytest.mark.parametrize("values", [HOSTILE, EVERY_CHAR], ids=["hostile", "char"])
def test_call_sites_that_misuse_the_api_still_cannot_break_a_line(values: list[str]) -> None:
    """A user value in a message text (an f-string), in %-style arguments, in an exception's text:
    escaped all the same; a %-argument inside the template's quotes comes back exactly."""
    fmt = HumanFormatter()
    for value in values:
        one_clean_line(fmt.format(make_record(LogLine(f"rejected: {value}", {"source": "app"}))))
        one_clean_line(fmt.format(make_record(f"event {value} failed")))
        line = fmt.format(make_record('source=%s at="%s" rejected: %s', "app", value, ValueError(value)))
        assert parse_human(one_clean_line(line))["at"] == value
        first, *traceback = fmt.format(make_record(LogLine("internal error", {"event": value}), exc=value)).split("\n")
        assert parse_human(one_clean_line(first))["event"] == value
        assert traceback and all(part.startswith("    ") and part.isprintable() for part in traceback)


@pytest.mark.parametrize("values", [HOSTILE, EVERY_CHAR], ids=["hostile", "char"])
def test_json_lines_are_one_object_each_with_the_values_as_fields(values: list[str]) -> None:
    fmt = JsonFormatter()
    for value in values:
        line = fmt.format(make_record(LogLine("delivered", {"event": value, "try": 2, "status": None, "message": "x"})))
        assert len(line.splitlines()) == 1, repr(line)
        entry = orjson.loads(line)
        surrogate = any("\ud800" <= c <= "\udfff" for c in value)
        assert entry["event"] == (value.encode("utf-8", "backslashreplace").decode() if surrogate else value)
        assert entry["message"] == "delivered" and entry["message_"] == "x"
        assert entry["try"] == 2 and entry["status"] is None
        traced = fmt.format(make_record(LogLine("internal error", {"event": "e"}), exc=value))
        assert len(traced.splitlines()) == 1 and "ValueError" in orjson.loads(traced)["exception"]


def test_values_json_cannot_hold_are_written_as_text() -> None:
    line = JsonFormatter().format(make_record(LogLine("x", {"big": 2**70, "path": Path("/tmp/a b"), "sur": "\udcff"})))
    assert orjson.loads(line) | {"time": ""} == {
        "time": "", "level": "warning", "logger": "hookd.test", "message": "x",
        "big": str(2**70), "path": "/tmp/a b", "sur": "\\udcff",
    }  # fmt: skip


# -- a real daemon --------------------------------------------------------------------------------

# Accepted at intake: no control character, line separator or bidi control, no surrounding space;
# U+200B (zero width space) is still unprintable, so the log escapes it.
EVENT_ID = 'ev "1" a=b\u200bc d'
EVENT_TYPE = 'order "created" x=y'
LOCATION = '/else" hook="forged y=1 \u00e9'


@pytest.mark.parametrize("log_format", ["human", "json"])
async def test_a_daemon_fed_hostile_values_writes_only_well_formed_lines(
    short_dir: Path, receiver: Receiver, log_format: str
) -> None:
    """1. A daemon at debug level, with a socket source and a tailed file whose name holds a
    newline and a quote; 2. an event whose id and type hold quotes, `=`, spaces and U+200B, answered
    503 then 200; an event whose hook gets a redirect to a Location with quotes and spaces; a bad
    line on the socket and one in the file. Result: every line on stderr is a record of its own
    (human: starts with a timestamp; json: one object), the values come back exactly from the
    fields, and debug lines show the config, the claims, the commits, the retry with its due time
    and the worker's start."""
    tailed = short_dir / 'we"ird\nname.jsonl'
    tailed.write_bytes(orjson.dumps({"type": "order.file", "id": "file-1"}) + b'\n{"broken" x=1\n')
    receiver.on("/h", Reply(503))
    receiver.on("/moved", Reply(301, headers={"Location": LOCATION}))
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: app, type: socket, path: {short_dir}/s.sock}}
          - {{name: applog, type: file, path: {orjson.dumps(str(tailed)).decode()}, start_at: beginning}}
        hooks:
          - name: h
            events: ["order ?created*"]  # the socket's event only: the 503 is its, whichever comes first
            url: "{receiver.url("/h")}"
            retry: {{max_attempts: 3, initial_delay: 10ms, max_delay: 50ms, jitter: false}}
          - {{name: f, events: ["order.file"], url: "{receiver.url("/f")}"}}
          - {{name: moved, events: ["moved.*"], url: "{receiver.url("/moved")}"}}
        """,
    )
    daemon = DaemonProcess(cfg, "--log-format", log_format, "--log-level", "debug")
    try:
        await daemon.start()
        replies = await send_lines(
            short_dir / "s.sock",
            [
                orjson.dumps({"type": EVENT_TYPE, "id": EVENT_ID, "data": {"note": "multi\nline"}}),
                orjson.dumps({"type": "moved.x", "id": "mv 1"}),
                b'{"type": "a", "id": "x\\" hook=\\"forged',
            ],
        )
        assert [r["ok"] for r in replies] == [True, True, False]
        db = short_dir / "hookd.db"
        await wait_db(
            db,
            "SELECT event_id, state FROM deliveries ORDER BY event_id",
            lambda r: r == [(EVENT_ID, "delivered"), ("file-1", "delivered"), ("mv 1", "failed")],
        )
        await wait_db(db, "SELECT COUNT(*) FROM rejected", lambda r: r == [(2,)])
        await daemon.stop()
    finally:
        await daemon.close()

    assert daemon.log
    if log_format == "human":
        entries = [parse_human(one_clean_line(line)) for line in daemon.log]
    else:
        entries = [plain_json(one_clean_line(line)) for line in daemon.log]

    def find(message: str, **fields: str) -> dict[str, str]:
        found = [e for e in entries if e["message"] == message and fields.items() <= e.items()]
        assert len(found) == 1, (message, fields, entries)
        return found[0]

    [(delivery_id,)] = db_rows(db, "SELECT id FROM deliveries WHERE event_id = ?", (EVENT_ID,))
    retry = find("will retry", event=EVENT_ID, hook="h", status="503", error="HTTP 503")
    assert retry["level"] == "warning" and retry["delivery"] == delivery_id and float(retry["retry_in_s"]) < 1
    find("delivered", event=EVENT_ID, hook="h", delivery=str(delivery_id), status="200", **{"try": "2"})
    [(error,)] = db_rows(db, "SELECT a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                             "WHERE d.event_id = 'mv 1'")  # fmt: skip
    assert '"' in str(error)
    assert find("failed", event="mv 1", hook="moved", status="301")["error"] == error
    for position, reason in db_rows(db, "SELECT position, reason FROM rejected"):
        assert find("rejected", at=str(position))["reason"] == reason
    assert any(e["at"] == f"{tailed}:2" for e in entries if e["message"] == "rejected")
    assert find("reading from offset 0", source="applog")["file"] == str(tailed)

    # Debug: what a person following one delivery needs.
    find("config loaded", file=str(cfg), sources="2", hooks="3")
    assert find("hook configured", hook="h")["url"] == receiver.url("/h")
    find("delivery worker process started")
    claims = [e for e in entries if e["message"] in ("claimed", "claimed at ingest") and e["event"] == EVENT_ID]
    assert [c["try"] for c in claims] == ["1", "2"]
    scheduled = find("retry scheduled", delivery=str(delivery_id), **{"try": "2"})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", scheduled["due_at"])
    commits = [e for e in entries if e["message"] == "committed"]
    assert sum(int(c["events"]) for c in commits) == 3 and sum(int(c["rejections"]) for c in commits) == 2
    assert any(e["message"] == "recorded attempts" and e.get("pending") == "1" for e in entries)
    if log_format == "human":
        delivered = next(line for line in daemon.log if "event=file-1" in line and line.endswith(" delivered"))
        assert re.search(r" INFO    delivery=\S+ event=file-1 hook=f try=1 status=200 ms=\d+ delivered$", delivered)


async def test_the_default_level_writes_no_debug_lines(short_dir: Path, receiver: Receiver) -> None:
    """At the default level (info) no debug line is written."""
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}
        """,
    )
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await send_lines(short_dir / "s.sock", [orjson.dumps({"type": "a", "id": "i1"})])
        await daemon.wait_for_line("event=i1 hook=h try=1 status=200")
        await daemon.stop()
    finally:
        await daemon.close()
    assert not [line for line in daemon.log if " DEBUG " in line]


# -- with the redacting filter, and other libraries' records ----------------------------------------

SECRET = "hunter2hunter2"


@pytest.fixture
def stderr_logging() -> Iterator[None]:
    """setup_logging for one test; hookd's logger and the root handlers as they were afterwards."""
    hookd, root = logging.getLogger("hookd"), logging.getLogger()
    saved = (hookd.handlers[:], hookd.level, hookd.propagate, root.handlers[:])
    try:
        yield
    finally:
        hookd.handlers[:], hookd.level, hookd.propagate, root.handlers[:] = saved


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_redaction_keeps_fields_and_escaping(
    log_format: LogFormat, stderr_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """With secrets configured, a LogLine is still a LogLine (its values JSON fields, redacted) and a
    %-style argument is still escaped (a quote in it cannot end the template's quotes)."""
    setup_logging(log_format)
    redact_log_handlers(Redactor([(SECRET, "${PASSWORD}")]))
    log = logging.getLogger("hookd.test")
    log.error(LogLine("failed", {"event": 'e" x=1', "error": f"HTTP 500 echoing {SECRET}", "try": 2}))
    log.warning('source=%s at="%s" rejected', "app", f'x" y="{SECRET}\nforged')
    logging.getLogger("asyncio").error("Task exception was never retrieved\nforged")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and SECRET not in "".join(lines)
    parse = parse_human if log_format == "human" else plain_json
    failed, rejected, other = (parse(one_clean_line(line)) for line in lines)
    expected = {"message": "failed", "event": 'e" x=1', "error": "HTTP 500 echoing ${PASSWORD}", "try": "2"}
    assert expected.items() <= failed.items()
    if log_format == "human":
        assert rejected["at"] == 'x" y="${PASSWORD}\nforged'
    assert other["message"].startswith("Task exception was never retrieved")
