"""What an attacker tried against the http source, each now refused or contained: a header that is
not UTF-8, a token echoed into a sync answer, an id squatted from another source, forwarded headers
passing for hookd's own, guessed handshake tokens, malformed HTTP, bodies that grow as events, and
slow uploads filling the body budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from hookd.sources.http_intake import HttpSourceProxy
from hookd.sources.http_listener import BodyBudget
from tests.cli_helpers import hookd
from tests.conftest import Receiver, Reply, daemon_config, db_rows, running_daemon, wait_db
from tests.test_h23_http_source import SECRET, client, github_headers, source_url

OPEN = """
          - name: open
            type: http
            listen: 127.0.0.1:0
            path: /open
"""


def two_sources(d: Path, receiver: Receiver, hooks: str | None = None) -> Path:
    hooks = (
        hooks
        or f"""
          - name: out
            events: ["*"]
            url: {receiver.url("/out")}
    """
    )
    return daemon_config(
        d,
        f"""
        sources:
          - name: github
            type: http
            listen: 127.0.0.1:0
            path: /hooks/{{tenant}}/github
            verify: {{type: github, secret: {SECRET}}}
        {OPEN}
        hooks:
        {hooks}
        """,
    )


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    async with asyncio.timeout(5):
        status = await reader.readline()
    writer.close()
    return status


async def test_a_header_that_is_not_utf8_is_400_and_the_others_stored_beside_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Requests with a header byte 0xFF arriving with good ones. Result: each bad one 400 naming the
    header; every good one stored (one bad request once failed the commit it shared with them)."""
    async with running_daemon(two_sources(tmp_path, receiver)) as daemon:
        port = next(s for s in daemon.sources if isinstance(s, HttpSourceProxy)).port
        bad = b"POST /open HTTP/1.1\r\nHost: x\r\nX-Poison: \xff\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"

        async def good(i: int) -> int:
            async with client() as http, http.post(source_url(daemon, "/open"), data=b"{}") as r:
                return r.status

        answers = await asyncio.gather(*(raw_request(port, bad) for _ in range(5)), *(good(i) for i in range(20)))
    assert all(a.startswith(b"HTTP/1.1 400") for a in answers[:5])  # type: ignore[union-attr]
    assert answers[5:] == [202] * 20
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM events") == [(20,)]
    rows = db_rows(tmp_path / "hookd.db", "SELECT reason FROM rejected")
    assert any("the header x-poison holds bytes that are not UTF-8" in str(r[0]) for r in rows)


async def test_a_token_the_worker_fetched_is_hidden_in_a_relayed_answer(tmp_path: Path, receiver: Receiver) -> None:
    """A sync source whose hook gets an OAuth2 token, and a receiver that echoes the request it got.
    Result: the caller's relayed answer has the token hidden."""
    token = "fetched-access-token-7f3a9c1e5b"
    receiver.default["/token"] = Reply(
        headers={"Content-Type": "application/json"},
        body=json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).encode(),
    )
    receiver.on("/echo", Reply(body=f'{{"you_sent": "Authorization: Bearer {token}"}}'.encode()))
    hooks = f"""
          - name: echo
            events: ["*"]
            url: {receiver.url("/echo")}
            auth: {{type: oauth2, token_url: "{receiver.url("/token")}", client_id: c, client_secret: s-0123456789}}
    """
    cfg = daemon_config(
        tmp_path,
        f"""
        sources:
          - name: open
            type: http
            listen: 127.0.0.1:0
            path: /open
            response: {{mode: sync}}
        hooks:
        {hooks}
        """,
    )
    async with (
        running_daemon(cfg) as daemon,
        client() as http,
        http.post(source_url(daemon, "/open"), data=b"{}") as r,
    ):
        assert r.status == 200
        text = await r.text()
    assert token not in text
    assert "Bearer ***" in text


