"""A CRLF line's \\r is not part of the event: an event of exactly max_event_size bytes is taken from a
tailed file as from the socket (found by an attacker review: the file source refused it as one byte
over the limit)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import daemon_config, db_rows, running_daemon, send_lines, wait_db

LIMIT = 100


def event_of_exactly(size: int, event_id: str) -> bytes:
    head = f'{{"type":"a","id":"{event_id}","data":"'.encode()
    line = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(line) == size
    return line


async def test_an_event_at_the_limit_on_a_crlf_line_is_taken_by_both_sources(short_dir: Path) -> None:
    feed = short_dir / "in.jsonl"
    feed.write_bytes(b"")
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: sock, type: socket, path: {short_dir}/s.sock, max_event_size: {LIMIT}}}
          - {{name: file, type: file, path: {feed}, start_at: beginning, max_event_size: {LIMIT}}}
        """,
    )
    async with running_daemon(cfg):
        [answer] = await send_lines(short_dir / "s.sock", [event_of_exactly(LIMIT, "s1") + b"\r\n"])
        assert answer == {"ok": True, "id": "s1"}
        # Two lines: the second is one byte over, so the file source answers both, one way or the other.
        feed.write_bytes(event_of_exactly(LIMIT, "f1") + b"\r\n" + event_of_exactly(LIMIT + 1, "f2") + b"\r\n")
        await wait_db(
            short_dir / "hookd.db",
            "SELECT (SELECT count(*) FROM events WHERE source = 'file') + (SELECT count(*) FROM rejected)",
            lambda r: r[0][0] == 2,
        )
    assert db_rows(short_dir / "hookd.db", "SELECT id FROM events ORDER BY id") == [("f1",), ("s1",)]
    [(reason,)] = db_rows(short_dir / "hookd.db", "SELECT reason FROM rejected")
    assert "101 bytes, over the limit of 100 bytes" in str(reason)
