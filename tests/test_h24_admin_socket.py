"""The admin listener on a unix socket (`admin: {path: ..., mode: ...}`): `hookd status` and `hookd
reload` reach it through the socket, its file has the configured mode, a stale file is replaced, a
live one refused, and `hookd validate` refuses listen and path together."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from hookd import client
from hookd.cli.app import app
from hookd.config.load import check_config, load_config
from hookd.daemon import Daemon
from hookd.errors import StartupError
from hookd.reload import restart_needed
from tests.cli_helpers import plain
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config, wait_until


def socket_admin_config(d: Path, receiver: Receiver, *, admin: str) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: main
            events: ["*"]
            url: {receiver.url("/a")}
        admin: {admin}
        """,
    )


async def hookd(args: Sequence[str], env: dict[str, str | None] | None = None) -> Result:
    env = {"HOOKD_ADMIN_TOKEN": None, "HOOKD_CONFIG": None, **(env or {})}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


async def test_status_and_reload_over_the_admin_socket(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon serves its admin listener on admin.sock with mode 0660; 2. `hookd status -c` and
    3. `hookd reload -c` (after the hook's url changed) run against the config.
    Result: the socket has mode 0660; status answers healthy and names unix:<path>, which --url
    takes as well; the reload
    applies the change; once stopped, the socket file is gone."""
    sock = short_dir / "admin.sock"
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock, mode: '0660'}")
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url == f"unix:{sock}"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660

        status = await hookd(["status", "-c", str(cfg), "--json"])
        assert status.exit_code == 0, status.output
        doc = orjson.loads(status.stdout)
        assert doc["admin"] == {"url": f"unix:{sock}", "token_required": False}
        # The address as status shows it is one --url takes.
        by_url = await hookd(["status", "--url", f"unix:{sock}", "--json"])
        assert by_url.exit_code == 0, by_url.output
        assert orjson.loads(by_url.stdout)["admin"]["url"] == f"unix:{sock}"

        cfg.write_text(cfg.read_text().replace("/a", "/b"))
        reload = await hookd(["reload", "-c", str(cfg)])
        assert reload.exit_code == 0, reload.output
        assert "hook main changed" in plain(reload.output)
        assert daemon.settings.hooks[0].url.endswith("/b")
    assert not sock.exists()


async def test_reload_c_with_an_invalid_or_moved_config_says_what_happened(short_dir: Path, receiver: Receiver) -> None:
    """`hookd reload -c` 1. on a file broken mid-edit; 2. on a file whose admin.path moved.
    Result: 1, refused, the errors and that the running config keeps running; then 3 with the hint
    that the daemon still listens where it started. The daemon runs its config throughout."""
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock}")
    async with running_daemon(cfg) as daemon:
        good = cfg.read_text()
        cfg.write_text(good.replace('events: ["*"]', 'events: "*"]'))
        broken = await hookd(["reload", "-c", str(cfg)])
        assert broken.exit_code == 1, broken.output
        text = " ".join(plain(broken.output).split())
        assert "refused:" in text and "is invalid" in text and "keeps running the config it has" in text
        cfg.write_text(good.replace("admin.sock", "moved.sock"))
        moved = await hookd(["reload", "-c", str(cfg)])
        assert moved.exit_code == 3, moved.output
        assert "still listens where it started" in " ".join(plain(moved.output).split())
        assert "?." not in plain(moved.output)
        status = await hookd(["status", "-c", str(cfg)])
        assert status.exit_code == 3 and "still listens where it started" in " ".join(plain(status.output).split())
        assert daemon.settings.hooks[0].url.endswith("/a")


async def test_hooks_pause_wakes_the_daemon_through_the_socket(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon serves its admin listener on admin.sock; 2. `hookd hooks pause main -c`.
    Result: the command says the running daemon took the pause up (through the socket)."""
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock}")
    async with running_daemon(cfg):
        result = await hookd(["hooks", "pause", "main", "-c", str(cfg)])
        assert result.exit_code == 0, result.output
        assert "(the running daemon took it up)" in plain(result.output)


async def test_tail_streams_through_the_socket(short_dir: Path, receiver: Receiver) -> None:
    """1. A reader tails through admin.sock (the client `hookd tail` uses); 2. an event arrives.
    Result: the reader gets the event line, then its attempt."""
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock}")
    settings = load_config(cfg)
    async with running_daemon(cfg) as daemon:
        lines: list[dict[str, object]] = []

        async def read_two() -> None:
            stream = client.stream_tail(
                client.admin_url(settings),
                token=None,
                hooks=[],
                types=[],
                sources=[],
                socket=client.admin_socket(settings),
            )
            async for line in stream:
                lines.append(line)
                if len(lines) == 2:
                    break

        reading = asyncio.create_task(read_two())
        await wait_until(lambda: bool(daemon.tail.readers))  # the reader is connected once the hub lists it
        await send_lines(short_dir / "s.sock", [event_line(id="t1")])
        await asyncio.wait_for(reading, 10)
    assert [(line["kind"], line.get("id") or line.get("event")) for line in lines] == [
        ("event", "t1"),
        ("attempt", "t1"),
    ]


