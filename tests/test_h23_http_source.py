"""The http source end to end: real requests at a real daemon, signed as the senders sign, delivered
to a real receiver; what is stored and what is refused."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import orjson
import pytest

from hookd.daemon import Daemon
from hookd.sources.http_intake import HttpSourceProxy as HttpSource
from tests.conftest import Receiver, Reply, daemon_config, db_rows, running_daemon, wait_db, wait_until
from tests.manual_clock import ManualClock

SECRET = "gh-secret-0123456789"


def github_headers(body: bytes, *, event: str = "push", delivery: str = "d-1", secret: str = SECRET) -> dict[str, str]:
    """As GitHub signs a delivery: HMAC-SHA256 of the body, hex, after `sha256=`."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
    }


def source_url(daemon: Daemon, path: str, name: str | None = None) -> str:
    source = next(s for s in daemon.sources if isinstance(s, HttpSource) and (name is None or s.name == name))
    return f"http://127.0.0.1:{source.port}{path}"


@asynccontextmanager
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def github_config(d: Path, receiver: Receiver, *, source_extra: str = "", hooks: str | None = None) -> Path:
    hooks = (
        hooks
        or f"""
          - name: tenant-orders
            events: ["github.*"]
            url: {receiver.url("/out")}
            payload:
              tenant: "{{{{ request.params.tenant }}}}"
              action: "{{{{ data.action }}}}"
              kind: "{{{{ type }}}}"
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
            {source_extra}
        hooks:
        {hooks}
        """,
    )


async def test_a_signed_request_is_stored_answered_and_delivered_with_its_path_params(
    tmp_path: Path, receiver: Receiver
) -> None:
    """1. A GitHub-signed POST at /hooks/acme/github; 2. the same delivery again (GitHub retries).
    Result: 202 with the event id (the delivery id GitHub sent), then 200 duplicate; the receiver gets
    one request whose template read request.params and the body; the stored request keeps the signature
    header (it can be forwarded) and the verdict names the scheme and the secret."""
    async with running_daemon(github_config(tmp_path, receiver)) as daemon:
        body = json.dumps({"action": "opened", "number": 7}).encode()
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            async with http.post(url, data=body, headers=github_headers(body, delivery="g-42")) as r:
                assert r.status == 202
                assert await r.json() == {"id": "g-42"}
            async with http.post(url, data=body, headers=github_headers(body, delivery="g-42")) as r:
                assert r.status == 200
                assert await r.json() == {"id": "g-42", "duplicate": True}
        await receiver.wait_count(1, "/out")
    assert receiver.at("/out")[0].json() == {"tenant": "acme", "action": "opened", "kind": "github.push"}
    ((request, raw, verdict),) = db_rows(tmp_path / "hookd.db", "SELECT request, raw_body, verification FROM inbound")
    stored = orjson.loads(request)  # type: ignore[arg-type]
    assert stored["method"] == "POST" and stored["path"] == "/hooks/acme/github"
    assert stored["params"] == {"tenant": "acme"}
    assert stored["headers"]["x-github-delivery"] == "g-42"
    assert raw == body
    assert orjson.loads(verdict)["scheme"] == "github"  # type: ignore[arg-type]
    assert orjson.loads(verdict)["secret"] == 0  # type: ignore[arg-type]
    assert len(db_rows(tmp_path / "hookd.db", "SELECT id FROM events")) == 1


