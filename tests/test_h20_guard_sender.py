"""The destination guard in the sender, against real servers on loopback: a templated URL (and any
redirect away from the hook's own host) connects only to public addresses unless the hook's
allow_destinations lists them; a written-out URL is trusted as written. Credentials follow a redirect
only to the same host (an http -> https upgrade of it counts as the same)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from hookd.config.model import HookConfig
from hookd.rendering import render_request
from hookd.router import Router
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import HttpSender, _same_host
from hookd.senders.worker import WorkerSender
from tests.conftest import Receiver, Reply

EVENT = b'{"id":"evt-1","type":"order.created","time":"2024-01-01T00:00:00Z","source":"t","data":{"id":7}}'
LOOPBACK = ("127.0.0.0/8", "::1/128")


async def deliver(url: str, *, allow: tuple[str, ...] = (), follow: bool = False, proxy: str | None = None) -> Outcome:
    """One delivery of EVENT through a hook with this url, rendered and sent as the daemon does."""
    router = Router(
        [HookConfig(name="h", events=("*",), url=url, allow_destinations=allow, follow_redirects=follow, proxy=proxy)]
    )
    request = render_request(router.by_name["h"], "d-1", "evt-1", 1, EVENT, 0.0)
    sender = HttpSender(endpoints=router.endpoints)
    try:
        return await sender.send(request)
    finally:
        await sender.close()


def templated(receiver: Receiver, host: str) -> str:
    assert receiver.server is not None
    return f"http://{host}:{receiver.server.port}/orders/{{{{ data.id }}}}"


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("127.0.0.1", "refused to connect to 127.0.0.1 (loopback)"),
        ("[::ffff:127.0.0.1]", "(loopback: it carries 127.0.0.1)"),
        ("localhost", "refused to connect to localhost at 127.0.0.1 (loopback)"),
    ],
)
async def test_a_templated_url_to_loopback_is_refused_for_good(receiver: Receiver, host: str, says: str) -> None:
    """1. A hook whose templated url points at loopback: the address itself, its IPv4-mapped IPv6
       form, and a name that resolves to it.
    2. The attempt fails for good (not retried) with a reason naming the address and
       allow_destinations, and the receiver never sees a request."""
    outcome = await deliver(templated(receiver, host))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, None, False)
    assert says in outcome.error
    assert "add 127.0.0.1/32 to the hook's allow_destinations" in outcome.error
    assert receiver.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost"])
async def test_allow_destinations_lets_a_templated_url_reach_loopback(receiver: Receiver, host: str) -> None:
    """1. The same hooks, with allow_destinations: [127.0.0.0/8, ::1/128].
    2. Each is delivered, to the rendered path."""
    outcome = await deliver(templated(receiver, host), allow=LOOPBACK)

    assert outcome.ok, outcome.error
    assert [r.path for r in receiver.requests] == ["/orders/7"]


async def test_ipv6_loopback_needs_its_own_entry() -> None:
    """1. A receiver on ::1 and a templated url to [::1]; allow_destinations first only 127.0.0.0/8.
    2. Refused, naming ::1/128; with ::1/128 listed it is delivered."""
    got: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(request.path)
        return web.Response(text="ok")

    async with serving(handle, "::1") as port:
        url = f"http://[::1]:{port}/orders/{{{{ data.id }}}}"
        refused = await deliver(url, allow=("127.0.0.0/8",))
        allowed = await deliver(url, allow=("::1/128",))

    assert (refused.ok, refused.retryable) == (False, False)
    assert "refused to connect to ::1 (loopback)" in refused.error and "add ::1/128" in refused.error
    assert allowed.ok, allowed.error
    assert got == ["/orders/7"]


async def test_a_written_out_url_to_loopback_is_trusted_as_written(receiver: Receiver) -> None:
    """1. A hook whose url is written out and points at loopback, following a redirect to a path of
       the same host and port.
    2. Delivered as before the guard: the config names that receiver."""
    receiver.on("/a", Reply(status=307, headers={"Location": "/b"}))

    outcome = await deliver(receiver.url("/a"), follow=True)

    assert outcome.ok, outcome.error
    assert [r.path for r in receiver.requests] == ["/a", "/b"]


async def test_a_redirect_from_a_written_out_url_to_loopback_is_refused(receiver: Receiver) -> None:
    """1. A written-out url whose receiver redirects elsewhere on loopback: another port of the same
       address, and the name localhost.
    2. The redirect is refused for good with the reason (the receiver picked that address, not the
       config), the hop is recorded, and the target never sees a request; with allow_destinations
       the same chain is delivered."""
    async with serving_receiver_on("127.0.0.1") as other:
        receiver.on("/a", Reply(status=302, headers={"Location": other.url("/b")}))
        receiver.on("/c", Reply(status=302, headers={"Location": other.url("/b").replace("127.0.0.1", "localhost")}))

        to_port = await deliver(receiver.url("/a"), follow=True)
        to_name = await deliver(receiver.url("/c"), follow=True)
        assert other.requests == []

        receiver.on("/a", Reply(status=302, headers={"Location": other.url("/b")}))
        allowed = await deliver(receiver.url("/a"), allow=LOOPBACK, follow=True)
        assert [r.path for r in other.requests] == ["/b"]

    assert (to_port.ok, to_port.retryable) == (False, False)
    assert to_port.error.startswith("refused to connect to 127.0.0.1 (loopback)")
    assert to_port.error.endswith("allow_destinations (after 1 redirect(s))")
    assert [h.status for h in to_port.hops] == [302, None]
    assert "refused to connect to localhost at 127.0.0.1 (loopback)" in to_name.error
    assert allowed.ok, allowed.error


async def test_an_allowed_address_that_does_not_answer_is_retried() -> None:
    """1. A guarded request to an allowed loopback port where nothing listens.
    2. An ordinary connection failure, retried: the guard refused nothing."""
    dead = "http://127.0.0.1:9/orders/{{ data.id }}"

    outcome = await deliver(dead, allow=LOOPBACK)

    assert (outcome.ok, outcome.retryable) == (False, True)
    assert outcome.error.startswith("cannot connect to 127.0.0.1:9")


# --- credentials across redirects -------------------------------------------------------------

HEADERS = {
    "Content-Type": "application/json",
    "Authorization": "Bearer for-this-host-only",
    "webhook-signature": "v1,c2lnbmF0dXJl",
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def worker(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WorkerSender]:
    """The daemon's delivery worker, trusting the test's CA as OpenSSL does (SSL_CERT_FILE), with an
    endpoint that allows loopback for the redirects the guard checks."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    sender = WorkerSender(endpoints={"h": EndpointSpec(hook="h", allow_destinations=LOOPBACK)})
    await sender.start()
    try:
        yield sender
    finally:
        await sender.close()


