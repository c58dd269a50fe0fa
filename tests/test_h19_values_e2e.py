"""Values through a real daemon: a real unix socket, a real tailed file, a real SQLite file, a real
aiohttp receiver, and `hookd history show` on what was stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

import hookd.cli.history  # registers the commands
from hookd.jsonvalue import MAX_DEPTH
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    daemon_config,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    wait_db,
)

BIG = "1234567890123456789012345678901"


def deep_event(depth: int, event_id: str) -> bytes:
    """A valid event `depth` levels deep, counting the event object."""
    return f'{{"type":"deep","id":"{event_id}","data":'.encode() + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def bad_lines() -> list[tuple[bytes, str]]:
    """Lines every source must refuse, each with (part of) the reason it must give."""
    return [
        (deep_event(300, "too-deep"), f"nested more than {MAX_DEPTH} levels deep"),
        (b'{"type":"pay","data":{"amount":1e400}}', "data.amount is 1e400, which overflows"),
        (b'{"type":"a","id":"d1","id":"d2"}', 'the key "id" appears more than once'),
        (b'{"type":"a","data":"caf\xe9"}', "invalid UTF-8 at byte 23 (0xe9)"),
        (b'{"type":"a","id":"forged\\nINFO fake line"}', '"id" holds the control character U+000A'),
        (b'{"type":"a","id":" padded"}', '"id" starts or ends with whitespace'),
    ]


def config(d: Path, receiver: Receiver, source: str) -> Path:
    return daemon_config(
        d,
        f"""
        sources:
          - {source}
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}
          - name: shaped
            events: ["big"]
            filter: "data.n == `{BIG}`"
            url: "{receiver.url("/shaped")}"
            payload: {{n: "{{{{ data.n }}}}", text: "n is {{{{ data.n }}}}"}}
        """,
    )


async def test_socket_refuses_each_bad_value_with_its_reason_and_stores_the_rest(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. One connection sends a valid event, then each bad line followed by a valid one, then a
    big-integer event. Result: every bad line gets its reason and one rejection row, every valid
    event is acknowledged, stored and delivered, and the big integer reaches the receiver
    byte-exact, in the stored envelope and through a filter and a payload template."""
    cfg = config(short_dir, receiver, f"{{name: app, type: socket, path: {short_dir}/s.sock}}")
    bad = bad_lines()
    lines = [event_line(id="v0")]
    for n, (line, _) in enumerate(bad, 1):
        lines += [line, event_line(id=f"v{n}")]
    lines.append(f'{{"type":"big","id":"b1","data":{{"n":{BIG}}}}}'.encode())
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        replies = await send_lines(short_dir / "s.sock", lines)
        await receiver.wait_count(len(bad) + 3)
    assert [r["ok"] for r in replies] == [True] + [False, True] * len(bad) + [True]
    for (_, reason), reply in zip(bad, replies[1::2], strict=False):
        assert reason in str(reply["error"])
    stored = {str(r[0]) for r in db_rows(db, "SELECT id FROM events")}
    assert stored == {f"v{n}" for n in range(len(bad) + 1)} | {"b1"}
    reasons = [str(r[0]) for r in db_rows(db, "SELECT reason FROM rejected ORDER BY id")]
    assert len(reasons) == len(bad)
    for (_, expected), reason in zip(bad, reasons, strict=True):
        assert expected in reason
    [big] = [r for r in receiver.at("/h") if r.headers["webhook-id"] == "b1"]
    assert f'"data":{{"n":{BIG}}}'.encode() in big.body
    [shaped] = receiver.at("/shaped")
    assert shaped.body == f'{{"n":{BIG},"text":"n is {BIG}"}}'.encode()
    [(body,)] = db_rows(db, "SELECT body FROM events WHERE id = 'b1'")
    assert f'"n":{BIG}'.encode() in bytes(body)  # type: ignore[arg-type]


