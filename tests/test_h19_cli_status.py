"""`hookd status`: the default config's token with --url, and a closed stdout pipe (`| head`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.cli import admin_target
from tests.cli_helpers import into_a_closed_pipe, plain
from tests.conftest import Receiver, Reply, event_line, running_daemon, send_lines, wait_db
from tests.test_admin import TOKEN, admin_config
from tests.test_cli_status import hookd_status


async def test_url_uses_the_default_configs_token(short_dir: Path, receiver: Receiver) -> None:
    """1. The admin listener (port 0) needs a token, set in the config; 2. `hookd status --url URL`
    without -c, the config being the default one ($HOOKD_CONFIG). Result: the token comes from it, exit 0."""
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg) as daemon:
        result = await hookd_status(["status", "--url", str(daemon.admin_url)], env={"HOOKD_CONFIG": str(cfg)})
    assert result.exit_code == 0, result.output
    assert plain(result.stdout).rstrip().endswith("health: ok")
    assert TOKEN not in result.output


def test_the_default_configs_token_goes_only_to_this_machine(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    monkeypatch.setenv("HOOKD_CONFIG", str(cfg))
    local = admin_target._default_settings("http://127.0.0.1:41237")
    assert local is not None and local.admin.token == TOKEN
    assert admin_target._default_settings("http://localhost:41237") is not None
    assert admin_target._default_settings("http://203.0.113.9:8780") is None


async def test_a_closed_pipe_exits_with_the_health_verdict_and_no_traceback(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. `hookd status | head -3` on a healthy daemon, then on a degraded one. Result: exit 0, then
    1, as if every line had been read; nothing on stderr (no BrokenPipeError)."""
    receiver.default["/bad"] = Reply(status=422)  # a final 4xx (a 410 would pause the hook instead)
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        url = str(daemon.admin_url)
        healthy = await into_a_closed_pipe("status", "--url", url, env={"HOOKD_ADMIN_TOKEN": ""})
        await send_lines(short_dir / "s.sock", [event_line(id="o1")])
        finished = "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')"
        await wait_db(short_dir / "hookd.db", finished, lambda r: r[0][0] == 2)
        degraded = await into_a_closed_pipe("status", "--url", url, env={"HOOKD_ADMIN_TOKEN": ""})
    assert healthy == (0, "")
    assert degraded == (1, "")