async def test_the_socket_takes_the_default_mode_and_still_checks_a_token(short_dir: Path, receiver: Receiver) -> None:
    """1. admin has a path, no mode, and a token; 2. status with a wrong token, then with the
    config's. Result: mode 0600; the wrong token exits 1 naming the socket, the config's exits 0."""
    sock = short_dir / "admin.sock"
    cfg = socket_admin_config(short_dir, receiver, admin=f'{{path: {sock}, token: "${{ADMIN_TOKEN}}"}}')
    token = "admin-token-0123456789abcdef"
    daemon = Daemon(load_config(cfg, env={"ADMIN_TOKEN": token}))
    await daemon.start()
    try:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        refused = await hookd(
            ["status", "-c", str(cfg), "--token", "wrong-token-0123456789"], env={"ADMIN_TOKEN": token}
        )
        assert refused.exit_code == 1, refused.output
        assert f"the admin listener at unix:{sock} refused the token (401)" in plain(refused.output)
        allowed = await hookd(["status", "-c", str(cfg), "--json"], env={"ADMIN_TOKEN": token})
        assert allowed.exit_code == 0, allowed.output
    finally:
        daemon.request_stop()
        await daemon.stop()


async def test_a_stale_socket_file_is_replaced(short_dir: Path, receiver: Receiver) -> None:
    """1. A socket file nothing listens on is left at admin.sock (a daemon that died); 2. a daemon starts.
    Result: it serves on admin.sock, with its own mode."""
    sock = short_dir / "admin.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()  # the file stays; nothing listens
    assert stat.S_ISSOCK(sock.stat().st_mode)
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock, mode: '0640'}")
    async with running_daemon(cfg):
        assert stat.S_IMODE(sock.stat().st_mode) == 0o640
        status = await hookd(["status", "-c", str(cfg), "--json"])
        assert status.exit_code == 0, status.output


