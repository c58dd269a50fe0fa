"""`hookd send` through CliRunner against an in-process daemon's real socket, and one scenario with
real processes only: `hookd serve`, `hookd send` and `hookd status`."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

import hookd.cli.send  # noqa: F401  (registers the command)
from hookd.cli.app import app
from tests.cli_helpers import plain
from tests.conftest import (
    DaemonProcess,
    Receiver,
    daemon_config,
    event_line,
    running_daemon,
    send_lines,
    wait_db,
    write_config,
)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")

# `python -m hookd` once hookd/cli/app.py registers send and status; until then they are imported first.
HOOKD = [sys.executable, "-m", "hookd"]


def send_config(d: Path, receiver: Receiver, *, admin: str = "") -> Path:
    return daemon_config(
        d,
        f"""
        sources:
          - {{name: app, type: socket, path: {d}/s.sock, max_event_size: 1KB}}
        hooks:
          - {{name: all, events: ["*"], url: "{receiver.url("/in")}"}}
        {admin}
        """,
    )


async def hookd_send(args: Sequence[str], *, input: str | None = None) -> Result:
    """The runner blocks: run it in a thread while the daemon serves on this event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["send", *args], input=input, env={"HOOKD_CONFIG": None})


def received_ids(receiver: Receiver) -> list[str]:
    return [str(r.json()["id"]) for r in receiver.at("/in")]  # type: ignore[index]