async def test_a_bad_signature_is_401_and_a_rejection_never_an_event(tmp_path: Path, receiver: Receiver) -> None:
    """1. A request whose body was changed after signing; 2. one with no signature header.
    Result: 401 each, with the reason; both listed as rejections (caller, method, path, reason), no
    event stored, nothing delivered."""
    async with running_daemon(github_config(tmp_path, receiver)) as daemon:
        body = b'{"action": "opened"}'
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            async with http.post(url, data=body + b" ", headers=github_headers(body)) as r:
                assert r.status == 401
                assert "signature" in (await r.json())["error"]
            async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 401
                assert "X-Hub-Signature-256" in (await r.json())["error"]
        await wait_db(tmp_path / "hookd.db", "SELECT count(*) FROM rejected", lambda rows: rows[0][0] == 2)
    rows = db_rows(tmp_path / "hookd.db", "SELECT source, position, reason, excerpt FROM rejected ORDER BY id")
    assert [r[0] for r in rows] == ["github", "github"]
    assert all(r[1] == "127.0.0.1 POST /hooks/acme/github" for r in rows)
    assert all(str(r[2]).startswith("401: ") for r in rows)
    assert all(r[3] in (b"", None) for r in rows)  # never the body
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM events") == [(0,)]
    assert receiver.at("/out") == []


async def test_addresses_methods_paths_and_sizes_are_refused_before_the_body_is_read(
    tmp_path: Path, receiver: Receiver
) -> None:
    """An http source allowing 10.0.0.0/8 only, behind a trusted proxy at 127.0.0.1.
    Result: a direct call from 127.0.0.1 is 403; one whose X-Forwarded-For ends in 10.1.2.3 passes to
    verification (401 unsigned); an X-Forwarded-For naming 10.1.2.3 left of an untrusted hop is 403;
    GET is 405 with Allow; an unknown path 404; /healthz 200; a declared body over max_event_size 413."""
    extra = "allow_ips: [10.0.0.0/8]\n            trusted_proxies: [127.0.0.1/32]\n            max_event_size: 1KB"
    async with running_daemon(github_config(tmp_path, receiver, source_extra=extra)) as daemon:
        url = source_url(daemon, "/hooks/acme/github")
        async with client() as http:
            async with http.post(url, data=b"{}") as r:
                assert r.status == 403
            async with http.post(url, data=b"{}", headers={"X-Forwarded-For": "10.1.2.3"}) as r:
                assert r.status == 401
            async with http.post(url, data=b"{}", headers={"X-Forwarded-For": "10.1.2.3, 203.0.113.9"}) as r:
                assert r.status == 403
            async with http.get(url, headers={"X-Forwarded-For": "10.1.2.3"}) as r:
                assert r.status == 405
                assert r.headers["Allow"] == "POST"
            async with http.post(source_url(daemon, "/nowhere"), data=b"{}") as r:
                assert r.status == 404
            async with http.get(source_url(daemon, "/healthz")) as r:
                assert r.status == 200
            async with http.post(url, data=b"x" * 2000, headers={"X-Forwarded-For": "10.1.2.3"}) as r:
                assert r.status == 413


