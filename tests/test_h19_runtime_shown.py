"""Text from outside (receivers, events, stored rows) as the CLI shows it: escape sequences, bidi
controls and line separators escaped visibly, never written raw to the operator's terminal; header
values with C1 controls or line separators refused at render time; ids with them refused at intake."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

import hookd.cli.history  # registers the commands
import hookd.cli.replay
import hookd.cli.status
import hookd.cli.test_cmd
from hookd import jsonvalue
from hookd.cli import render
from hookd.cli.app import app
from hookd.errors import EventError
from hookd.events import event_from_object
from hookd.logs import JsonFormatter, LogLine
from hookd.rendering import RequestRenderError, check_headers
from hookd.store.base import RoutedEvent
from tests.conftest import (
    Receiver,
    Reply,
    event_line,
    open_store,
    raw_http_server,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)

# What must never reach the terminal raw: ESC, BEL, CR, C1 CSI, DEL, bidi overrides and isolates,
# directional marks, and the line breaks that are not a newline.
RAW = ["\x1b", "\x07", "\r", "\x9b", "\x7f", "\x85", "\u202e", "\u2066", "\u200f", "\u2028", "\u2029"]


async def hookd(*args: str, env: dict[str, str | None] | None = None) -> Result:
    environment: dict[str, str | None] = {"HOOKD_CONFIG": None, "HOOKD_ADMIN_TOKEN": None, **(env or {})}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)


def assert_nothing_raw(text: str) -> None:
    found = [f"U+{ord(ch):04X}" for ch in RAW if ch in text]
    assert not found, f"{found} written raw in:\n{text!r}"


async def test_receiver_escape_sequences_are_escaped_in_history_show_and_status(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook `redir` gets a 302 to `ftp://x/ESC[31mRED ESC[0m`, hook `boom` a 500 whose body clears
    the screen, turns it red, returns the carriage and rings the bell (one attempt each);
    2. `hookd history`, `hookd history show EVENT`, and `hookd status` while the daemon runs.
    Result: none of them writes ESC, BEL or CR; each shows them as `\\x1b`, `\\x07`, `\\r`."""
    redirect = b"HTTP/1.1 302 Found\r\nLocation: ftp://x/\x1b[31mRED\x1b[0m\r\nContent-Length: 0\r\n\r\n"
    receiver.default["/b"] = Reply(status=500, body=b"\x1b[2J\x1b[31mboom\r\x07")
    async with raw_http_server(redirect) as redirect_url:
        status, listing, shown = await run_and_show(short_dir, receiver, redirect_url)

    for result in (status, listing, shown):
        assert_nothing_raw(result.output)
    assert "\\x1b[31mRED\\x1b[0m" in status.stdout  # health: the latest error
    assert "\\x1b[31mRED\\x1b[0m" in listing.stdout  # the last error column
    assert "\\x1b[31mRED\\x1b[0m" in shown.stdout  # the attempt's error and its Location header
    assert "\\x1b[2J\\x1b[31mboom\\r\\x07" in shown.stdout  # the response body


async def run_and_show(short_dir: Path, receiver: Receiver, redirect_url: str) -> tuple[Result, Result, Result]:
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: redir, events: ["*"], url: "{redirect_url}", follow_redirects: true, retry: {{max_attempts: 1}}}}
          - {{name: boom, events: ["*"], url: "{receiver.url("/b")}", retry: {{max_attempts: 1}}}}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1")])
        await wait_db(
            short_dir / "hookd.db", "SELECT count(*) FROM deliveries WHERE state = 'failed'", lambda r: r[0][0] == 2
        )
        status = await hookd("status", "--url", str(daemon.admin_url))
    listing = await hookd("history", "-c", str(cfg), env={"COLUMNS": "400"})
    shown = await hookd("history", "show", "e1", "-c", str(cfg))
    return status, listing, shown


async def stored_odd_event(db: Path) -> str:
    """An event stored with ids and a type intake now refuses (a database an older hookd wrote)."""
    event = event_from_object({"id": "placeholder", "type": "order.created", "data": {"note": "a\u2028b\x1bc"}})
    event.id = "rlo-\u202egpj.exe"
    event.type = "ls-\u2028-x\u2066\u200f"
    event.source = "src-\x9b31m-\x85-\x7f"
    event.envelope = {**event.envelope, "id": event.id, "type": event.type, "source": event.source}
    event.body = jsonvalue.dumps(event.envelope)
    async with open_store(db, background_checkpoints=False) as store:
        await store.ingest([RoutedEvent(event=event, source="app", hooks=("h",))], [], [], 100.0)
    return event.id