async def test_a_second_daemon_is_refused_a_live_admin_socket(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon serves admin.sock; 2. a second daemon (own database and event socket) names the
    same admin.sock. Result: the second fails to start with an "address in use" message; the first's
    socket file stays and still answers."""
    sock = short_dir / "admin.sock"
    first = socket_admin_config(short_dir, receiver, admin=f"{{path: {sock}}}")
    other_dir = short_dir / "b"
    other_dir.mkdir()
    second = socket_admin_config(other_dir, receiver, admin=f"{{path: {sock}}}")
    async with running_daemon(first):
        daemon = Daemon(load_config(second))
        with pytest.raises(StartupError) as caught:
            await daemon.start()
        assert str(caught.value) == (
            f"admin listener: another process is listening on {str(sock)!r}; "
            "is another hookd running? stop it or choose another admin.path"
        )
        assert stat.S_ISSOCK(sock.stat().st_mode)
        status = await hookd(["status", "-c", str(first), "--json"])
        assert status.exit_code == 0, status.output


async def test_a_file_that_is_no_socket_is_left_alone(short_dir: Path, receiver: Receiver) -> None:
    sock = short_dir / "admin.sock"
    sock.write_text("not a socket")
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock}")
    daemon = Daemon(load_config(cfg))
    with pytest.raises(StartupError) as caught:
        await daemon.start()
    assert str(caught.value) == (
        f"admin listener: {str(sock)!r} exists and is not a socket; remove it or choose another admin.path"
    )
    assert sock.read_text() == "not a socket"


async def test_status_without_a_daemon_on_the_socket_exits_3(short_dir: Path, receiver: Receiver) -> None:
    cfg = socket_admin_config(short_dir, receiver, admin="{path: admin.sock}")
    result = await hookd(["status", "-c", str(cfg)])
    assert result.exit_code == 3, result.output
    assert f"no hookd answers at unix:{short_dir / 'admin.sock'}" in plain(result.output)


def test_validate_refuses_listen_and_path_together(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text("version: 1\nadmin:\n  listen: 127.0.0.1:8780\n  path: admin.sock\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 1, result.output
    assert plain(result.output).splitlines() == [
        f"{cfg}:4:9: error: admin.path: admin has both listen and path, but the admin listener serves on one "
        "address: keep listen for TCP, or path for a unix socket whose mode decides who may use it, and remove "
        "the other",
        "1 error(s) in 1 file(s)",
    ]


def test_validate_checks_the_admin_socket_path_and_mode(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        "version: 1\nsources: [{name: app, type: socket, path: s.sock}]\nadmin: {path: s.sock, mode: '0660'}\n",
        encoding="utf-8",
    )
    messages = [(p.path, p.severity, p.message) for p in check_config(cfg, env={}).problems]
    assert messages == [
        (
            "admin.path",
            "error",
            f"{str(tmp_path / 's.sock')!r} is also the path of socket source 'app' (line 2), and only one listener "
            "can bind it; give the admin socket another path, like admin.sock beside it",
        )
    ]
    cfg.write_text("version: 1\nadmin: {listen: 127.0.0.1:8780, mode: '0660'}\n", encoding="utf-8")
    [problem] = check_config(cfg, env={}).problems
    assert (problem.path, problem.severity) == ("admin.mode", "warning")
    cfg.write_text("version: 1\nadmin: {path: admin.sock, mode: 660}\n", encoding="utf-8")
    [problem] = check_config(cfg, env={}).problems
    assert problem.path == "admin.mode" and "write an octal mode in quotes, like '0660'" in problem.message
    cfg.write_text(f"version: 1\nadmin: {{path: {'x' * 120}.sock}}\n", encoding="utf-8")
    [problem] = check_config(cfg, env={}).problems
    assert problem.path == "admin.path" and "over the 107-byte limit of unix sockets" in problem.message


def test_a_reload_refuses_a_new_admin_path_or_mode(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text("version: 1\nadmin: {path: a.sock}\n", encoding="utf-8")
    old = load_config(cfg)
    cfg.write_text("version: 1\nadmin: {path: b.sock}\n", encoding="utf-8")
    assert restart_needed(old, load_config(cfg)) == [f"admin.path ({tmp_path / 'a.sock'} -> {tmp_path / 'b.sock'})"]
    cfg.write_text("version: 1\nadmin: {path: a.sock, mode: '0660'}\n", encoding="utf-8")
    assert restart_needed(old, load_config(cfg)) == ["admin.mode (0600 -> 0660)"]
    cfg.write_text("version: 1\nadmin: {listen: 127.0.0.1:8780}\n", encoding="utf-8")
    assert restart_needed(old, load_config(cfg)) == [f"admin.path ({tmp_path / 'a.sock'} -> none)"]


async def test_admin_commands_run_where_the_deployments_secrets_are_unset(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon has HOOKD_TEST_PARTNER (a hook's header); the operator's shell does not.
    Result: `hookd status -c` and `hookd reload -c` still reach the daemon (they need only the admin
    listener), and the reload is the daemon's own verdict: applied."""
    monkeypatch.setenv("HOOKD_TEST_PARTNER", "partner-token-0123456789")
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - name: main
            events: ["*"]
            url: {receiver.url("/a")}
            headers: {{X-Api-Token: "${{HOOKD_TEST_PARTNER}}"}}
        admin: {{path: admin.sock}}
        """,
    )
    shell = {k: v for k, v in os.environ.items() if k not in ("HOOKD_TEST_PARTNER", "HOOKD_CONFIG")}

    async def run(*args: str) -> tuple[int | None, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", *args, env=shell,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode, out.decode()

    async with running_daemon(cfg):  # in this process, which has the variable
        status = await run("status", "-c", str(cfg))
        reload = await run("reload", "-c", str(cfg))
    assert status[0] == 0, status[1]
    assert reload[0] == 0, reload[1]
    assert "reloaded" in plain(reload[1])