async def test_a_body_over_the_limit_without_a_length_is_refused_while_reading(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A chunked body (no Content-Length) that goes past max_event_size. Result: 413, nothing stored."""
    async with running_daemon(github_config(tmp_path, receiver, source_extra="max_event_size: 1KB")) as daemon:
        url = source_url(daemon, "/hooks/acme/github")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"y" * 512

        async with client() as http, http.post(url, data=chunks()) as r:
            assert r.status == 413
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM events") == [(0,)]


async def test_a_client_that_sends_its_headers_too_slowly_gets_408(tmp_path: Path, receiver: Receiver) -> None:
    """A connection that sends half a request line and stops. Result: after read_timeout, 408 and the
    connection closes (it holds nothing for longer)."""
    async with running_daemon(github_config(tmp_path, receiver, source_extra="read_timeout: 200ms")) as daemon:
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
        writer.write(b"POST /hooks/acme/github HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408")


async def test_sync_mode_relays_the_receivers_answer(tmp_path: Path, receiver: Receiver) -> None:
    """A sync source with one hook; the receiver answers 201 with a JSON body of its own.
    Result: the caller gets 201, the receiver's content type and body, and the event id in a header."""
    receiver.on("/out", Reply(status=201, headers={"Content-Type": "application/json"}, body=b'{"order": "A-1"}'))
    hooks = f"""
          - name: relay
            events: ["*"]
            url: {receiver.url("/out")}
    """
    cfg = github_config(tmp_path, receiver, source_extra="response: {mode: sync, timeout: 5s}", hooks=hooks)
    async with running_daemon(cfg) as daemon:
        body = b'{"action": "opened"}'
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            async with http.post(url, data=body, headers=github_headers(body, delivery="s-1")) as r:
                assert r.status == 201
                assert r.headers["Content-Type"].startswith("application/json")
                assert await r.read() == b'{"order": "A-1"}'
                assert r.headers["X-Hookd-Event-Id"] == "s-1"


async def test_sync_mode_summarises_several_deliveries_and_lists_the_failed(tmp_path: Path, receiver: Receiver) -> None:
    """A sync source with two hooks, one of whose receivers answers 500.
    Result: 502 with a summary: one delivered (its status and body), one retrying (its status); the
    failed one goes on being retried after the answer."""
    receiver.on("/bad", Reply(status=500, body=b"down"))
    hooks = f"""
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
          - name: bad
            events: ["*"]
            url: {receiver.url("/bad")}
            retry: {{max_attempts: 3, initial_delay: 10ms, max_delay: 20ms, jitter: false}}
    """
    cfg = github_config(tmp_path, receiver, source_extra="response: {mode: sync, timeout: 5s}", hooks=hooks)
    async with running_daemon(cfg) as daemon:
        body = b'{"action": "opened"}'
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            async with http.post(url, data=body, headers=github_headers(body, delivery="s-2")) as r:
                assert r.status == 502
                summary = await r.json()
        await receiver.wait_count(2, "/bad")
    states = {d["hook"]: (d["state"], d["response"]["status"]) for d in summary["deliveries"]}
    assert states == {"good": ("delivered", 200), "bad": ("retrying", 500)}


async def test_sync_mode_answers_504_when_receivers_are_slow_and_keeps_delivering(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A sync source whose receiver holds its answer past response.timeout (on the test's clock).
    Result: 504 naming the delivery as still sending; the delivery completes afterwards."""
    hold = asyncio.Event()
    receiver.on("/out", Reply(hold=hold))
    hooks = f"""
          - name: slow
            events: ["*"]
            url: {receiver.url("/out")}
    """
    clock = ManualClock(start=time.time())
    cfg = github_config(tmp_path, receiver, source_extra="response: {mode: sync, timeout: 5s}", hooks=hooks)
    async with running_daemon(cfg, clock=clock) as daemon:
        body = b'{"action": "opened"}'
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            request = asyncio.ensure_future(http.post(url, data=body, headers=github_headers(body, delivery="s-3")))
            await receiver.wait_count(1, "/out")
            clock.advance(6)
            async with await request as r:
                assert r.status == 504
                assert (await r.json())["deliveries"] == [{"hook": "slow", "state": "sending", "response": None}]
            hold.set()
        await wait_db(tmp_path / "hookd.db", "SELECT state FROM deliveries", lambda rows: rows == [("delivered",)])


async def test_forward_sends_the_raw_body_so_the_providers_signature_still_verifies(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A hook with forward: {body: raw, headers: [x-hub-signature-256, x-github-event]}.
    Result: the receiver gets the bytes GitHub sent (whitespace and key order kept) and GitHub's
    signature header, which verifies with GitHub's secret."""
    hooks = f"""
          - name: relay
            events: ["github.*"]
            url: {receiver.url("/fwd")}
            forward: {{body: raw, headers: [x-hub-signature-256, x-github-event]}}
    """
    async with running_daemon(github_config(tmp_path, receiver, hooks=hooks)) as daemon:
        body = b'{ "zeta": 1,  "alpha": [1, 2] }'
        async with client() as http:
            url = source_url(daemon, "/hooks/acme/github")
            async with http.post(url, data=body, headers=github_headers(body, delivery="f-1")) as r:
                assert r.status == 202
        await receiver.wait_count(1, "/fwd")
    got = receiver.at("/fwd")[0]
    assert got.body == body
    headers = {k.lower(): v for k, v in got.headers.items()}  # names go as stored: lower case
    assert headers["x-github-event"] == "push"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-hub-signature-256"], expected)
    assert got.headers["Content-Type"] == "application/json"


async def test_one_hookd_receives_what_another_signs_with_standard_webhooks(tmp_path: Path, receiver: Receiver) -> None:
    """Two daemons: the first signs its deliveries (signing: standard) and sends them to the second's
    http source (verify: standard, same secret); the second delivers to the receiver.
    Result: the event arrives through both with its id and type; a second daemon with another secret
    would refuse it (covered by the verify tests)."""
    from hookd.keys import generate_secret

    secret = generate_secret()
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    cfg_b = daemon_config(
        tmp_path / "b",
        f"""
        sources:
          - name: upstream
            type: http
            listen: 127.0.0.1:0
            path: /in
            verify: {{type: standard, secret: "{secret}"}}
        hooks:
          - name: out
            events: ["*"]
            url: {receiver.url("/final")}
        """,
    )
    async with running_daemon(cfg_b) as b:
        cfg_a = daemon_config(
            tmp_path / "a",
            f"""
            sources:
              - {{name: app, type: socket, path: {tmp_path}/a/s.sock}}
            hooks:
              - name: to-b
                events: ["*"]
                url: {source_url(b, "/in")}
                signing: {{type: standard, secret: "{secret}"}}
            """,
        )
        async with running_daemon(cfg_a):
            from tests.conftest import send_lines

            await send_lines(tmp_path / "a" / "s.sock", [b'{"type": "order.created", "id": "o-1", "data": {"n": 1}}'])
            await receiver.wait_count(1, "/final")
            await wait_until(
                lambda: bool(db_rows(tmp_path / "a" / "hookd.db", "SELECT 1 FROM deliveries WHERE state = 'delivered'"))
            )
    envelope = receiver.at("/final")[0].json()
    assert isinstance(envelope, dict)
    # The second hookd's event is the first one's request: the standard scheme's default type and id
    # are the body's type and the webhook-id header (the first hookd's event id).
    assert envelope["id"] == "o-1"
    assert envelope["type"] == "order.created"
    assert envelope["data"]["data"] == {"n": 1}


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_a_stopping_daemon_answers_503_to_new_requests(tmp_path: Path, receiver: Receiver, mode: str) -> None:
    """Requests that arrive once the daemon has begun to stop. Result: 503 with Retry-After."""
    cfg = github_config(tmp_path, receiver, source_extra=f"response: {{mode: {mode}}}")
    async with running_daemon(cfg) as daemon:
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        await source.stop_reading()
        body = b"{}"
        async with (
            client() as http,
            http.post(source_url(daemon, "/hooks/acme/github"), data=body, headers=github_headers(body)) as r,
        ):
            assert r.status == 503
            assert r.headers["Retry-After"]


async def test_history_shows_the_request_and_the_verdict_and_lists_refusals(tmp_path: Path, receiver: Receiver) -> None:
    """1. A signed request; 2. one at a path no source has; 3. `hookd history show` of the event and
    `hookd history rejections`. Result: show prints the method, path, caller, headers and the verdict
    (never the secret); --json has them as fields; rejections list the 404 under the listener."""
    from tests.cli_helpers import hookd

    cfg = github_config(tmp_path, receiver)
    async with running_daemon(cfg) as daemon:
        body = b'{"action": "closed"}'
        async with client() as http:
            async with http.post(
                source_url(daemon, "/hooks/acme/github"), data=body, headers=github_headers(body, delivery="h-1")
            ) as r:
                assert r.status == 202
            async with http.post(source_url(daemon, "/hooks/wrong"), data=body) as r:
                assert r.status == 404
        await wait_db(tmp_path / "hookd.db", "SELECT count(*) FROM rejected", lambda rows: rows[0][0] == 1)
    shown = await hookd("history", "show", "h-1", "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    assert "POST /hooks/acme/github from 127.0.0.1" in shown.output
    assert "params: tenant=acme" in shown.output
    assert "verified: github, with secret 0 (0 = the newest)" in shown.output
    assert SECRET not in shown.output
    as_json = await hookd("history", "show", "h-1", "-c", str(cfg), "--json")
    event = json.loads(as_json.output)["event"]
    assert event["request"]["params"] == {"tenant": "acme"}
    assert event["verification"]["scheme"] == "github"
    assert event["raw_body_bytes"] == len(body)
    rejections = await hookd("history", "rejections", "-c", str(cfg))
    assert rejections.exit_code == 0, rejections.output
    assert "404: no http source listens on this path" in rejections.output
    assert "127.0.0.1 POST /hooks/wrong" in rejections.output


async def test_handshakes_are_answered_and_never_stored(tmp_path: Path, receiver: Receiver) -> None:
    """A source with a Meta verify_token. 1. Meta's GET subscribe with the right token; 2. with a wrong
    one; 3. Microsoft Graph's validationToken POST. Result: the challenge echoed as text/plain, 403,
    the token echoed; no event stored."""
    extra = "verify: {type: github, secret: " + SECRET + ", verify_token: meta-token-123}"
    cfg = daemon_config(
        tmp_path,
        f"""
        sources:
          - name: meta
            type: http
            listen: 127.0.0.1:0
            path: /meta
            {extra}
        hooks:
          - name: out
            events: ["*"]
            url: {receiver.url("/out")}
        """,
    )
    async with running_daemon(cfg) as daemon:
        url = source_url(daemon, "/meta")
        async with client() as http:
            query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meta-token-123"}
            async with http.get(url, params=query) as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                assert await r.text() == "1158201444"
            async with http.get(url, params={**query, "hub.verify_token": "guess"}) as r:
                assert r.status == 403
                assert "guess" not in await r.text() and "meta-token-123" not in await r.text()
            async with http.post(url, params={"validationToken": "graph-abc"}) as r:
                assert r.status == 200
                assert await r.text() == "graph-abc"
    assert db_rows(tmp_path / "hookd.db", "SELECT count(*) FROM events") == [(0,)]


async def test_a_store_that_cannot_write_is_answered_503_with_retry_after(tmp_path: Path, receiver: Receiver) -> None:
    """The store fails its commit (a full disk). Result: 503 with Retry-After, so the sender keeps the
    event and sends it again; the daemon keeps serving."""
    from hookd.store.sqlite import SQLiteStore

    class FullDisk(SQLiteStore):
        async def ingest(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise OSError(28, "No space left on device")

    async with running_daemon(github_config(tmp_path, receiver), store_type=FullDisk) as daemon:
        body = b'{"action": "opened"}'
        async with client() as http:
            for _ in range(2):
                async with http.post(
                    source_url(daemon, "/hooks/acme/github"), data=body, headers=github_headers(body)
                ) as r:
                    assert r.status == 503
                    assert r.headers["Retry-After"] == "5"


async def test_a_tls_listener_serves_https_with_its_certificate(tmp_path: Path, receiver: Receiver) -> None:
    """An http source with tls: {cert_file, key_file} from a CA made in the test. Result: a client
    trusting that CA gets 202 over HTTPS; the ready address says https."""
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    tls = f"tls: {{cert_file: {tmp_path}/server.pem, key_file: {tmp_path}/server.pem}}"
    async with running_daemon(github_config(tmp_path, receiver, source_extra=tls)) as daemon:
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        assert source.describe().startswith("https://")
        context = ssl.create_default_context()
        ca.configure_trust(context)
        body = b'{"action": "opened"}'
        url = f"https://127.0.0.1:{source.port}/hooks/acme/github"
        async with client() as http, http.post(url, data=body, headers=github_headers(body), ssl=context) as r:
            assert r.status == 202


async def test_sync_templates_shape_the_answer(tmp_path: Path, receiver: Receiver) -> None:
    """A sync source with status, headers and body templates over {event, deliveries}.
    Result: the answer is what the templates render from the event and the receiver's answer."""
    receiver.on("/out", Reply(status=200, body=b'{"ticket": 77}'))
    extra = """response:
              mode: sync
              status: "{{ deliveries[0].response.status }}"
              headers: {X-Order: "{{ event.data.action }}"}
              body:
                received: "{{ event.id }}"
                by: "{{ deliveries[0].hook }}"
                said: "{{ deliveries[0].response.body }}"
    """
    hooks = f"""
          - name: relay
            events: ["*"]
            url: {receiver.url("/out")}
    """
    async with running_daemon(github_config(tmp_path, receiver, source_extra=extra, hooks=hooks)) as daemon:
        body = b'{"action": "opened"}'
        url = source_url(daemon, "/hooks/acme/github")
        async with client() as http, http.post(url, data=body, headers=github_headers(body, delivery="t-1")) as r:
            assert r.status == 200
            assert r.headers["X-Order"] == "opened"
            assert await r.json() == {"received": "t-1", "by": "relay", "said": '{"ticket": 77}'}


async def test_sync_callers_beyond_max_waiting_get_503(tmp_path: Path, receiver: Receiver) -> None:
    """max_waiting: 1 and a receiver that holds its answer. Result: the second caller is told 503 with
    Retry-After (its event not stored); the first gets its answer once the receiver answers."""
    hold = asyncio.Event()
    receiver.on("/out", Reply(hold=hold))
    hooks = f"""
          - name: relay
            events: ["*"]
            url: {receiver.url("/out")}
    """
    extra = "response: {mode: sync, max_waiting: 1}"
    async with running_daemon(github_config(tmp_path, receiver, source_extra=extra, hooks=hooks)) as daemon:
        url = source_url(daemon, "/hooks/acme/github")
        body = b'{"action": "opened"}'
        async with client() as http:
            first = asyncio.ensure_future(http.post(url, data=body, headers=github_headers(body, delivery="w-1")))
            await receiver.wait_count(1, "/out")
            async with http.post(url, data=body, headers=github_headers(body, delivery="w-2")) as r:
                assert r.status == 503
                assert r.headers["Retry-After"] == "1"
            hold.set()
            async with await first as r:
                assert r.status == 200
    assert db_rows(tmp_path / "hookd.db", "SELECT id FROM events") == [("w-1",)]


async def test_a_body_that_stops_arriving_gets_408(tmp_path: Path, receiver: Receiver) -> None:
    """Headers announcing 100 bytes, then 10 of them and nothing more. Result: after read_timeout, 408."""
    async with running_daemon(github_config(tmp_path, receiver, source_extra="read_timeout: 200ms")) as daemon:
        source = next(s for s in daemon.sources if isinstance(s, HttpSource))
        reader, writer = await asyncio.open_connection("127.0.0.1", source.port)
        writer.write(b"POST /hooks/acme/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        async with asyncio.timeout(5):
            status_line = await reader.readline()
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")


async def test_hookd_serve_answers_a_slow_client_408_on_its_own_event_loop(tmp_path: Path, receiver: Receiver) -> None:
    """`hookd serve` as a process (its event loop is uvloop's when installed, whose transports are not
    asyncio's classes): a connection that sends half its headers. Result: 408 and the connection closes,
    and the daemon logs no error."""
    import re

    from tests.conftest import DaemonProcess

    cfg = github_config(tmp_path, receiver, source_extra="read_timeout: 300ms")
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await daemon.wait_for_line("listening")
        port = next(int(m.group(1)) for line in daemon.log if (m := re.search(r"127\.0\.0\.1:(\d+)", line)))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hooks/acme/github HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        assert not any("Traceback" in line or "ERROR" in line for line in daemon.log), daemon.log
    finally:
        await daemon.stop()


async def test_a_compressed_body_is_415_not_inflated(tmp_path: Path, receiver: Receiver) -> None:
    """A gzip body (Content-Encoding: gzip). Result: 415 saying hookd takes bodies uncompressed: a
    signature covers the bytes sent, and a small compressed body could grow past max_event_size."""
    import gzip

    async with running_daemon(github_config(tmp_path, receiver)) as daemon:
        body = gzip.compress(b'{"action": "opened"}' + b" " * 100_000)
        headers = {**github_headers(body), "Content-Encoding": "gzip"}
        url = source_url(daemon, "/hooks/acme/github")
        async with client() as http, http.post(url, data=body, headers=headers) as r:
            assert r.status == 415
            assert "uncompressed" in (await r.json())["error"]


def test_a_sync_summary_is_502_on_a_failed_first_attempt_202_while_queued_else_200() -> None:
    """The status of a sync answer without templates, for each mix of first attempts."""
    from hookd.inbound.sync import FirstAttempt, summary_status

    def of(*states: str) -> int:
        return summary_status([FirstAttempt(f"h{i}", s) for i, s in enumerate(states)])

    assert of() == 200  # the event matched no hook: nothing failed
    assert of("delivered", "delivered") == 200
    assert of("delivered", "queued") == 202
    assert of("queued") == 202
    assert of("delivered", "retrying") == 502
    assert of("queued", "failed") == 502


async def test_a_sync_source_whose_event_matches_no_hook_answers_200(tmp_path: Path, receiver: Receiver) -> None:
    """A sync source, and hooks that do not listen for its events. Result: 200 with an empty summary."""
    hooks = f"""
          - name: elsewhere
            events: ["order.*"]
            url: {receiver.url("/out")}
    """
    cfg = github_config(tmp_path, receiver, source_extra="response: {mode: sync}", hooks=hooks)
    async with running_daemon(cfg) as daemon:
        body = b'{"action": "opened"}'
        url = source_url(daemon, "/hooks/acme/github")
        async with client() as http, http.post(url, data=body, headers=github_headers(body, delivery="n-1")) as r:
            assert r.status == 200
            assert await r.json() == {"id": "n-1", "deliveries": []}


async def test_a_killed_http_worker_is_started_again_and_its_sources_serve(tmp_path: Path, receiver: Receiver) -> None:
    """kill -9 of the http worker process. Result: the sources report failing, a new worker starts
    (the supervisor's pause), and signed requests are stored again; the daemon never stopped. Status
    and metrics show the new worker's pid and one restart."""
    import os
    import signal

    from hookd.sources.http_intake import HttpSourceProxy
    from hookd.supervisor import FIRST_RETRY_S, STABLE_S

    clock = ManualClock(start=time.time())
    async with running_daemon(github_config(tmp_path, receiver), clock=clock) as daemon:
        worker = daemon._http_worker
        assert worker is not None and worker._proc is not None
        first = worker._proc.pid
        assert daemon.http_worker_state() == (first, 0)
        os.kill(worker._proc.pid, signal.SIGKILL)
        await wait_until(lambda: bool(daemon.source_health.failing()))
        await clock.wait_sleeping(FIRST_RETRY_S)  # the supervisor's pause before it starts the source again
        clock.advance(FIRST_RETRY_S)
        await wait_until(lambda: worker.alive)
        await clock.wait_sleeping(STABLE_S)  # failing until it has run this long
        clock.advance(STABLE_S)
        await wait_until(lambda: not daemon.source_health.failing())
        body = b'{"action": "opened"}'
        source = next(s for s in daemon.sources if isinstance(s, HttpSourceProxy))
        url = f"http://127.0.0.1:{source.port}/hooks/acme/github"
        async with client() as http, http.post(url, data=body, headers=github_headers(body, delivery="k-1")) as r:
            assert r.status == 202
        pid, restarts = daemon.http_worker_state() or (None, None)
        assert pid not in (None, first) and restarts == 1
        from hookd.metrics import exposition
        from tests.test_h24_metrics import parse, value

        samples = parse(exposition(daemon, None).decode())
        assert value(samples, "hookd_http_worker_restarts_total") == 1
        assert value(samples, "hookd_http_worker_up") == 1