async def test_an_id_another_source_stored_is_a_conflict_not_a_duplicate(tmp_path: Path, receiver: Receiver) -> None:
    """An event with id X through an open source, then GitHub's signed delivery with the same id.
    Result: GitHub gets 409 (not 200 duplicate: it would believe it delivered), listed as a rejection
    naming the other source; the same source's retry is still 200 duplicate."""
    async with running_daemon(two_sources(tmp_path, receiver)) as daemon, client() as http:
        squat = {"specversion": "1.0", "type": "a.b", "source": "s", "id": "d-77", "data": {}}
        headers = {"Content-Type": "application/cloudevents+json"}
        async with http.post(source_url(daemon, "/open"), data=json.dumps(squat), headers=headers) as r:
            assert r.status == 202
        body = b'{"action": "opened"}'
        url = source_url(daemon, "/hooks/acme/github")
        async with http.post(url, data=body, headers=github_headers(body, delivery="d-77")) as r:
            assert r.status == 409
        async with http.post(source_url(daemon, "/open"), data=json.dumps(squat), headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["duplicate"] is True
        await wait_db(tmp_path / "hookd.db", "SELECT count(*) FROM rejected", lambda rows: rows[0][0] == 1)
    (reason,) = db_rows(tmp_path / "hookd.db", "SELECT reason FROM rejected")[0]
    assert reason == "409: event id 'd-77' is already stored, from source 'open'"


async def test_forward_never_replaces_hookds_own_headers(tmp_path: Path, receiver: Receiver) -> None:
    """A forward hook listing webhook-id and hookd-attempt among its headers, and a caller sending them.
    Result: the receiver gets hookd's webhook-id (the event id), never the caller's."""
    hooks = f"""
          - name: fwd
            events: ["*"]
            url: {receiver.url("/fwd")}
            forward: {{body: raw, headers: [webhook-id, hookd-attempt, x-kept]}}
    """
    async with running_daemon(two_sources(tmp_path, receiver, hooks)) as daemon, client() as http:
        headers = {"webhook-id": "caller-chosen", "hookd-attempt": "99", "x-kept": "yes"}
        async with http.post(source_url(daemon, "/open"), data=b"{}", headers=headers) as r:
            event_id = (await r.json())["id"]
        await receiver.wait_count(1, "/fwd")
    got = {k.lower(): v for k, v in receiver.at("/fwd")[0].headers.items()}
    assert got["webhook-id"] == event_id
    assert got["hookd-attempt"] == "1"
    assert got["x-kept"] == "yes"


async def test_guessed_handshake_tokens_and_malformed_http_are_listed_rejections(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Meta handshakes with wrong verify_tokens, and a request line with a control character.
    Result: each is a rejection (so guessing leaves a trace), never a traceback in the log."""
    cfg = daemon_config(
        tmp_path,
        f"""
        sources:
          - name: meta
            type: http
            listen: 127.0.0.1:0
            path: /meta
            verify: {{type: github, secret: {SECRET}, verify_token: right-token-123}}
        hooks:
          - {{name: out, events: ["*"], url: "{receiver.url("/out")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        port = next(s for s in daemon.sources if isinstance(s, HttpSourceProxy)).port
        async with client() as http:
            for guess in ("a", "b"):
                params = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": guess}
                async with http.get(source_url(daemon, "/meta"), params=params) as r:
                    assert r.status == 403
        assert (await raw_request(port, b"GET /x\x01?key=SECRET-IN-QUERY HTTP/1.1\r\nHost: x\r\n\r\n"))[9:12] == b"400"
        await wait_db(tmp_path / "hookd.db", "SELECT count(*) FROM rejected", lambda rows: rows[0][0] == 3)
    listed = await hookd("history", "rejections", "-c", str(cfg), "--json")
    reasons = [r["reason"] for r in json.loads(listed.output)["rejections"]]
    assert sum("403: handshake refused" in r for r in reasons) == 2
    assert any(r.startswith("400: the request is not valid HTTP/1.1") for r in reasons)
    assert "SECRET-IN-QUERY" not in listed.output


async def test_a_body_that_grows_past_twice_the_limit_as_an_event_is_413(tmp_path: Path, receiver: Receiver) -> None:
    """A text body of control characters under max_event_size (each is six bytes of JSON). Result:
    413 saying the event would be over twice the limit; nothing stored."""
    cfg = daemon_config(
        tmp_path,
        f"""
        sources:
          - name: open
            type: http
            listen: 127.0.0.1:0
            path: /open
            max_event_size: 10KB
        hooks:
          - {{name: out, events: ["*"], url: "{receiver.url("/out")}"}}
        """,
    )
    async with (
        running_daemon(cfg) as daemon,
        client() as http,
        http.post(source_url(daemon, "/open"), data=b"\x01" * 9000, headers={"Content-Type": "text/plain"}) as r,
    ):
        assert r.status == 413
        assert "over twice" in (await r.json())["error"]
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM events") == [(0,)]


def test_slow_uploads_of_one_caller_cannot_fill_the_body_budget() -> None:
    """The budget's shares: one caller's bodies still arriving hold at most a quarter, all callers'
    three quarters; a body that came whole with its headers may use the rest."""
    budget = BodyBudget(1000)
    assert budget.take(250, "attacker")
    assert not budget.take(1, "attacker")  # its quarter is full
    assert budget.take(250, "b") and budget.take(250, "c")
    assert not budget.take(1, "d")  # three quarters arriving slowly
    assert budget.take(250, "github", whole=True)  # the last quarter: whole bodies
    budget.give_back(250, "attacker")
    assert budget.take(250, "attacker")