async def test_a_tailed_file_refuses_each_bad_line_and_stores_every_line_after_it(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A file holds valid lines with each bad line between them (the too-deep one first);
    2. the daemon tails it from the beginning. Result: each bad line is one rejection with
    file:line and its reason; every valid line after it is stored and delivered; the checkpoint
    reaches the end of the file."""
    bad = bad_lines()
    lines = []
    for n, (line, _) in enumerate(bad):
        lines += [line, event_line(id=f"f{n}")]
    lines.append(f'{{"type":"big","id":"b1","data":{{"n":{BIG}}}}}'.encode())
    log_file = short_dir / "events.jsonl"
    log_file.write_bytes(b"\n".join(lines) + b"\n")
    cfg = config(short_dir, receiver, f"{{name: applog, type: file, path: {log_file}, start_at: beginning}}")
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await wait_db(db, "SELECT count(*) FROM events", lambda r: r == [(len(bad) + 1,)])
        await wait_db(db, "SELECT count(*) FROM rejected", lambda r: r == [(len(bad),)])
        await receiver.wait_count(len(bad) + 2)
        await wait_db(db, 'SELECT "offset" FROM checkpoints', lambda r: r == [(log_file.stat().st_size,)])
    rejected = db_rows(db, "SELECT position, reason FROM rejected ORDER BY id")
    for n, ((_, expected), (position, reason)) in enumerate(zip(bad, rejected, strict=True)):
        assert position == f"{log_file}:{2 * n + 1}"
        assert expected in str(reason)
    assert sorted(str(r[0]) for r in db_rows(db, "SELECT id FROM events")) == sorted(
        [f"f{n}" for n in range(len(bad))] + ["b1"]
    )
    assert receiver.at("/shaped")[0].body == f'{{"n":{BIG},"text":"n is {BIG}"}}'.encode()


async def test_history_show_on_the_deepest_accepted_event_and_on_one_stored_before_the_limit(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. The deepest event hookd accepts goes in over the socket and is delivered; 2. a 253-deep
    event stored by an older hookd (written straight into the database) sits beside it.
    Result: `history show` prints both, text and --json, with no traceback: the first in full,
    the second as its stored text."""
    cfg = config(short_dir, receiver, f"{{name: app, type: socket, path: {short_dir}/s.sock}}")
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        [ack] = await send_lines(short_dir / "s.sock", [deep_event(MAX_DEPTH, "deepest")])
        assert ack == {"ok": True, "id": "deepest"}
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(1,)])
    old_body = deep_event(253, "old-deep").replace(b'"data"', b'"time":"2026-01-31T12:00:00Z","source":null,"data"')
    columns = [str(r[1]) for r in db_rows(db, "PRAGMA table_info(events)")]
    row = db_rows(db, f"SELECT {', '.join(columns)} FROM events WHERE id = 'deepest'")[0]
    values = dict(zip(columns, row, strict=True)) | {"id": "old-deep", "body": old_body}
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            [values[c] for c in columns],
        )
    conn.close()

    shown = await hookd("history", "show", "deepest", "--db", str(db), "--json")
    assert shown.exit_code == 0, shown.output
    envelope = orjson.loads(shown.stdout)["event"]["envelope"]
    assert envelope["id"] == "deepest" and orjson.dumps(envelope["data"]).count(b"[") == MAX_DEPTH - 1
    text = await hookd("history", "show", "deepest", "--db", str(db))
    assert text.exit_code == 0, text.output
    assert "event deepest" in plain(text.stdout)

    old_json = await hookd("history", "show", "old-deep", "--db", str(db), "--json")
    assert old_json.exit_code in (0, 1) and "Traceback" not in old_json.output, old_json.output
    assert orjson.loads(old_json.stdout)["event"]["envelope"] == old_body.decode()
    old_text = await hookd("history", "show", "old-deep", "--db", str(db))
    assert old_text.exit_code in (0, 1) and "Traceback" not in old_text.output, old_text.output
    assert "event old-deep" in plain(old_text.stdout)