async def test_events_as_arguments_are_stored_and_delivered(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        result = await hookd_send(
            ["--socket", str(short_dir / "s.sock"), '{"type": "order.created", "id": "o-1"}', '{"type": "x"}']
        )
        await receiver.wait_count(2, "/in")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first == "o-1" and _UUID.match(second)
    assert sorted(received_ids(receiver)) == sorted([first, second])
    assert result.stderr == ""


async def test_type_and_data_with_the_socket_from_the_config(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        result = await hookd_send(["-c", str(cfg), "--type", "user.signed_up", "--data", '{"user": 7}'])
        await receiver.wait_count(1, "/in")
    assert result.exit_code == 0, result.output
    [got] = receiver.at("/in")
    body = got.json()
    assert isinstance(body, dict)
    assert (body["id"], body["type"], body["data"]) == (result.stdout.strip(), "user.signed_up", {"user": 7})


async def test_the_socket_is_found_where_the_deployments_secrets_are_unset(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon runs with HOOKD_TEST_ADMIN_TOKEN set; `hookd send -c` runs in a shell without it.
    Result: the event is sent (only the socket's path is needed); with the socket path itself an
    unset ${VAR}, exit 2 naming the variable."""
    monkeypatch.setenv("HOOKD_TEST_ADMIN_TOKEN", "admin-token-0123456789abcdef")
    cfg = send_config(short_dir, receiver, admin='admin: {listen: 127.0.0.1:0, token: "${HOOKD_TEST_ADMIN_TOKEN}"}')
    async with running_daemon(cfg):
        monkeypatch.delenv("HOOKD_TEST_ADMIN_TOKEN")
        result = await hookd_send(["-c", str(cfg), "--type", "user.signed_up"])
        await receiver.wait_count(1, "/in")
    assert result.exit_code == 0, result.output
    cfg.write_text(cfg.read_text().replace(f"path: {short_dir}/s.sock", 'path: "${HOOKD_TEST_SOCKET_DIR}/s.sock"'))
    unset = await hookd_send(["-c", str(cfg), "--type", "user.signed_up"])
    assert unset.exit_code == 2, unset.output
    assert "HOOKD_TEST_SOCKET_DIR" in unset.output


async def test_rejected_event_exits_1_with_the_daemons_error(short_dir: Path, receiver: Receiver) -> None:
    """1. Three events: a good one, one with a top-level field hookd refuses, one over 1KB.
    Result: exit 1; the good id on stdout; each rejection on stderr with its position and
    hookd's own reason; the good event is delivered."""
    cfg = send_config(short_dir, receiver)
    big = orjson.dumps({"type": "x", "data": "a" * 2000}).decode()
    async with running_daemon(cfg):
        result = await hookd_send(
            ["--socket", str(short_dir / "s.sock"), '{"type": "a", "id": "ok-1"}', '{"type": "a", "zzz": 1}', big]
        )
        await receiver.wait_count(1, "/in")
    assert result.exit_code == 1
    assert result.stdout == "ok-1\n"
    assert plain(result.stderr).splitlines() == [
        "rejected: event 2: unknown top-level field(s) 'zzz'; an event has type, id, time, source and data: "
        'put your fields under "data"',
        f"rejected: event 3: event is {len(orjson.dumps(orjson.loads(big)))} bytes, over the limit of 1000 bytes "
        "(max_event_size: 1KB)",
        "2 of 3 events were refused and not stored (the reasons are above); the other 1 event was stored: "
        "send only the refused again",
    ]
    assert received_ids(receiver) == ["ok-1"]


async def test_duplicate_is_reported_and_not_delivered_again(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="d-1")])
        result = await hookd_send(["--socket", str(short_dir / "s.sock"), "--json", '{"type": "a", "id": "d-1"}'])
        await receiver.wait_count(1, "/in")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {
        "sent": 1,
        "stored": 0,
        "duplicates": 1,
        "rejected": 0,
        "unanswered": 0,
        "not_sent": [],
        "events": [{"index": 1, "ok": True, "id": "d-1", "duplicate": True}],
    }
    assert received_ids(receiver) == ["d-1"]


async def test_stdin_json_lines_and_json_array(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    sock = str(short_dir / "s.sock")
    async with running_daemon(cfg):
        lines = await hookd_send(["--socket", sock, "-"], input='{"type":"a","id":"l1"}\n\n{"type":"a","id":"l2"}\n')
        array = await hookd_send(["--socket", sock, "--json", "-"], input='[{"type":"a","id":"a1"},\n {"type":"a"}]')
        await receiver.wait_count(4, "/in")
    assert lines.exit_code == 0, lines.output
    assert lines.stdout == "l1\nl2\n"
    assert array.exit_code == 0, array.output
    doc = orjson.loads(array.stdout)
    assert (doc["sent"], doc["stored"], doc["rejected"]) == (2, 2, 0)
    assert doc["events"][0] == {"index": 1, "ok": True, "id": "a1", "duplicate": False}
    assert sorted(received_ids(receiver)) == sorted(["l1", "l2", "a1", doc["events"][1]["id"]])


async def test_json_output_of_a_rejection(short_dir: Path, receiver: Receiver) -> None:
    cfg = send_config(short_dir, receiver)
    async with running_daemon(cfg):
        result = await hookd_send(["--socket", str(short_dir / "s.sock"), "--json", '{"id": "n-1"}'])
    assert result.exit_code == 1
    doc = orjson.loads(result.stdout)
    assert doc["rejected"] == 1
    assert doc["events"] == [
        {
            "index": 1,
            "ok": False,
            "id": "n-1",
            "error": '"type" is missing; every event needs a type like "order.created" (event n-1)',
        }
    ]


async def test_exit_3_when_the_daemon_is_not_running(short_dir: Path) -> None:
    missing = await hookd_send(["--socket", str(short_dir / "none.sock"), '{"type": "a"}'])
    assert missing.exit_code == 3
    assert plain(missing.stderr).startswith(f"error: hookd is not running: no socket at '{short_dir}/none.sock'; ")
    # A socket file left behind by a daemon that died: nothing listens on it.
    stale = short_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(stale))
    refused = await hookd_send(["--socket", str(stale), '{"type": "a"}'])
    assert refused.exit_code == 3
    assert f"hookd is not running: '{stale}' is a socket, but nothing listens on it" in plain(refused.stderr)


async def test_bad_input_exits_2_naming_where(short_dir: Path, tmp_path: Path) -> None:
    sock = str(short_dir / "s.sock")  # never reached: input is checked first
    bad_arg = await hookd_send(["--socket", sock, '{"type": "a"}', "{type: a}"])
    assert bad_arg.exit_code == 2
    assert plain(bad_arg.stderr).startswith("error: argument 2: invalid JSON (")
    bad_data = await hookd_send(["--socket", sock, "--type", "a", "--data", "{"])
    assert bad_data.exit_code == 2 and "--data: invalid JSON" in plain(bad_data.stderr)
    data_only = await hookd_send(["--socket", sock, "--data", "1"])
    assert data_only.exit_code == 2 and "--data needs --type" in plain(data_only.stderr)
    nothing = await hookd_send(["--socket", sock])
    assert nothing.exit_code == 2 and "nothing to send" in plain(nothing.stderr)
    no_socket = write_config(tmp_path, "version: 1\n")
    result = await hookd_send(["-c", str(no_socket), '{"type": "a"}'])
    assert result.exit_code == 2
    assert "has no socket source with a path" in plain(result.stderr) and "--socket" in plain(result.stderr)


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *HOOKD, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_real_processes_send_and_status(short_dir: Path, receiver: Receiver) -> None:
    """1. `hookd serve` runs as a process with its admin listener on port 0; 2. `hookd send -c`
    (a process) sends an event; 3. the receiver gets it and the delivery is recorded; 4. `hookd
    status --url --json` (a process) asks; 5. the daemon stops (SIGTERM); send and status again.
    Result: send prints the id and exits 0; status shows the event and the delivery and exits 0;
    once the daemon is gone both exit 3 with a sentence."""
    cfg = send_config(short_dir, receiver, admin='admin: {listen: "127.0.0.1:0"}')
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        [url] = [m.group(1) for line in daemon.log if (m := re.search(r"admin listening on (http://\S+)$", line))]

        code, out, err = await run("send", "-c", str(cfg), '{"type": "order.created", "id": "p-1"}')
        assert (code, out, err) == (0, "p-1\n", "")
        await receiver.wait_count(1, "/in")
        assert received_ids(receiver) == ["p-1"]
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])

        code, out, err = await run("status", "--url", url, "--json")
        assert code == 0, err
        status = orjson.loads(out)
        assert daemon.proc is not None and status["pid"] == daemon.proc.pid
        assert status["sources"][0]["events_total"] == 1
        assert status["hooks"][0]["name"] == "all" and status["hooks"][0]["delivered_total"] == 1
        assert status["health"] == {"status": "ok", "reasons": []}

        daemon.signal(signal.SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await daemon.close()
    code, out, err = await run("send", "-c", str(cfg), '{"type": "a"}')
    assert code == 3 and out == ""
    assert err.startswith(f"error: hookd is not running: no socket at '{short_dir}/s.sock'")
    code, out, err = await run("status", "--url", url)
    assert code == 3 and f"no hookd answers at {url}" in err