def post(url: str) -> OutboundRequest:
    return OutboundRequest(
        method="POST", url=url, headers=HEADERS, body=b"{}", timeout_s=10.0, follow_redirects=True, endpoint="h"
    )


async def test_an_upgrade_to_https_on_another_port_is_another_service(
    receiver: Receiver, ca: trustme.CA, worker: WorkerSender
) -> None:
    """1. http://127.0.0.1:P/a redirects to https://127.0.0.1:Q/b: the same host upgraded to https,
       but on another port than https's own.
    2. The https receiver gets the body and the signature, not Authorization: another port is
       another service, whatever the scheme (only 80 -> 443 counts as the same endpoint)."""
    async with serving_tls(ca) as tls:
        receiver.on("/a", Reply(status=308, headers={"Location": tls.url("/b")}))
        outcome = await worker.send(post(receiver.url("/a")))

    assert outcome.ok, outcome.error
    [got] = tls.requests
    assert "Authorization" not in got.headers
    assert got.headers["webhook-signature"] == HEADERS["webhook-signature"]


@pytest.mark.parametrize(
    ("first", "target", "same"),
    [
        ("http://shop.example/a", "https://shop.example/b", True),  # 80 -> 443: the site-wide upgrade
        ("http://shop.example:80/a", "https://shop.example:443/b", True),
        ("http://shop.example:8080/a", "https://shop.example:8443/b", False),
        ("http://shop.example/a", "https://shop.example:8443/b", False),
        ("https://shop.example/a", "https://shop.example/b", True),
        ("https://shop.example/a", "https://shop.example:8443/b", False),
        ("https://shop.example/a", "https://api.shop.example/b", False),
    ],
)
def test_which_redirects_stay_with_the_hooks_own_endpoint(first: str, target: str, same: bool) -> None:
    """The rule credentials and the client certificate follow: the same host, scheme and port, or
    http on 80 upgraded to https on 443."""
    assert _same_host(URL(first), URL(target)) is same


@pytest.mark.parametrize("other", ["https://localhost:{port}/b", "http://127.0.0.1:{plain}/b"])
async def test_credentials_do_not_follow_to_another_host_or_port(
    receiver: Receiver, ca: trustme.CA, worker: WorkerSender, other: str
) -> None:
    """1. http://127.0.0.1:P/a redirects to another host (https://localhost:Q) or to another port
       of the same host over plain http.
    2. The target gets the body and the signature header, not Authorization."""
    async with serving_tls(ca) as tls, serving_receiver_on("127.0.0.1") as plain:
        assert tls.server is not None and plain.server is not None
        target = other.format(port=tls.server.port, plain=plain.server.port)
        receiver.on("/a", Reply(status=307, headers={"Location": target}))
        outcome = await worker.send(post(receiver.url("/a")))
        [got] = tls.requests + plain.requests

    assert outcome.ok, outcome.error
    assert got.body == b"{}" and got.headers["webhook-signature"] == HEADERS["webhook-signature"]
    assert "Authorization" not in got.headers


# --- servers --------------------------------------------------------------------------------------


@asynccontextmanager
async def serving(handle: Callable[[web.Request], Awaitable[web.StreamResponse]], host: str) -> AsyncIterator[int]:
    """`handle` served on `host`, port 0; yields the port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serving_receiver_on(host: str, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    """A Receiver (tests.conftest) on `host`, over https when given a server context."""
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host=host, port=0, scheme="https" if ssl_context else "http")
    await server.start_server(ssl=ssl_context)
    rec.server = server
    try:
        yield rec
    finally:
        await server.close()


@asynccontextmanager
async def serving_tls(ca: trustme.CA) -> AsyncIterator[Receiver]:
    """A receiver on https://127.0.0.1 with a certificate for 127.0.0.1 and localhost from `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with serving_receiver_on("127.0.0.1", context) as rec:
        yield rec
