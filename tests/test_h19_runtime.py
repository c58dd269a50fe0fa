"""Filters and templates that fail on an event at run time: a failed delivery with the reason, counted
per hook in `hookd status`, health degraded, shown by `hookd history show` and `hookd test` alike, and
never a traceback; header values a template renders are checked before anything is sent."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import aiohttp
import orjson
import pytest

from hookd.config.load import load_config
from hookd.config.model import HookConfig
from hookd.dryrun import dry_run, inline_event
from hookd.events import event_from_object
from hookd.ingest import Ingest
from hookd.rendering import RequestRenderError, check_headers
from hookd.router import Router
from hookd.senders.base import OutboundRequest
from hookd.senders.http import HttpSender
from hookd.sources.base import Batch
from hookd.store.sqlite import SQLiteStore
from tests import cli_helpers
from tests.cli_helpers import hookd
from tests.conftest import (
    Receiver,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)
from tests.manual_clock import ManualClock


def plain(text: str) -> str:
    """The words printed, without colour codes and with white space folded (rich wraps long lines)."""
    return " ".join(cli_helpers.plain(text).split())


def runtime_config(d: Path, receiver: Receiver) -> Path:
    """Four hooks on every event: `good` plain; `picky` filters on length(data.items); `tmpl` puts
    length(data.items) in its payload; `hdr` puts data.note in a header. Five attempts each, a day apart,
    so a retry would show as a pending delivery."""
    retry = "{max_attempts: 5, initial_delay: 1d, max_delay: 1d, jitter: false}"
    return socket_config(
        d,
        f"""
        hooks:
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
          - name: picky
            events: ["*"]
            filter: "length(data.items) > `0`"
            url: {receiver.url("/picky")}
            retry: {retry}
          - name: tmpl
            events: ["*"]
            payload: {{n: "{{{{ length(data.items) }}}}"}}
            url: {receiver.url("/tmpl")}
            retry: {retry}
          - name: hdr
            events: ["*"]
            headers: {{X-Note: "{{{{ data.note }}}}"}}
            url: {receiver.url("/hdr")}
            retry: {retry}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )


BAD = {"items": 5, "note": "one\nX-Forged: yes"}  # items is not a list; note has a newline
FINE = {"items": [1], "note": "fine"}


