"""Idle clients cannot use up the daemon's open files: a socket source serves at most max_connections
at once, tells one more why and closes it, and serves again once a connection ends (found by an
attacker review: 1,100 idle connections left no client, nor `hookd status`, able to connect)."""

from __future__ import annotations

import asyncio
import logging
import resource
from pathlib import Path

import orjson
import pytest

from hookd.runtime import raise_open_files_limit
from hookd.sources.socket import SocketSource
from tests.conftest import FAILSAFE_S, event_line, running_daemon, send_lines, socket_config


async def test_one_connection_over_the_cap_is_told_and_closed(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """1. A socket source serving at most 3 connections; 3 clients connect and stay idle. 2. A fourth
    connects. 3. One idle client leaves; a fifth sends an event.
    Result: the fourth gets one error line and end of file, with one warning logged; the fifth is
    served."""
    cfg = socket_config(
        short_dir,
        """
        """,
    )
    sock = str(short_dir / "s.sock")
    async with running_daemon(cfg) as daemon:
        [source] = daemon.sources
        assert isinstance(source, SocketSource)
        source.max_connections = 3
        idle = [await asyncio.open_unix_connection(sock) for _ in range(3)]
        # An answered line proves each connection is being served before the next one comes.
        for reader, writer in idle:
            writer.write(event_line() + b"\n")
            await writer.drain()
            assert orjson.loads(await reader.readline())["ok"] is True
        with caplog.at_level(logging.WARNING, logger="hookd"):
            reader, writer = await asyncio.open_unix_connection(sock)
            async with asyncio.timeout(FAILSAFE_S):
                answer = orjson.loads(await reader.readline())
                assert await reader.read() == b""
            writer.close()
        assert answer == {"ok": False, "error": "too many connections (3 open); try again later"}
        assert [r.getMessage() for r in caplog.records if "refusing connections" in r.getMessage()] != []
        _, first = idle.pop()
        first.close()
        await first.wait_closed()
        async with asyncio.timeout(FAILSAFE_S):
            while source.open_connections >= 3:
                await asyncio.sleep(0.01)
        [reply] = await send_lines(short_dir / "s.sock", [event_line(id="after")])
        assert reply == {"ok": True, "id": "after"}
        for _, w in idle:
            w.close()


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and hard > 64:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        limit = raise_open_files_limit()
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert limit == now
        assert now == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
