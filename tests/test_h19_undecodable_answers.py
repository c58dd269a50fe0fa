"""A receiver's answer holding bytes that are not UTF-8 (in a Location, in any kept header) is stored
escaped, and never holds up the recording of other attempts (found by an attacker review: one such
answer stopped every hook's attempts from being recorded until a restart)."""

from __future__ import annotations

from pathlib import Path

from hookd.recorder import storable
from hookd.senders.base import Hop
from hookd.store.base import AttemptRecord
from tests.conftest import (
    Receiver,
    db_rows,
    event_line,
    raw_http_server,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)


async def test_an_undecodable_location_is_stored_escaped_and_other_hooks_keep_recording(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook bad's receiver answers 302 with `Location: http://127.0.0.1:9/\\xff` and a `Server`
       header with a \\xfe byte; hook good's answers 200. 2. An event for bad, then one for good.
    Result: bad's delivery failed for good with the Location percent-encoded and the header escaped;
    good's delivery is recorded delivered; nothing is left delivering."""
    answer = (
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\xff\r\nServer: x\xfe\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    async with raw_http_server(answer) as url:
        cfg = socket_config(
            short_dir,
            f"""
            hooks:
              - {{name: bad, events: ["bad"], url: "{url}"}}
              - {{name: good, events: ["good"], url: "{receiver.url("/ok")}"}}
            """,
        )
        db = short_dir / "hookd.db"
        async with running_daemon(cfg):
            await send_lines(short_dir / "s.sock", [event_line("bad", id="b1")])
            await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r[0][0] == 1)
            await send_lines(short_dir / "s.sock", [event_line("good", id="g1")])
            await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r[0][0] == 1)
    [(state, error, headers)] = db_rows(
        db, "SELECT d.state, a.error, a.response_headers FROM deliveries d JOIN attempts a ON a.delivery_id = d.id "
        "WHERE d.hook = 'bad'",
    )  # fmt: skip
    assert state == "failed"
    assert "http://127.0.0.1:9/%FF" in str(error)
    assert "%FF" in str(headers) and "x\\\\xfe" in str(headers)
    assert db_rows(db, "SELECT count(*) FROM deliveries WHERE state = 'delivering'") == [(0,)]


def test_storable_escapes_every_text_of_an_attempt_and_keeps_a_clean_one() -> None:
    bad = "x\udcff"
    record = AttemptRecord(
        delivery_id="d", attempt=1, started_at=1.0, duration_s=0.1, status=302, error=bad,
        request={"method": "POST", "url": "http://h/", "headers": {"X": bad}}, response_headers={"location": bad},
        response_excerpt=bad, state="failed", next_at=None, hops=(Hop(bad, 302),),
    )  # fmt: skip
    fixed = storable(record)
    assert fixed.error == fixed.response_excerpt == fixed.response_headers["location"] == "x\\udcff"
    assert fixed.request == {"method": "POST", "url": "http://h/", "headers": {"X": "x\\udcff"}}
    assert fixed.hops == (Hop("x\\udcff", 302),)
    clean = storable(fixed)
    assert clean is fixed
