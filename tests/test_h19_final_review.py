"""Found by the last review of the hardening work: the admin listener holds a bounded number of
connections, `replay --status cancelled` does not multiply deliveries, and a URL is recorded and shown
as it was sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson

import hookd.cli.replay
from hookd.redact import Redactor, redact_url
from tests.cli_helpers import hookd
from tests.conftest import FAILSAFE_S, Receiver, daemon_config, event_line, new_database, running_daemon
from tests.test_admin import admin_config


async def test_the_admin_listener_answers_503_over_its_connection_cap(short_dir: Path, receiver: Receiver) -> None:
    """1. The admin listener serves at most 2 connections; 2 clients connect and stay idle. 2. A
    third connects. 3. One idle client leaves. Result: the third is answered 503 and closed; after
    that, /healthz answers again."""
    cfg = admin_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        assert daemon.admin is not None and daemon.admin.url is not None
        daemon.admin.max_connections = 2
        host, port = daemon.admin.url.removeprefix("http://").rsplit(":", 1)
        idle = [await asyncio.open_connection(host, int(port)) for _ in range(2)]
        async with asyncio.timeout(FAILSAFE_S):
            reader, writer = await asyncio.open_connection(host, int(port))
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        _, first = idle.pop()
        first.close()
        await first.wait_closed()
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(FAILSAFE_S):
                while True:
                    async with session.get(f"{daemon.admin.url}/healthz") as response:
                        if response.status == 200:
                            break
                    await asyncio.sleep(0.02)
        for _, w in idle:
            w.close()


async def test_replaying_cancelled_deliveries_twice_does_not_multiply_them(tmp_path: Path) -> None:
    """1. An event from a file gets its first delivery, withdrawn; a replay of it is queued, then
    withdrawn too. 2. `replay --status cancelled --dry-run`. Result: one delivery would be replayed
    (the original and its withdrawn replay stand for one), not two."""
    cfg = daemon_config(
        tmp_path,
        """
        hooks:
          - {name: slow, events: ["*"], url: "http://127.0.0.1:9/"}
        """,
    )
    await new_database(tmp_path / "hookd.db")  # the database a daemon would have made on its first start
    events = tmp_path / "events.jsonl"
    events.write_bytes(event_line(id="e1") + b"\n")
    for args in (("--from-file", str(events)), ("--cancel",), ("--status", "cancelled"), ("--cancel",)):
        result = await hookd("replay", "-c", str(cfg), *args)
        assert result.exit_code == 0, result.output
    dry = await hookd("replay", "-c", str(cfg), "--status", "cancelled", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert [d["event_id"] for d in orjson.loads(dry.stdout)["deliveries"]] == ["e1"]


def test_a_url_is_shown_as_written_with_only_secrets_hidden() -> None:
    assert redact_url("http://h/ok?flag&x=1&a%20b=c%2F") == "http://h/ok?flag&x=1&a%20b=c%2F"
    assert redact_url("http://u:p@h/?token=abc&x=1") == "http://***@h/?token=***&x=1"
    sas = "sv=2024&sig=AbC%2Bdef%2Fghi%3D"
    shown = Redactor([(sas, "${SAS}")]).url(f"http://h/blob?{sas}&x=1")
    assert shown == "http://h/blob?${SAS}&x=1"
