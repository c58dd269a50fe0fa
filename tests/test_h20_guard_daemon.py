"""Templated URLs through a real daemon (its delivery worker included) to a real receiver: what the
receiver gets, what history records for each attempt, and the failures the guard and allow_hosts
make, as permanent failures with their reason."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from typer.testing import CliRunner

import hookd.cli.test_cmd  # noqa: F401  (registers the command)
from hookd.cli.app import app
from tests.conftest import db_rows, event_line, running_daemon, send_lines, socket_config, wait_db

TOKEN = "tok-3f9a1c7e52d04b8b"  # a secret in the url's query: never recorded


@pytest.fixture
async def raw_receiver() -> AsyncIterator[tuple[int, list[str]]]:
    """A receiver on 127.0.0.1 that records each request's path and query exactly as sent (not
    decoded). Yields its port and that list."""
    got: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(request.raw_path)
        return web.Response(text="ok")

    server = web.Server(handle)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1]), got
    finally:
        await runner.cleanup()


def config(directory: Path, port: int) -> Path:
    return socket_config(
        directory,
        f"""
        hooks:
          - name: orders
            events: [order.created]
            url: "http://127.0.0.1:{port}/orders/{{{{ data.p }}}}?next={{{{ data.a }}}}&token=${{ORDERS_TOKEN}}"
            allow_destinations: [127.0.0.0/8]
          - name: guarded
            events: [order.created]
            # A name (validate refuses a written-out loopback address here): the guard finds it at run time.
            url: "http://localhost:{port}/guarded/{{{{ data.id }}}}"
            retry: {{max_attempts: 5}}
          - name: shops
            events: [shop.*]
            url: "http://{{{{ data.host }}}}:{port}/shop"
            allow_hosts: [localhost, "*.shop.example"]
            allow_destinations: [127.0.0.0/8, "::1/128"]
            retry: {{max_attempts: 5}}
        """,
    )


async def test_event_data_stays_in_the_path_and_history_shows_the_url_used(
    short_dir: Path, raw_receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A templated url filled with `@10.0.0.5/` in the path and `../admin` in the query, plus a
       ${...} secret in the query; loopback allowed for it.
    2. The receiver gets both values percent-encoded inside their segment and parameter; history
       records that URL for the attempt, with the secret hidden."""
    port, got = raw_receiver
    monkeypatch.setenv("ORDERS_TOKEN", TOKEN)
    cfg = config(short_dir, port)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(
            short_dir / "s.sock", [event_line(id="e1", data={"p": "@10.0.0.5/", "a": "../admin", "id": 7})]
        )
        await wait_db(db, "SELECT state FROM deliveries WHERE hook = 'orders'", lambda r: r == [("delivered",)])

    assert f"/orders/%4010.0.0.5%2F?next=..%2Fadmin&token={TOKEN}" in got
    [(request,)] = db_rows(db, "SELECT a.request FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                               "WHERE d.hook = 'orders'")  # fmt: skip
    url = json.loads(str(request))["url"]
    assert url.startswith(f"http://127.0.0.1:{port}/orders/%4010.0.0.5%2F?next=..%2Fadmin&token=")
    assert TOKEN not in url


async def test_a_templated_url_to_loopback_fails_for_good_naming_allow_destinations(
    short_dir: Path, raw_receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A templated url on 127.0.0.1 without allow_destinations, with 5 attempts allowed.
    2. One attempt, failed for good, whose error names the address and allow_destinations; the
       receiver never sees it."""
    port, got = raw_receiver
    monkeypatch.setenv("ORDERS_TOKEN", TOKEN)
    cfg = config(short_dir, port)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="e1", data={"p": "x", "a": "y", "id": 7})])
        await wait_db(db, "SELECT state FROM deliveries WHERE hook = 'guarded'", lambda r: r == [("failed",)])

    [(attempts, error)] = db_rows(db, "SELECT attempts, last_error FROM deliveries WHERE hook = 'guarded'")
    assert attempts == 1
    assert str(error).startswith("refused to connect to localhost at 127.0.0.1 (loopback): a templated URL")
    assert "add 127.0.0.1/32 to the hook's allow_destinations" in str(error)
    assert not any(p.startswith("/guarded") for p in got)


async def test_allow_hosts_picks_which_hosts_an_event_may_name(
    short_dir: Path, raw_receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A url whose host is templated, with allow_hosts [localhost, *.shop.example]; one event names
       localhost, one evil.example.
    2. The first is delivered; the second fails for good on its first attempt with the reason naming
       allow_hosts, and nothing is sent for it."""
    port, got = raw_receiver
    monkeypatch.setenv("ORDERS_TOKEN", TOKEN)
    cfg = config(short_dir, port)
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(
            short_dir / "s.sock",
            [
                event_line("shop.order", id="e1", data={"host": "localhost"}),
                event_line("shop.order", id="e2", data={"host": "evil.example"}),
            ],
        )
        await wait_db(
            db, "SELECT state FROM deliveries ORDER BY event_id", lambda r: r == [("delivered",), ("failed",)]
        )

    assert got == ["/shop"]
    [(attempts, error)] = db_rows(db, "SELECT attempts, last_error FROM deliveries WHERE event_id = 'e2'")
    assert attempts == 1
    assert str(error) == (
        "cannot render the request: url: the host 'evil.example' matches none of allow_hosts (localhost, "
        "*.shop.example); the hook sends only to the hosts it lists: add it to allow_hosts if it should get this "
        "hook's requests"
    )


async def test_hookd_test_shows_the_rendered_url(
    short_dir: Path, raw_receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hookd test` prints the URL the event renders (its secret hidden), as the daemon would send it."""
    port, _ = raw_receiver
    monkeypatch.setenv("ORDERS_TOKEN", TOKEN)
    cfg = config(short_dir, port)
    data = json.dumps({"p": "a/b", "a": "c", "id": 1})
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["test", "-c", str(cfg), "--hook", "orders", "--type", "order.created", "--data", data]
    )
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", result.stdout)
    assert f"http://127.0.0.1:{port}/orders/a%2Fb?next=c&token=" in text
    assert TOKEN not in text


async def test_hookd_test_send_is_guarded_and_to_is_trusted_as_written(
    short_dir: Path, raw_receiver: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. `hookd test --send` of the hook whose templated url points at loopback, not allowed.
    2. Refused with the guard's reason (exit 1), nothing received; with `--to` the receiver's URL,
       written by whoever runs the command as a config's url is, it is delivered."""
    port, got = raw_receiver
    monkeypatch.setenv("ORDERS_TOKEN", TOKEN)
    cfg = config(short_dir, port)
    args = ["test", "-c", str(cfg), "--hook", "guarded", "--type", "order.created", "--data", '{"id": 1}', "--send"]
    refused = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert refused.exit_code == 1, refused.output
    assert "refused to connect to localhost at 127.0.0.1 (loopback)" in re.sub(r"\s+", " ", refused.stdout)
    assert got == []

    sent = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--to", f"http://127.0.0.1:{port}/direct"])
    assert sent.exit_code == 0, sent.output
    assert got == ["/direct"]
