"""`hookd status` through typer's CliRunner against an in-process daemon's real admin listener.

The runner blocks, so it runs in a thread while the daemon serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson
from typer.testing import CliRunner, Result

import hookd.cli.status  # noqa: F401  (registers the command)
from hookd import __version__, client
from hookd.cli.app import app
from hookd.config.load import load_config
from tests.cli_helpers import plain
from tests.conftest import Receiver, Reply, event_line, running_daemon, send_lines, wait_db, write_config
from tests.test_admin import TOKEN, admin_config


async def hookd_status(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
    env = {"HOOKD_ADMIN_TOKEN": None, "HOOKD_CONFIG": None, **(env or {})}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_human_output_of_a_healthy_daemon(short_dir: Path, receiver: Receiver) -> None:
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("user.created", id="u1")])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
        result = await hookd_status(["status", "--url", str(daemon.admin_url)])
    out = plain(result.stdout)
    assert result.exit_code == 0, result.output
    assert re.search(rf"^hookd +{re.escape(__version__)}, pid \d+, up \d+s \(since 20", out, re.M), out
    assert re.search(rf"^config +{re.escape(str(cfg))} \(sha256 [0-9a-f]{{12}}\)", out, re.M), out
    assert re.search(rf"^admin +{re.escape(str(daemon.admin_url))}", out, re.M), out
    assert re.search(r"^worker +pid \d+, 0 restart\(s\) since start *$", out, re.M), out
    assert "http worker" not in out  # no http source, no such process
    assert "1 stored, 0 duplicate(s), 0 rejected; last " in out
    assert re.search(rf"^app +1 +\d+\.\d\d +0 +\d+s ago +unix:{re.escape(str(short_dir))}/s\.sock", out, re.M), out
    assert re.search(r"^log +0 +0\.00 +0 +never +file:/", out, re.M), out
    assert "(not read yet)" in out
    assert re.search(r"^good +0 +0 +0 +0 +1 +0$", out, re.M), out
    assert re.search(r"^bad +0 +0 +0 +0 +0 +0$", out, re.M), out
    assert out.rstrip().endswith("health: ok")
    assert result.stderr == ""
    # Piped, lines are not padded to the terminal width and cells are not cut (for grep and cut).
    assert [line for line in out.splitlines() if line != line.rstrip()] == []
    assert str(short_dir) + "/s.sock" in out


async def test_the_http_worker_shows_with_http_sources(tmp_path: Path, receiver: Receiver) -> None:
    """A daemon with an http source. Result: status shows the http worker process's pid (the one
    running) and its restarts, in the table and in --json."""
    from tests.test_h23_http_source import github_config

    cfg = github_config(tmp_path, receiver)
    cfg.write_text(cfg.read_text() + 'admin: {listen: "127.0.0.1:0"}\n')
    async with running_daemon(cfg) as daemon:
        human = await hookd_status(["status", "--url", str(daemon.admin_url)])
        doc = orjson.loads((await hookd_status(["status", "--url", str(daemon.admin_url), "--json"])).stdout)
        worker = daemon._http_worker
        assert worker is not None and worker._proc is not None
        pid = worker._proc.pid
    assert human.exit_code == 0, human.output
    assert re.search(rf"^http worker +pid {pid}, 0 restart\(s\) since start *$", plain(human.stdout), re.M)
    assert doc["http_worker"] == {"pid": pid, "restarts": 0}


async def test_json_of_a_degraded_daemon_exits_1(short_dir: Path, receiver: Receiver) -> None:
    receiver.default["/bad"] = Reply(status=422)  # a final 4xx (a 410 would pause the hook instead)
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id="o1")])
        finished = "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')"
        await wait_db(short_dir / "hookd.db", finished, lambda r: r[0][0] == 2)
        result = await hookd_status(["status", "--url", str(daemon.admin_url), "--json"])
        human = await hookd_status(["status", "--url", str(daemon.admin_url)])
    assert result.exit_code == 1, result.output
    doc = orjson.loads(result.stdout)
    assert doc["health"]["status"] == "degraded"
    assert doc["hooks"][1]["name"] == "bad" and doc["hooks"][1]["failed"] == 1
    assert doc["sources"][0]["events_total"] == 1
    assert human.exit_code == 1
    assert "health: degraded\n  - hook 'bad': 1 delivery(ies) failed for good in the last 5 min" in plain(human.stdout)


async def test_token_from_config_env_or_option(short_dir: Path, receiver: Receiver) -> None:
    """1. The daemon's admin listener requires a token; 2. status asks without one, with the config
    that has it, with the env var, and with a wrong --token.
    Result: 1 with a sentence about the token when missing or wrong; 0 otherwise; never the token."""
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg) as daemon:
        url = str(daemon.admin_url)
        missing = await hookd_status(["status", "--url", url])
        from_config = await hookd_status(["status", "--url", url, "-c", str(cfg)])
        from_env = await hookd_status(["status", "--url", url], env={"HOOKD_ADMIN_TOKEN": TOKEN})
        wrong = await hookd_status(["status", "--url", url, "-c", str(cfg), "--token", "not-the-token-0123456789"])
    assert missing.exit_code == 1
    assert plain(missing.stderr).strip() == (
        f"error: the admin listener at {url} requires a token (401); pass it with --token or HOOKD_ADMIN_TOKEN, "
        "or -c the config that sets admin.token"
    )
    assert from_config.exit_code == 0, from_config.output
    assert from_env.exit_code == 0, from_env.output
    assert wrong.exit_code == 1
    assert f"the admin listener at {url} refused the token (401)" in plain(wrong.stderr)
    for r in (missing, from_config, from_env, wrong):
        assert TOKEN not in r.output


async def test_exit_3_when_no_daemon_answers() -> None:
    port = closed_port()
    result = await hookd_status(["status", "--url", f"127.0.0.1:{port}"])
    assert result.exit_code == 3
    message = plain(result.stderr)
    assert message.startswith(f"error: no hookd answers at http://127.0.0.1:{port} (")
    assert message.rstrip().endswith("is `hookd serve` running with this config?")
    assert result.stdout == ""


async def test_url_comes_from_the_config(tmp_path: Path) -> None:
    port = closed_port()
    cfg = write_config(tmp_path, f'version: 1\nadmin: {{listen: "127.0.0.1:{port}"}}\n')
    result = await hookd_status(["status", "-c", str(cfg)])
    assert result.exit_code == 3
    assert f"no hookd answers at http://127.0.0.1:{port} (" in plain(result.stderr)


def test_admin_url_for_wildcard_and_ipv6_listen_addresses(tmp_path: Path) -> None:
    wildcard = write_config(tmp_path, f"version: 1\nadmin: {{listen: '0.0.0.0:8799', token: '{TOKEN}'}}\n")
    assert client.admin_url(load_config(wildcard)) == "http://127.0.0.1:8799"
    ipv6 = write_config(tmp_path, "version: 1\nadmin: {listen: '[::1]:8799'}\n")
    assert client.admin_url(load_config(ipv6)) == "http://[::1]:8799"


async def test_config_with_port_0_or_without_admin_needs_url(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    port0 = write_config(tmp_path / "a", 'version: 1\nadmin: {listen: "127.0.0.1:0"}\n')
    result = await hookd_status(["status", "-c", str(port0)])
    assert result.exit_code == 2
    assert "uses port 0, so only the daemon knows its port" in plain(result.stderr)
    assert "--url" in plain(result.stderr)
    none = write_config(tmp_path / "b", "version: 1\n")
    result = await hookd_status(["status", "-c", str(none)])
    assert result.exit_code == 2
    assert "has no admin section, so `hookd serve` does not start the admin listener" in plain(result.stderr)


async def test_missing_config_is_exit_2(tmp_path: Path) -> None:
    result = await hookd_status(["status", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in plain(result.stderr)
    assert "or --url" in plain(result.stderr)


async def test_something_else_on_the_port_is_not_hookd(receiver: Receiver) -> None:
    result = await hookd_status(["status", "--url", receiver.url("/")])
    assert result.exit_code == 1
    assert "answered HTTP 200, not hookd's status; is --url hookd's admin listener?" in plain(result.stderr)
