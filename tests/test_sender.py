"""HttpSender against a real aiohttp server on 127.0.0.1 (port 0, an already-bound socket), and redaction.

The receiver's handlers are chosen per path. The slow handler waits on an asyncio.Event that the
fixture sets at teardown, so a timeout test never sleeps and never leaves a handler hanging.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hookd.redact import REDACTED, is_secret_name, redact_headers, redact_text, redact_url
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.http import RESPONSE_EXCERPT_BYTES, HttpSender, is_retryable_status
from tests.conftest import Received


@dataclass
class Receiver:
    server: TestServer
    received: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, *, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self.server.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    recv = Receiver(server)

    async def record(request: web.Request) -> None:
        recv.received.append(Received(request.method, request.path_qs, dict(request.headers), await request.read()))

    async def status(request: web.Request) -> web.Response:
        await record(request)
        code = int(request.match_info["code"])
        headers = {k[len("h-") :]: v for k, v in request.query.items() if k.startswith("h-")}
        return web.Response(status=code, text=request.query.get("text", f"status {code}"), headers=headers)

    async def big(request: web.Request) -> web.Response:
        await record(request)
        size = int(request.match_info["size"])
        return web.Response(body=b"a" * RESPONSE_EXCERPT_BYTES + b"b" * (size - RESPONSE_EXCERPT_BYTES))

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query.get("to", "/status/200"))

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await recv.release.wait()
        return web.Response(text="too late")

    app.router.add_route("*", "/status/{code}", status)
    app.router.add_route("*", "/big/{size}", big)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_route("*", "/slow", slow)
    await server.start_server()
    try:
        yield recv
    finally:
        recv.release.set()
        await server.close()


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    s = HttpSender(user_agent="hookd-test")
    try:
        yield s
    finally:
        await s.close()


def request(url: str, **changes: object) -> OutboundRequest:
    fields: dict[str, object] = {
        "method": "POST",
        "url": url,
        "headers": {"Content-Type": "application/json"},
        "body": b'{"id":"e1"}',
        "timeout_s": 5.0,
    }
    fields.update(changes)
    return OutboundRequest(**fields)  # type: ignore[arg-type]


def free_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- responses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [200, 201, 202, 204])
async def test_2xx_is_ok(receiver: Receiver, sender: HttpSender, code: int) -> None:
    outcome = await sender.send(request(receiver.url(f"/status/{code}")))

    assert (outcome.status, outcome.ok, outcome.retryable, outcome.error, outcome.retry_after_s) == (
        code,
        True,
        False,
        "",
        None,
    )
    assert outcome.response_excerpt == ("" if code == 204 else f"status {code}")
    assert outcome.duration_s >= 0.0


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_5xx_is_retryable(receiver: Receiver, sender: HttpSender, code: int) -> None:
    outcome = await sender.send(request(receiver.url(f"/status/{code}?text=busy")))

    assert outcome == Outcome(
        status=code,
        ok=False,
        retryable=True,
        duration_s=outcome.duration_s,
        error=f"HTTP {code}",
        retry_after_s=None,
        response_excerpt="busy",
        response_headers=outcome.response_headers,
    )
    assert outcome.response_headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("code", [408, 425, 429, 503])
async def test_retryable_status_with_retry_after_seconds(receiver: Receiver, sender: HttpSender, code: int) -> None:
    outcome = await sender.send(request(receiver.url(f"/status/{code}?h-Retry-After=120")))

    assert (outcome.status, outcome.ok, outcome.retryable, outcome.retry_after_s) == (code, False, True, 120.0)
    assert outcome.error == f"HTTP {code}"
    assert outcome.response_headers["retry-after"] == "120"


async def test_retry_after_as_an_http_date_in_the_past_means_now(receiver: Receiver, sender: HttpSender) -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"

    outcome = await sender.send(request(receiver.url(f"/status/429?h-Retry-After={date}")))

    assert (outcome.retryable, outcome.retry_after_s) == (True, 0.0)


@pytest.mark.parametrize("value", ["soon", "²"])
async def test_unreadable_retry_after_is_ignored(receiver: Receiver, sender: HttpSender, value: str) -> None:
    outcome = await sender.send(request(receiver.url(f"/status/429?h-Retry-After={value}")))

    assert (outcome.status, outcome.retryable, outcome.retry_after_s) == (429, True, None)


@pytest.mark.parametrize("code", [400, 401, 404, 410, 422])
async def test_other_4xx_are_final(receiver: Receiver, sender: HttpSender, code: int) -> None:
    outcome = await sender.send(request(receiver.url(f"/status/{code}?h-Retry-After=5")))

    assert (outcome.status, outcome.ok, outcome.retryable, outcome.retry_after_s) == (code, False, False, None)
    assert outcome.error == f"HTTP {code} (a 4xx other than 408, 425 and 429 is not retried)"
    assert outcome.response_excerpt == f"status {code}"


def test_is_retryable_status() -> None:
    assert [c for c in (200, 301, 400, 404, 408, 409, 425, 429, 499, 500, 501, 599) if is_retryable_status(c)] == [
        408,
        425,
        429,
        500,
        501,
        599,
    ]


# -- redirects ------------------------------------------------------------------------------------


async def test_a_redirect_is_not_followed_by_default(receiver: Receiver, sender: HttpSender) -> None:
    outcome = await sender.send(request(receiver.url("/redirect?to=/status/200")))

    assert (outcome.status, outcome.ok, outcome.retryable) == (302, False, False)
    assert outcome.error == (
        "HTTP 302 redirect to /status/200 not followed; point the hook at the final URL, or set follow_redirects: true"
    )
    assert outcome.response_headers["location"] == "/status/200"
    assert [r.path for r in receiver.received] == ["/redirect?to=/status/200"]


async def test_a_redirect_is_followed_when_asked(receiver: Receiver, sender: HttpSender) -> None:
    outcome = await sender.send(request(receiver.url("/redirect?to=/status/201"), follow_redirects=True))

    assert (outcome.status, outcome.ok, outcome.response_excerpt) == (201, True, "status 201")
    assert [r.path for r in receiver.received] == ["/redirect?to=/status/201", "/status/201"]


async def test_a_redirect_location_with_credentials_is_redacted(receiver: Receiver, sender: HttpSender) -> None:
    target = "http://bob:hunter2@127.0.0.1:9/in?token=abc"

    outcome = await sender.send(request(receiver.url("/redirect?to=" + quote(target, safe=""))))

    assert (outcome.status, outcome.retryable) == (302, False)
    assert outcome.error == (
        "HTTP 302 redirect to http://***@127.0.0.1:9/in?token=*** not followed; point the hook at the final URL, "
        "or set follow_redirects: true"
    )


# -- failures without a response ------------------------------------------------------------------


async def test_connection_refused_is_retryable(sender: HttpSender) -> None:
    port = free_port()

    outcome = await sender.send(request(f"http://127.0.0.1:{port}/hook"))

    assert (outcome.status, outcome.ok, outcome.retryable, outcome.retry_after_s) == (None, False, True, None)
    assert outcome.error.startswith(f"cannot connect to 127.0.0.1:{port}: ")


async def test_a_slow_receiver_times_out_and_is_retryable(receiver: Receiver, sender: HttpSender) -> None:
    outcome = await sender.send(request(receiver.url("/slow"), timeout_s=0.2))

    assert outcome == Outcome(status=None, ok=False, retryable=True, duration_s=outcome.duration_s,
                              error="timed out after 0.2s (hook timeout)", kind="timeout")  # fmt: skip
    assert len(receiver.received) == 1  # it did arrive; the answer did not


async def test_credentials_in_the_url_never_appear_in_errors(receiver: Receiver, sender: HttpSender) -> None:
    userinfo = "alice:s3cr3t-pa55"
    port = free_port()
    outcomes = [
        await sender.send(request(f"http://{userinfo}@127.0.0.1:{port}/hook?api_key=k3y-value")),
        await sender.send(request(receiver.url("/slow", userinfo=userinfo), timeout_s=0.2)),
        await sender.send(request(receiver.url("/status/500", userinfo=userinfo))),
        await sender.send(request(receiver.url("/status/401", userinfo=userinfo))),
        await sender.send(request(receiver.url("/redirect", userinfo=userinfo))),
        await sender.send(request(f"http://{userinfo}@/no-host")),
    ]

    assert [o.status for o in outcomes] == [None, None, 500, 401, 302, None]
    assert all(o.error for o in outcomes)
    for outcome in outcomes:
        assert "s3cr3t-pa55" not in outcome.error
        assert "k3y-value" not in outcome.error
    # The credentials still reach the receiver, as HTTP basic auth.
    assert receiver.received[-1].headers["Authorization"] == "Basic YWxpY2U6czNjcjN0LXBhNTU="


# -- what is sent, what is kept -------------------------------------------------------------------


async def test_method_headers_and_body_arrive_as_sent(receiver: Receiver, sender: HttpSender) -> None:
    body = b'{"id":"e1","type":"order.created","data":{"amount":120}}'
    headers = {
        "Content-Type": "application/cloudevents+json",
        "X-Hookd-Signature": "sha256=abc123",
        "X-Event-Id": "e1",
    }

    outcome = await sender.send(request(receiver.url("/status/200"), method="PUT", headers=headers, body=body))

    assert outcome.ok
    [got] = receiver.received
    assert (got.method, got.path, got.body) == ("PUT", "/status/200", body)
    assert {k: got.headers[k] for k in headers} == headers
    assert got.headers["User-Agent"] == "hookd-test"
    assert got.headers["Content-Length"] == str(len(body))


async def test_no_content_type_is_invented(receiver: Receiver, sender: HttpSender) -> None:
    await sender.send(request(receiver.url("/status/200"), headers={}, body=b"raw"))

    [got] = receiver.received
    assert "Content-Type" not in got.headers
    assert got.body == b"raw"


@pytest.mark.parametrize("size", [RESPONSE_EXCERPT_BYTES + 10, 200_000])
async def test_the_response_excerpt_is_capped(receiver: Receiver, sender: HttpSender, size: int) -> None:
    outcome = await sender.send(request(receiver.url(f"/big/{size}")))

    assert outcome.ok
    assert outcome.response_excerpt == "a" * RESPONSE_EXCERPT_BYTES
    assert outcome.response_headers["content-length"] == str(size)
    # The connection is still usable (or replaced) for the next request.
    assert (await sender.send(request(receiver.url("/status/200")))).ok


async def test_close_is_idempotent(receiver: Receiver) -> None:
    sender = HttpSender()
    await sender.close()  # never started
    assert (await sender.send(request(receiver.url("/status/200")))).ok

    await sender.close()
    await sender.close()


# -- redaction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/hook", "https://example.com/hook"),
        ("https://bob:hunter2@example.com:8443/hook", "https://***@example.com:8443/hook"),
        ("https://token-only@example.com/hook", "https://***@example.com/hook"),
        (
            "https://example.com/hook?token=abc&page=2&api_key=k&Signature=s&x=",
            "https://example.com/hook?token=***&page=2&api_key=***&Signature=***&x=",
        ),
        ("https://u:p@example.com/p?password=pw#frag", "https://***@example.com/p?password=***#frag"),
        ("http://[::1", "<invalid url>"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_headers() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "X-Api-Key": "k",
        "Cookie": "session=1",
        "X-Hub-Signature-256": "sha256=00",
        "X-Auth-Token": "t",
        "Content-Type": "application/json",
        "X-Event-Id": "e1",
    }

    assert redact_headers(headers) == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "Cookie": REDACTED,
        "X-Hub-Signature-256": REDACTED,
        "X-Auth-Token": REDACTED,
        "Content-Type": "application/json",
        "X-Event-Id": "e1",
    }
    assert (is_secret_name("PASSWORD"), is_secret_name("Accept")) == (True, False)


def test_redact_text_replaces_the_url_and_the_password() -> None:
    url = "https://bob:hunter2@example.com/hook?token=abc"

    assert redact_text(f"POST {url} failed", url) == "POST https://***@example.com/hook?token=*** failed"
    assert redact_text("login hunter2 refused", url) == "login *** refused"
    assert redact_text("nothing secret", "") == "nothing secret"


async def test_cookies_a_receiver_sets_are_not_sent_back(receiver: Receiver, sender: HttpSender) -> None:
    """A webhook sender is not a browser: a cookie from one answer must not ride on later deliveries
    (to this hook, or another hook on the same host)."""
    # By host name: aiohttp's default cookie jar ignores cookies from bare IP addresses.
    setting = receiver.url("/status/200?h-Set-Cookie=" + quote("session=abc; Path=/")).replace("127.0.0.1", "localhost")

    first = await sender.send(request(setting))
    second = await sender.send(request(receiver.url("/status/200").replace("127.0.0.1", "localhost")))

    assert first.ok and second.ok
    assert [r.headers.get("Cookie") for r in receiver.received] == [None, None]
