"""`hookd history rejections`: refused socket lines and http requests, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from hookd.sources.http_intake import HttpSourceProxy as HttpSource
from tests.cli_helpers import hookd
from tests.conftest import Receiver, daemon_config, running_daemon, send_lines, wait_db


async def test_rejections_list_socket_lines_and_http_requests_newest_first(short_dir: Path, receiver: Receiver) -> None:
    """1. A socket line that is not an event; 2. an unsigned POST at an http source with verify.
    Result: both listed, newest first, with source, where and reason; --source keeps one; --json has the
    line's excerpt and none for the request (its body is never kept); a window without any says so."""
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: app, type: socket, path: {short_dir}/s.sock}}
          - name: gitlab
            type: http
            listen: 127.0.0.1:0
            path: /gitlab
            verify: {{type: gitlab, secret: gitlab-token-0123456789}}
        hooks:
          - {{name: out, events: ["*"], url: "{receiver.url("/out")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [b'{"data": {}}'])
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        url = f"http://127.0.0.1:{source.port}/gitlab"
        async with aiohttp.ClientSession() as http, http.post(url, data=b'{"secret": "body"}') as r:
            assert r.status == 401
        await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM rejected", lambda rows: rows[0][0] == 2)
    listed = await hookd("history", "rejections", "-c", str(cfg))
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if "gitlab" in line or "app" in line]
    assert "gitlab" in lines[0] and "401: X-Gitlab-Token is missing" in lines[0]
    assert "127.0.0.1 POST /gitlab" in lines[0]
    assert "app" in lines[1] and '"type" is missing' in lines[1]
    only = await hookd("history", "rejections", "-c", str(cfg), "--source", "gitlab", "--json")
    rows = json.loads(only.output)["rejections"]
    assert [r["source"] for r in rows] == ["gitlab"]
    assert rows[0]["excerpt"] is None
    every = json.loads((await hookd("history", "rejections", "-c", str(cfg), "--json")).output)["rejections"]
    assert every[1]["excerpt"] == '{"data": {}}'
    none = await hookd("history", "rejections", "-c", str(cfg), "--since", "2999-01-01T00:00:00Z")
    assert none.exit_code == 0
    assert "no rejections since" in none.output
