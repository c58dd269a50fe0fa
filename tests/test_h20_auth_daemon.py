"""`auth: {type: oauth2}` in a real daemon: tokens are fetched in its delivery worker process, one
for concurrent deliveries; a 401 is answered within the attempt; a token endpoint failure is a
recorded, retried attempt; and a token never reaches the database, history or CLI output, even when
the receiver echoes it."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from typer.testing import CliRunner

import hookd.cli.history  # noqa: F401  (registers the command)
from hookd.cli.app import app
from tests.auth_servers import CLIENT_ID, CLIENT_SECRET, TokenEndpoint, oauth2_servers
from tests.conftest import db_rows, event_line, running_daemon, send_lines, socket_config, wait_db


def config(directory: Path, tokens: TokenEndpoint, url: str, *, retry: str = "{initial_delay: 1h}") -> Path:
    return socket_config(
        directory,
        f"""
        hooks:
          - name: crm
            events: ["*"]
            url: "{url}"
            retry: {retry}
            auth:
              type: oauth2
              token_url: "{tokens.url}"
              client_id: "{CLIENT_ID}"
              client_secret: "{CLIENT_SECRET}"
              scope: webhooks:write
        """,
    )


def database_bytes(directory: Path) -> bytes:
    """The database as it lies on disk: the file and its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("hookd.db*")))


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_twenty_concurrent_deliveries_fetch_one_token(short_dir: Path) -> None:
    """20 events at once to an oauth2 hook while the token endpoint holds its answer: every delivery
    succeeds with the one token, fetched once (by the delivery worker, not per delivery)."""
    hold = asyncio.Event()
    async with oauth2_servers(hold=hold) as (tokens, protected):
        cfg = config(short_dir, tokens, protected.url())
        async with running_daemon(cfg):
            await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(20)])
            await tokens.arrived.wait()
            hold.set()
            await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)] * 20)

    assert len(tokens.fetches) == 1
    assert protected.seen == [f"Bearer {tokens.issued[0]}"] * 20


async def test_a_401_is_answered_with_a_new_token_within_one_attempt(short_dir: Path) -> None:
    """A delivery, then the token endpoint revokes the token; the next delivery gets a 401, and the
    worker fetches a new token and sends again: delivered in one recorded attempt, two fetches."""
    async with oauth2_servers() as (tokens, protected):
        cfg = config(short_dir, tokens, protected.url())
        async with running_daemon(cfg):
            db = short_dir / "hookd.db"
            await send_lines(short_dir / "s.sock", [event_line(id="e1")])
            await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
            tokens.revoke()
            await send_lines(short_dir / "s.sock", [event_line(id="e2")])
            await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("delivered",)] * 2)

        rows = db_rows(db, "SELECT d.event_id, d.attempts, a.status FROM deliveries d JOIN attempts a "
                           "ON a.delivery_id = d.id ORDER BY d.event_id")  # fmt: skip
    assert rows == [("e1", 1, 200), ("e2", 1, 200)]
    assert len(tokens.fetches) == 2
    old, new = tokens.issued
    assert protected.seen == [f"Bearer {old}", f"Bearer {old}", f"Bearer {new}"]


async def test_a_token_endpoint_failure_is_a_recorded_retryable_attempt(short_dir: Path) -> None:
    """The token endpoint answers 500: the delivery stays pending (retried on the hook's schedule),
    its attempt recorded with the reason and no status, and the endpoint got nothing."""
    async with oauth2_servers(failures=[(500, b'{"error": "temporarily_unavailable"}')]) as (tokens, protected):
        cfg = config(short_dir, tokens, protected.url())
        async with running_daemon(cfg):
            db = short_dir / "hookd.db"
            await send_lines(short_dir / "s.sock", [event_line(id="e1")])
            rows = await wait_db(db, "SELECT outcome, status, error FROM attempts", lambda r: len(r) == 1)
        token_url = tokens.url

    assert rows == [
        ("pending", None, f"cannot get an OAuth2 token from {token_url}: HTTP 500 (temporarily_unavailable)")
    ]
    assert db_rows(db, "SELECT state FROM deliveries") == [("pending",)]
    assert protected.seen == []


async def test_an_echoed_token_reaches_neither_the_database_nor_history(short_dir: Path) -> None:
    """The endpoint echoes the Authorization it got in its body and Server header: once answering
    500 (recorded with its excerpt and headers), once 200. No issued token is in the database files'
    bytes, nor in `hookd history show` (text and --json), which shows the header as ***."""
    async with oauth2_servers() as (tokens, protected):
        protected.echo, protected.status = True, 500
        cfg = config(short_dir, tokens, protected.url(), retry="{initial_delay: 1s, max_attempts: 2, jitter: false}")
        async with running_daemon(cfg):
            await send_lines(short_dir / "s.sock", [event_line(id="e1")])
            await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
            protected.status = 200
            await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])

    [token] = tokens.issued
    assert protected.seen == [f"Bearer {token}"] * 2  # the real token went out, twice
    stored = database_bytes(short_dir)
    assert b"Bearer ***" in stored  # the echo is stored, hidden
    for part in (token, token[-24:]):
        assert part.encode() not in stored
    text = await asyncio.to_thread(cli, "history", "show", "e1", "-c", str(cfg))
    as_json = await asyncio.to_thread(cli, "history", "show", "e1", "-c", str(cfg), "--json")
    assert token not in text and token not in as_json
    assert re.search(r"Authorization: \*\*\*", text), text
    attempts = json.loads(as_json)["deliveries"][0]["attempts"]
    assert [a["request"]["headers"]["Authorization"] for a in attempts] == ["***", "***"]
    assert "Bearer ***" in attempts[0]["response_excerpt"]