async def test_stored_ids_with_bidi_controls_and_line_separators_are_escaped(tmp_path: Path) -> None:
    """1. A stored event whose id holds U+202E (right-to-left override), whose type holds U+2028,
    U+2066 and U+200F and whose data holds U+2028 and ESC; 2. `hookd history`, `history show` and
    their --json forms. Result: text shows `\\u202e`, `\\u2028` ... and stays on its lines; JSON
    escapes them too (and still reads back as the same strings)."""
    db = tmp_path / "hookd.db"
    event_id = await stored_odd_event(db)

    listing = await hookd("history", "--db", str(db), env={"COLUMNS": "400"})
    shown = await hookd("history", "show", event_id, "--db", str(db))
    as_json = await hookd("history", "show", event_id, "--db", str(db), "--json")
    listing_json = await hookd("history", "--db", str(db), "--json")

    for result in (listing, shown, as_json, listing_json):
        assert result.exit_code == 0, result.output
        assert_nothing_raw(result.output)
    assert " rlo-\\u202egpj.exe " in listing.stdout  # a producer's id is shown whole, escaped
    assert "rlo-\\u202egpj.exe" in shown.stdout
    assert "ls-\\u2028-x\\u2066\\u200f" in shown.stdout
    assert "src-\\x9b31m-\\x85-\\x7f" in shown.stdout
    header = next(line for line in shown.stdout.splitlines() if line.startswith("event "))
    assert header == "event rlo-\\u202egpj.exe  ls-\\u2028-x\\u2066\\u200f"  # one line, not split at U+2028
    assert '"a\\u2028b\\u001bc"' in shown.stdout  # the body, as JSON text
    doc = orjson.loads(as_json.stdout)
    assert doc["event"]["id"] == event_id and doc["event"]["source"] == "src-\x9b31m-\x85-\x7f"
    assert "\\u202e" in as_json.stdout and "\\u2028" in as_json.stdout and "\\u009b" in as_json.stdout
    assert orjson.loads(listing_json.stdout)[0]["event_id"] == event_id


def test_print_json_escapes_every_unprintable_character_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    value = {"k": "é 中 \U0001f600 \u2028 \u202e \x7f \x85 \u200d \U000e0001 \t"}
    render.print_json(value)
    out = capsys.readouterr().out
    assert out.isascii() is False  # printable non-ASCII stays readable
    assert "é 中 \U0001f600" in out
    for escaped in ("\\u2028", "\\u202e", "\\u007f", "\\u0085", "\\u200d", "\\udb40\\udc01", "\\t"):
        assert escaped in out
    assert orjson.loads(out) == value


# -- header values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("a\u009b31mb", "\\x9b"),
        ("a\u2028b", "\\u2028"),
        ("a\u2029b", "\\u2029"),
        ("a\x85c", "\\x85"),
        ("a\x80", "\\x80"),
    ],
)
def test_header_values_with_c1_controls_or_line_separators_are_refused(value: str, named: str) -> None:
    with pytest.raises(RequestRenderError) as caught:
        check_headers({"X-Note": value})
    message = str(caught.value)
    assert message.startswith(f"headers.X-Note: the value has a control character ({named} at position 1)")
    assert_nothing_raw(message)


def test_header_values_keep_tab_and_printable_text() -> None:
    check_headers({"X-Note": "a\tb é 中 \u00a0x"})


async def test_hookd_test_refuses_a_templated_header_with_a_c1_control(tmp_path: Path) -> None:
    """1. A hook whose header X-Note is `{{ data.note }}`; 2. `hookd test` with events whose note holds
    the C1 CSI, and U+2028 with U+0085. Result: each is a render error (exit 1) naming the code point
    escaped; nothing raw reaches the output."""
    cfg = socket_config(
        tmp_path,
        """
        hooks:
          - name: h
            events: ["*"]
            url: http://127.0.0.1:9/h
            headers: {X-Note: "{{ data.note }}"}
        """,
    )
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        event_line("a", id="c1", data={"note": "a\u009b31mb"}) + b"\n"
        + event_line("a", id="ls", data={"note": "a\u2028b\x85c"}) + b"\n"
    )  # fmt: skip
    result = await hookd("test", "-c", str(cfg), str(events))
    assert result.exit_code == 1, result.output
    assert_nothing_raw(result.output)
    assert "headers.X-Note: the value has a control character (\\x9b at position 1)" in result.stdout
    assert "headers.X-Note: the value has a control character (\\u2028 at position 1)" in result.stdout


# -- intake ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["id", "type", "source"])
@pytest.mark.parametrize(
    ("text", "code"),
    [("rlo-\u202egpj.exe", "U+202E"), ("ls-\u2028-x", "U+2028"), ("ps\u2029", "U+2029"), ("a\u2066b", "U+2066"),
     ("a\u200eb", "U+200E"), ("a\u200fb", "U+200F"), ("a\u061cb", "U+061C"), ("a\u202ab", "U+202A")],
)  # fmt: skip
def test_intake_refuses_bidi_controls_and_line_separators_in_id_type_and_source(
    field: str, text: str, code: str
) -> None:
    event = {"id": "e1", "type": "order.created", "source": "shop", field: text}
    with pytest.raises(EventError) as caught:
        event_from_object(event)
    message = str(caught.value)
    position = next(i for i, ch in enumerate(text) if not ch.isprintable()) + 1
    assert f'"{field}" holds the control character {code} at character {position}' in message
    assert_nothing_raw(message)


def test_intake_keeps_other_unicode_in_ids() -> None:
    event = event_from_object({"id": "注文-é-\u05d0\u05d1", "type": "order.créé", "source": "shop/ü"})
    assert event.id == "注文-é-\u05d0\u05d1"


def test_json_log_lines_escape_bidi_controls_and_del_as_cli_json_does() -> None:
    """The JSON log and `--json` output share one escape: a log line stays printable ASCII plus
    printable text, with the same string for a JSON reader."""
    record = logging.LogRecord(
        "hookd.test", logging.WARNING, __file__, 1, LogLine("odd", {"v": "é\u202e\x7f\x9b"}), None, None
    )
    line = JsonFormatter().format(record)
    assert line.isprintable() and "\\u202e\\u007f\\u009b" in line
    assert orjson.loads(line)["v"] == "é\u202e\x7f\x9b"
