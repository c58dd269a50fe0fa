"""Redirects with `follow_redirects: true`: the same request goes to every target, at most
MAX_REDIRECTS hops; credentials stay with the hook's origin; each hop is recorded."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yarl
from typer.testing import CliRunner

import hookd.cli.history  # noqa: F401  (registers the command)
from hookd.cli.app import app
from hookd.senders.base import Hop, OutboundRequest
from hookd.senders.endpoint import EndpointSpec
from hookd.senders.http import MAX_REDIRECTS, HttpSender, _redirect_target
from hookd.senders.worker import WorkerSender
from tests.conftest import (
    Receiver,
    Reply,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)

BODY = b'{"type":"order.created","data":{"id":7}}'
HEADERS = {
    "Content-Type": "application/json",
    "webhook-id": "evt-1",
    "webhook-signature": "v1,c2lnbmF0dXJl",
    "Authorization": "Bearer not-for-other-hosts",
    "Cookie": "session=abc",
    "X-Team": "team-secret-value",
}


# The receivers are on loopback, where the destination guard lets a redirect to another host or port
# go only when the hook allows it (test_h20_guard_* covers the refusal).
LOOPBACK = EndpointSpec(hook="loopback", allow_destinations=("127.0.0.0/8", "::1/128"))


@pytest.fixture
async def sender() -> AsyncIterator[HttpSender]:
    s = HttpSender(endpoints={LOOPBACK.hook: LOOPBACK})
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def post(url: str, **changes: object) -> OutboundRequest:
    request = OutboundRequest(
        method="POST", url=url, headers=HEADERS, body=BODY, timeout_s=5.0, follow_redirects=True, endpoint=LOOPBACK.hook
    )
    for name, value in changes.items():
        setattr(request, name, value)
    return request


def redirect(code: int, location: str) -> Reply:
    return Reply(status=code, headers={"Location": location}, body=b"moved")


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_every_redirect_target_gets_the_same_method_body_and_headers(
    receiver: Receiver, sender: HttpSender, code: int
) -> None:
    receiver.on("/a", redirect(code, "/b"))
    receiver.on("/b", Reply(status=200, body=b"thanks"))

    outcome = await sender.send(post(receiver.url("/a")))

    assert (outcome.ok, outcome.status, outcome.response_excerpt) == (True, 200, "thanks")
    assert [(r.method, r.path, r.body) for r in receiver.requests] == [("POST", "/a", BODY), ("POST", "/b", BODY)]
    for name, value in HEADERS.items():
        assert receiver.requests[1].headers[name] == value  # same origin: everything, credentials too
    assert outcome.hops == (Hop(receiver.url("/a"), code), Hop(receiver.url("/b"), 200))


async def test_a_chain_within_the_limit_is_followed_to_the_end(receiver: Receiver, sender: HttpSender) -> None:
    for i in range(MAX_REDIRECTS):
        receiver.on(f"/r{i}", redirect(302, f"/r{i + 1}"))

    outcome = await sender.send(post(receiver.url("/r0")))

    assert (outcome.ok, outcome.status) == (True, 200)
    assert [r.path for r in receiver.requests] == [f"/r{i}" for i in range(MAX_REDIRECTS + 1)]
    assert {r.method for r in receiver.requests} == {"POST"}
    assert [h.status for h in outcome.hops] == [302] * MAX_REDIRECTS + [200]


async def test_too_many_redirects_is_a_failed_attempt_with_the_reason(receiver: Receiver, sender: HttpSender) -> None:
    for i in range(MAX_REDIRECTS + 1):
        receiver.on(f"/r{i}", redirect(302, f"/r{i + 1}"))

    outcome = await sender.send(post(receiver.url("/r0")))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 302, False)
    assert outcome.error == (
        f"more than {MAX_REDIRECTS} redirects (the last to /r{MAX_REDIRECTS + 1}); the receiver redirects in a loop "
        "or too far: point the hook at the final URL"
    )
    assert [r.path for r in receiver.requests] == [f"/r{i}" for i in range(MAX_REDIRECTS + 1)]
    assert len(outcome.hops) == MAX_REDIRECTS + 1


async def test_a_failure_at_the_target_is_a_failure_not_a_success(receiver: Receiver, sender: HttpSender) -> None:
    receiver.on("/a", redirect(302, "/b"))
    receiver.on("/b", Reply(status=503, body=b"busy"))

    outcome = await sender.send(post(receiver.url("/a")))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 503, True)
    assert outcome.error == "HTTP 503 (after 1 redirect(s))"
    assert outcome.hops == (Hop(receiver.url("/a"), 302), Hop(receiver.url("/b"), 503))


async def test_a_target_that_does_not_answer_is_a_retryable_failure(receiver: Receiver, sender: HttpSender) -> None:
    dead = "http://127.0.0.1:9/gone"  # the discard port: nothing listens there
    receiver.on("/a", redirect(307, dead))

    outcome = await sender.send(post(receiver.url("/a")))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, None, True)
    assert outcome.error.startswith("cannot connect to 127.0.0.1:9") and outcome.error.endswith("(after 1 redirect(s))")
    assert outcome.hops == (Hop(receiver.url("/a"), 307), Hop(dead, None))


async def test_a_redirect_without_location_is_not_followed_and_fails(receiver: Receiver, sender: HttpSender) -> None:
    receiver.on("/a", Reply(status=302, body=b"nowhere"))

    outcome = await sender.send(post(receiver.url("/a")))

    assert (outcome.ok, outcome.status, outcome.retryable) == (False, 302, False)
    assert "without a Location is not a redirect hookd follows" in outcome.error
    assert outcome.hops == ()


async def test_credentials_do_not_follow_a_redirect_to_another_origin(receiver: Receiver, sender: HttpSender) -> None:
    """1. The hook's URL is on 127.0.0.1; its receiver redirects to `localhost` (another host).
    2. The target gets the method, body, signature and plain headers, but no Authorization, no
       Cookie, and no header whose value came from a secret (X-Team here); neither does a hop that
       comes back to the first origin."""
    other = yarl.URL(receiver.url("/b")).with_host("localhost")
    back = receiver.url("/c")
    receiver.on("/a", redirect(302, str(other)))
    receiver.on("/b", redirect(302, back))

    outcome = await sender.send(post(receiver.url("/a"), private_headers=frozenset({"X-Team"})))

    assert outcome.ok, outcome.error
    first, to_other, came_back = receiver.requests
    assert {"Authorization", "Cookie", "X-Team"} <= set(first.headers)
    for later in (to_other, came_back):
        assert (later.method, later.body) == ("POST", BODY)
        assert later.headers["webhook-signature"] == HEADERS["webhook-signature"]
        assert later.headers["webhook-id"] == "evt-1"
        assert not {"Authorization", "Cookie", "X-Team"} & set(later.headers)


def test_https_to_http_and_odd_locations_are_refused() -> None:
    base = yarl.URL("https://example.test/in")

    assert _redirect_target(base, "/next", 1)[0] == yarl.URL("https://example.test/next")
    target, reason = _redirect_target(base, "http://example.test/in", 1)
    assert target is None and reason.startswith("refusing the redirect from https to http://example.test/in")
    target, reason = _redirect_target(base, "ftp://example.test/in", 1)
    assert target is None and "not to an http:// or https:// URL" in reason
    target, reason = _redirect_target(base, "/next", MAX_REDIRECTS + 1)
    assert target is None and reason.startswith(f"more than {MAX_REDIRECTS} redirects")


async def test_the_worker_process_follows_redirects_the_same_way(receiver: Receiver) -> None:
    receiver.on("/a", redirect(303, "/b"))
    sender = WorkerSender()
    await sender.start()
    try:
        outcome = await sender.send(post(receiver.url("/a")))
    finally:
        await sender.close()

    assert (outcome.ok, outcome.status) == (True, 200)
    assert [(r.method, r.path, r.body) for r in receiver.requests] == [("POST", "/a", BODY), ("POST", "/b", BODY)]
    assert outcome.hops == (Hop(receiver.url("/a"), 303), Hop(receiver.url("/b"), 200))


async def test_history_shows_each_hop_and_the_final_url(short_dir: Path, receiver: Receiver) -> None:
    """1. A hook with follow_redirects: true whose receiver answers 302, then 308, then 200.
    2. The daemon records one delivered attempt; `hookd history show` lists both redirects with
       their statuses and the final URL, and --json has them as `hops` and `final_url`."""
    receiver.on("/a", redirect(302, "/b"))
    receiver.on("/b", redirect(308, "/c"))
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: moved, events: ["*"], url: "{receiver.url("/a")}", follow_redirects: true}}
        """,
    )
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id="e1", data={"n": 1})])
        await wait_db(short_dir / "hookd.db", "SELECT state FROM deliveries", lambda r: r == [("delivered",)])

    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/a"), ("POST", "/b"), ("POST", "/c")]
    assert len({r.body for r in receiver.requests}) == 1
    runner = CliRunner()
    shown = await asyncio.to_thread(runner.invoke, app, ["history", "show", "e1", "-c", str(cfg)])
    assert shown.exit_code == 0, shown.output
    text = re.sub(r"\s+", " ", shown.stdout)
    assert f"redirects 302 {receiver.url('/a')} 308 {receiver.url('/b')} 200 {receiver.url('/c')}" in text
    assert f"final URL {receiver.url('/c')}" in text
    as_json = await asyncio.to_thread(runner.invoke, app, ["history", "show", "e1", "-c", str(cfg), "--json"])
    [attempt] = json.loads(as_json.stdout)["deliveries"][0]["attempts"]
    assert attempt["final_url"] == receiver.url("/c")
    assert [(h["url"], h["status"]) for h in attempt["hops"]] == [
        (receiver.url("/a"), 302),
        (receiver.url("/b"), 308),
        (receiver.url("/c"), 200),
    ]