async def test_filter_and_template_errors_are_failed_deliveries_counted_and_shown(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Event `bad` (items a number, a newline in note) and event `fine` go to four hooks.
    2. Wait until every delivery is finished.
    Result: `fine` reaches every hook. For `bad`: `picky`'s filter fails, so nothing is sent and a failed
    delivery with no attempt records why; `tmpl` and `hdr` fail on their first attempt for good (no retry),
    the reason naming the template and the header; nothing reaches those receivers. Status counts them
    per hook, health is degraded naming each hook and its error, `history show` and `hookd test` show
    the same reasons as the database, and no log record carries a traceback."""
    cfg = runtime_config(short_dir, receiver)
    db = short_dir / "hookd.db"
    caplog.set_level(logging.INFO, logger="hookd")
    async with running_daemon(cfg) as daemon:
        replies = await send_lines(
            short_dir / "s.sock", [event_line("t", id="bad", data=BAD), event_line("t", id="fine", data=FINE)]
        )
        assert [r.get("id") for r in replies] == ["bad", "fine"]
        await wait_db(
            db,
            "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')",
            lambda r: r[0][0] == 8,
        )
        async with aiohttp.ClientSession() as session, session.get(f"{daemon.admin_url}/status") as response:
            status = await response.json()

    assert sorted(r.path for r in receiver.requests) == ["/good", "/good", "/hdr", "/picky", "/tmpl"]
    assert receiver.at("/hdr")[0].headers["X-Note"] == "fine"
    rows = {
        (str(event), str(hook)): (state, attempts, error)
        for event, hook, state, attempts, error in db_rows(
            db, "SELECT event_id, hook, state, attempts, last_error FROM deliveries"
        )
    }
    assert {k: v[:2] for k, v in rows.items() if k[0] == "fine"} == {
        ("fine", h): ("delivered", 1) for h in ("good", "picky", "tmpl", "hdr")
    }
    picky_state, picky_attempts, picky_error = rows[("bad", "picky")]
    assert (picky_state, picky_attempts) == ("failed", 0)
    assert str(picky_error).startswith(
        "filter could not be evaluated on this event: In function length(), invalid type for value: 5"
    )
    tmpl_state, tmpl_attempts, tmpl_error = rows[("bad", "tmpl")]
    assert (tmpl_state, tmpl_attempts) == ("failed", 1)
    assert str(tmpl_error).startswith(
        "cannot render the request: payload.n: {{ length(data.items) }} could not be evaluated on this event: "
        "In function length()"
    )
    hdr_state, hdr_attempts, hdr_error = rows[("bad", "hdr")]
    assert (hdr_state, hdr_attempts) == ("failed", 1)
    assert str(hdr_error).startswith(
        "cannot render the request: headers.X-Note: the value has a control character (\\n at position 3)"
    )

    hooks = {h["name"]: h for h in status["hooks"]}
    assert {n: (h["filter_errors_total"], h["template_errors_total"]) for n, h in hooks.items()} == {
        "good": (0, 0),
        "picky": (1, 0),
        "tmpl": (0, 1),
        "hdr": (0, 1),
    }
    assert hooks["good"]["last_evaluation_error"] is None
    latest = hooks["picky"]["last_evaluation_error"]
    assert (latest["kind"], latest["event_id"], latest["error"]) == ("filter", "bad", picky_error)
    assert hooks["hdr"]["last_evaluation_error"]["error"] == hdr_error
    assert status["health"]["status"] == "degraded"
    reasons = "\n".join(status["health"]["reasons"])
    assert "hook 'picky': its filter could not be evaluated on 1 event(s) since start, the last on event bad" in reasons
    assert "hook 'tmpl': its payload or header template could not be evaluated on 1 event(s)" in reasons
    assert "headers.X-Note: the value has a control character" in reasons

    records = [r for r in caplog.records if r.name.startswith("hookd")]
    assert not [r for r in records if r.exc_info], "a run-time filter or template error logged a traceback"
    assert not [r for r in records if "\n" in r.getMessage()], "a log line carries a raw newline"
    assert any(r.levelno == logging.WARNING and 'event=bad hook=picky reason="filter could not be' in r.getMessage()
               for r in records)  # fmt: skip

    shown = await hookd("history", "show", "bad", "--db", str(db))
    assert shown.exit_code == 0, shown.output
    text = plain(shown.output)
    assert "to hook picky: failed after 0 attempt(s)" in text
    assert "error filter could not be evaluated on this event: In function length()" in text

    # `hookd test` gives the very reasons the daemon recorded: one code path.
    router = Router(load_config(cfg).hooks)
    result = dry_run(router, inline_event("t", orjson.dumps(BAD).decode()), now=0.0)
    by_hook = {h.hook: h for h in result.hooks}
    assert by_hook["picky"].filter_error == picky_error
    assert by_hook["tmpl"].render_error == tmpl_error
    assert by_hook["hdr"].render_error == hdr_error
    assert result.failed


async def test_the_status_command_shows_evaluation_errors_per_hook(short_dir: Path, receiver: Receiver) -> None:
    """1. One event whose items is a number goes to `picky`. 2. `hookd status --url`.
    Result: an `eval errors` column counts it for picky, and health names picky and the error (exit 1)."""
    cfg = runtime_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("t", id="bad", data={"items": 5, "note": "x"})])
        await wait_db(
            short_dir / "hookd.db",
            "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')",
            lambda r: r[0][0] == 4,
        )
        result = await hookd("status", "--url", str(daemon.admin_url))
    assert result.exit_code == 1, result.output
    text = cli_helpers.plain(result.output)
    assert re.search(r"eval\s*\n?.*errors", text, re.S), text
    assert re.search(r"^picky( +\d+){6} +1$", text, re.M), text
    assert re.search(r"^good( +\d+){6} +0$", text, re.M), text
    assert "hook 'picky': its filter could not be evaluated on 1 event(s)" in plain(text)


# -- the header check, the sender ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-A": "a\r\nX-B: b"}, "headers.X-A: the value has a control character (\\r at position 1)"),
        ({"X-A": "nul\x00"}, "headers.X-A: the value has a control character (\\x00 at position 3)"),
        ({"X-A": "del\x7f"}, "headers.X-A: the value has a control character (\\x7f at position 3)"),
        ({"X A": "v"}, "headers.X A: not a valid header name"),
        ({"X-A:": "v"}, "headers.X-A:: not a valid header name"),
        ({"X-\nA": "v"}, "headers.X-\\nA: not a valid header name"),
    ],
)
def test_unsendable_headers_are_named(headers: dict[str, str], message: str) -> None:
    with pytest.raises(RequestRenderError) as caught:
        check_headers({"Content-Type": "application/json", **headers})
    assert str(caught.value).startswith(message)


def test_sendable_headers_pass() -> None:
    check_headers({"X-A": "tab\tand spaces, unicode é ✓", "webhook-id": "evt_1"})


async def test_the_sender_makes_a_request_it_cannot_build_a_final_failure(receiver: Receiver) -> None:
    """A request aiohttp refuses to build (a header with a newline, past every check) is a final
    outcome with a clear error: no exception, no retry, nothing sent."""
    sender = HttpSender()
    try:
        outcome = await sender.send(
            OutboundRequest(method="POST", url=receiver.url("/x"), headers={"X-A": "a\nb"}, body=b"{}", timeout_s=5.0)
        )
    finally:
        await sender.close()
    assert (outcome.ok, outcome.retryable, outcome.status) == (False, False, None)
    assert outcome.error.startswith("cannot build the request: ")
    assert receiver.requests == []


async def test_a_case_expecting_no_match_fails_when_the_filter_cannot_be_evaluated(
    short_dir: Path, receiver: Receiver
) -> None:
    """A `not_match` case passed when the filter failed; the daemon records a failed delivery, so it fails."""
    cfg = runtime_config(short_dir, receiver)
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(
        "cases:\n  - name: odd items\n    event: {type: t, data: {items: 5}}\n    expect: {not_match: [picky]}\n",
        encoding="utf-8",
    )
    result = await hookd("test", "-c", str(cfg), "--cases", str(cases))
    assert result.exit_code == 1, result.output
    assert "not_match: picky: filter could not be evaluated on this event: In function length()" in plain(result.output)


# -- ingest: counted once per stored event, logged at most once a minute per hook ---------------------


async def test_filter_failures_are_stored_counted_once_and_logged_at_most_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1. Events b1 and b2 fail picky's filter 10 s apart; b1 comes again (a duplicate); b3 a minute later.
    Result: three failed deliveries (no attempt) with the reason, three counted, two log lines, the
    second saying one more was not logged; the other hook gets every event."""
    store = SQLiteStore(tmp_path / "hookd.db")
    await store.open()
    clock = ManualClock(1000.0)
    url = "http://127.0.0.1:9/"
    router = Router(
        [
            HookConfig(name="all", events=("*",), url=url),
            HookConfig(name="picky", events=("*",), url=url, filter="length(data.items) > `0`"),
        ]
    )
    ingest = Ingest(store, router, clock)
    running = asyncio.create_task(ingest.run())
    caplog.set_level(logging.WARNING, logger="hookd.ingest")
    try:
        for event_id, at in (("b1", 1000.0), ("b2", 1010.0), ("b1", 1020.0), ("b3", 1070.0)):
            clock.advance(at - clock.now())
            event = event_from_object({"id": event_id, "type": "t", "data": {"items": 5}}, now=at)
            await ingest.submit(Batch(events=[event], source="app"))
    finally:
        ingest.stop()
        await running
        await store.close()

    rows = db_rows(
        tmp_path / "hookd.db", "SELECT event_id, state, attempts, last_error FROM deliveries WHERE hook = 'picky'"
    )
    assert sorted((r[0], r[1], r[2]) for r in rows) == [("b1", "failed", 0), ("b2", "failed", 0), ("b3", "failed", 0)]
    assert all(str(r[3]).startswith("filter could not be evaluated on this event: ") for r in rows)
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM deliveries WHERE hook = 'all'") == [(3,)]
    assert ingest.hook_errors.filter_errors == {"picky": 3}
    lines = [r.getMessage() for r in caplog.records if r.name == "hookd.ingest"]
    assert len(lines) == 2, lines
    assert lines[0].startswith('event=b1 hook=picky reason="filter could not be evaluated')
    assert lines[1].startswith('event=b3 hook=picky reason="filter could not be evaluated')
    assert lines[1].endswith('(1 more like this since the last such line were not logged)" not delivered')


def test_a_filter_failure_quoting_the_event_is_one_short_line() -> None:
    """jmespath quotes the offending value: a newline in it is escaped, and a huge one is cut short."""
    router = Router([HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/", filter="abs(data.s)")])
    for value in ("one\nX-Forged: yes\x1b[31m", "x" * 100_000):
        _, failed = router.routing(event_from_object({"type": "t", "data": {"s": value}}))
        reason = failed["h"]
        assert reason.startswith("filter could not be evaluated on this event: In function abs(), invalid type")
        assert not re.search(r"[\x00-\x1f\x7f]", reason)
        assert len(reason) < 600
    assert (
        "one\\x0aX-Forged: yes\\x1b[31m"
        in router.routing(event_from_object({"type": "t", "data": {"s": "one\nX-Forged: yes\x1b[31m"}}))[1]["h"]
    )
