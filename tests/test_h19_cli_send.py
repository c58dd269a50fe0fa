"""`hookd send -` streams: each stdin line goes out as it is read and its answer is printed as it
arrives, so `tail -F app.log | hookd send -` works. Real processes and a real pipe."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
from typer.testing import CliRunner

from hookd.cli.app import app
from tests.conftest import FAILSAFE_S, Receiver, running_daemon, socket_config

HOOKD = [sys.executable, "-m", "hookd"]


def send_config(d: Path, receiver: Receiver) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - {{name: all, events: ["*"], url: "{receiver.url("/in")}"}}
        """,
    )


async def test_each_line_is_sent_and_answered_before_stdin_ends(short_dir: Path, receiver: Receiver) -> None:
    """1. `hookd send --socket S -` runs as a process, its stdin a pipe that stays open; 2. write one
    line and read its id from stdout; 3. write a line that is not JSON, then another event, and read
    that one's id; 4. close stdin. Result: each id arrives while stdin is still open; the bad line is
    reported as not sent (with its line number) and the stream goes on; exit 1 for the bad line."""
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        proc = await asyncio.create_subprocess_exec(
            *HOOKD, "send", "--socket", str(short_dir / "s.sock"), "-",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            async with asyncio.timeout(FAILSAFE_S):
                proc.stdin.write(b'{"type": "log.line", "id": "s-1"}\n')
                await proc.stdin.drain()
                assert await proc.stdout.readline() == b"s-1\n"  # stdin is still open
                proc.stdin.write(b'{"type": \n{"type": "log.line", "id": "s-2"}\n')
                await proc.stdin.drain()
                assert await proc.stdout.readline() == b"s-2\n"
                await receiver.wait_count(2, "/in")
                proc.stdin.close()
                code = await proc.wait()
                err = (await proc.stderr.read()).decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 1, err
    lines = err.splitlines()
    assert lines[0].startswith("not sent: stdin line 2: invalid JSON (")
    assert lines[1:] == [
        "1 of 3 events were refused and not stored (the reason is above); the other 2 events were stored: "
        "send only the refused again"
    ]
    assert sorted(str(r.json()["id"]) for r in receiver.at("/in")) == ["s-1", "s-2"]  # type: ignore[index]


async def test_a_pretty_printed_document_is_still_read_whole(short_dir: Path, receiver: Receiver) -> None:
    """stdin holding one JSON document over several lines (an object, or an array) is read to its end."""
    cfg = send_config(short_dir, receiver)
    sock = str(short_dir / "s.sock")

    def invoke(text: str, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["send", "--socket", sock, *args, "-"], input=text)
        return result.exit_code, result.stdout, result.stderr

    async with running_daemon(cfg):
        pretty = await asyncio.to_thread(invoke, '\n{\n  "type": "a",\n  "id": "p-1"\n}\n')
        array = await asyncio.to_thread(invoke, '[{"type": "a", "id": "p-2"},\n {"type": "a", "id": "p-3"}]')
        broken = await asyncio.to_thread(invoke, '[{"type": "a", "id": "p-4"},\n{"type": \n', "--json")
    assert pretty == (0, "p-1\n", "")
    assert array == (0, "p-2\np-3\n", "")
    code, out, err = broken
    assert code == 2 and out == ""
    assert err.startswith("error: stdin line 1: invalid JSON (")  # as JSON Lines, its first line is not JSON


async def test_json_output_lists_lines_not_sent(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["send", "--socket", str(short_dir / "s.sock"), "--json", "-"],
            input='{"type": "a", "id": "j-1"}\nnot json\n',
        )
    assert result.exit_code == 1
    doc = orjson.loads(result.stdout)
    assert (doc["sent"], doc["stored"], doc["rejected"], doc["unanswered"]) == (1, 1, 0, 0)
    [reason] = doc["not_sent"]
    assert reason.startswith("stdin line 2: invalid JSON (")


async def test_a_single_refused_event_says_nothing_was_stored(short_dir: Path, receiver: Receiver) -> None:
    """Not "1 of 1 event(s) rejected; the others were stored": there are no others."""
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["send", "--socket", str(short_dir / "s.sock"), '{"type": "a", "zzz": 1}']
        )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "nothing was stored: the event was refused (the reason is above); fix and send again"
    )


async def test_a_daemon_that_stops_while_stdin_is_idle_ends_the_stream(short_dir: Path, receiver: Receiver) -> None:
    """1. `hookd send -` with stdin a pipe that stays open; one event is sent and answered; 2. the
    daemon stops while no line is coming. Result: send exits 3 at once, saying hookd closed the
    connection, rather than when the next line arrives (hours later, behind `tail -F`)."""
    cfg = send_config(short_dir, receiver)
    proc = None
    try:
        async with running_daemon(cfg):
            proc = await asyncio.create_subprocess_exec(
                *HOOKD, "send", "--socket", str(short_dir / "s.sock"), "-",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "NO_COLOR": "1"},
            )  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            async with asyncio.timeout(FAILSAFE_S):
                proc.stdin.write(b'{"type": "log.line", "id": "i-1"}\n')
                await proc.stdin.drain()
                assert await proc.stdout.readline() == b"i-1\n"
        async with asyncio.timeout(FAILSAFE_S):  # stdin is still open
            code = await proc.wait()
            err = (await proc.stderr.read()).decode()
        assert code == 3, err
        assert err.startswith(
            "error: hookd stopped answering: hookd closed the connection after answering all 1 event(s) sent; "
            "nothing more was sent. Start hookd again and send the rest"
        )
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_duplicate_is_not_counted_as_stored_in_the_summary(short_dir: Path, receiver: Receiver) -> None:
    """One event sent twice and one refused: the summary says the other two are stored, one of them
    already was (found by a new-user walkthrough: it said both 'were stored')."""
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        sock = str(short_dir / "s.sock")
        first = await asyncio.to_thread(
            CliRunner().invoke, app, ["send", "--socket", sock, '{"type": "a", "id": "d-1"}']
        )
        assert first.exit_code == 0, first.output
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            [
                "send",
                "--socket",
                sock,
                '{"type": "a", "id": "d-1"}',
                '{"type": "a", "id": "d-2"}',
                '{"type": "a", "zzz": 1}',
            ],
        )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "1 of 3 events were refused and not stored (the reason is above); the other 2 are stored (1 of them "
        "already was): send only the refused again"
    )
