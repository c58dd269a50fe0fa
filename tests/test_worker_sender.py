"""WorkerSender: the HTTP sender in a real child process, against a real receiver on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookd.errors import StartupError
from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.worker import WorkerSender
from tests.conftest import FAILSAFE_S, Receiver, Reply, process_alive


@pytest.fixture
async def sender() -> AsyncIterator[WorkerSender]:
    s = WorkerSender(max_connections=4, user_agent="hookd/test")
    await s.start()
    try:
        yield s
    finally:
        await s.close()


def request(url: str, *, body: bytes = b'{"a":1}', method: str = "POST", timeout_s: float = 5.0) -> OutboundRequest:
    return OutboundRequest(
        method=method,
        url=url,
        headers={"Content-Type": "application/json", "webhook-id": "evt-1", "Authorization": "Bearer s3cret"},
        body=body,
        timeout_s=timeout_s,
    )


async def test_a_request_goes_out_from_the_worker_process_as_given(sender: WorkerSender, receiver: Receiver) -> None:
    receiver.on("/in", Reply(202, headers={"X-Seen": "yes", "Server": "rcv"}, body=b"thanks"))
    outcome = await sender.send(request(receiver.url("/in")))
    assert sender.pid is not None and sender.pid != os.getpid()
    assert outcome.ok and outcome.status == 202 and not outcome.retryable
    assert outcome.response_excerpt == "thanks"
    assert outcome.response_headers["server"] == "rcv"
    (got,) = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/in", b'{"a":1}')
    assert got.headers["webhook-id"] == "evt-1"
    assert got.headers["Authorization"] == "Bearer s3cret"
    assert got.headers["User-Agent"] == "hookd/test"
    assert got.headers["Content-Type"] == "application/json"


async def test_failures_are_classified_as_in_process(sender: WorkerSender, receiver: Receiver) -> None:
    receiver.on("/busy", Reply(503, headers={"Retry-After": "7"}))
    receiver.on("/gone", Reply(410))
    busy, gone_, refused = await asyncio.gather(
        sender.send(request(receiver.url("/busy"))),
        sender.send(request(receiver.url("/gone"))),
        sender.send(request("http://127.0.0.1:9/nothing-listens")),
    )
    assert (busy.status, busy.ok, busy.retryable, busy.retry_after_s) == (503, False, True, 7.0)
    assert (gone_.status, gone_.retryable) == (410, False)
    assert refused.status is None and refused.retryable and "cannot connect to 127.0.0.1:9" in refused.error


async def test_many_concurrent_requests_each_get_their_own_answer(sender: WorkerSender, receiver: Receiver) -> None:
    for i in range(40):
        receiver.on(f"/r{i}", Reply(200 + i % 3, body=f"answer {i}".encode()))
    outcomes = await asyncio.gather(*(sender.send(request(receiver.url(f"/r{i}"))) for i in range(40)))
    assert [(o.status, o.response_excerpt) for o in outcomes] == [(200 + i % 3, f"answer {i}") for i in range(40)]


async def held_request(sender: WorkerSender, receiver: Receiver) -> tuple[asyncio.Event, asyncio.Future[Outcome], int]:
    """A request the receiver has got but answers only once the returned event is set; and the
    pid of the worker that sent it."""
    hold = asyncio.Event()
    receiver.on("/held", Reply(200, hold=hold))
    pid = sender.pid
    assert pid is not None
    in_flight = asyncio.ensure_future(sender.send(request(receiver.url("/held"))))
    await receiver.wait_count(1)
    return hold, in_flight, pid


async def cancelled(in_flight: asyncio.Future[Outcome]) -> None:
    """Cancel a send and check that the caller sees the cancel (no outcome slips through)."""
    in_flight.cancel()
    with pytest.raises(asyncio.CancelledError):
        await in_flight


async def test_a_worker_that_dies_fails_its_requests_retryably_and_is_replaced(
    sender: WorkerSender, receiver: Receiver
) -> None:
    hold, in_flight, first_pid = await held_request(sender, receiver)
    os.kill(first_pid, signal.SIGKILL)
    outcome = await asyncio.wait_for(in_flight, FAILSAFE_S)
    hold.set()
    assert outcome.status is None and not outcome.ok and outcome.retryable
    assert "delivery worker process exited with status -9 before answering" in outcome.error
    after = await sender.send(request(receiver.url("/next")))
    assert after.ok
    assert sender.pid not in (None, first_pid)
    assert sender.restarts == 1


async def test_the_worker_ignores_sigint_and_sigterm(sender: WorkerSender, receiver: Receiver) -> None:
    """Ctrl-C and service managers signal the whole process group; the daemon decides when the
    worker stops, so in-flight requests get the grace period."""
    hold, in_flight, pid = await held_request(sender, receiver)
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.2)
    hold.set()
    outcome = await asyncio.wait_for(in_flight, FAILSAFE_S)
    assert outcome.ok and sender.pid == pid
    assert (await sender.send(request(receiver.url("/after")))).ok
    assert process_alive(pid) and sender.pid == pid and sender.restarts == 0


async def test_close_cancels_what_is_in_flight_and_the_worker_exits(receiver: Receiver) -> None:
    s = WorkerSender()
    await s.start()
    hold, in_flight, pid = await held_request(s, receiver)
    try:
        await cancelled(in_flight)
        await asyncio.wait_for(s.close(), FAILSAFE_S)  # not held up by the receiver
        assert not process_alive(pid)
        assert s.pid is None
    finally:
        hold.set()
        await s.close()


async def test_a_cancelled_request_is_cancelled_in_the_worker_and_frees_its_connection(receiver: Receiver) -> None:
    """One connection: the next request can only go out once the worker dropped the cancelled one,
    which the receiver still holds unanswered."""
    s = WorkerSender(max_connections=1)
    await s.start()
    hold, in_flight, pid = await held_request(s, receiver)
    try:
        await cancelled(in_flight)
        after = await asyncio.wait_for(s.send(request(receiver.url("/after"))), FAILSAFE_S)
        assert after.ok and s.pid == pid and s.restarts == 0
        assert [r.path for r in receiver.requests] == ["/held", "/after"]
    finally:
        hold.set()
        await s.close()


async def test_requests_beyond_the_connection_limit_wait_for_a_free_lane(receiver: Receiver) -> None:
    s = WorkerSender(max_connections=2)
    await s.start()
    try:
        outcomes = await asyncio.gather(*(s.send(request(receiver.url(f"/q{i}"))) for i in range(12)))
    finally:
        await s.close()
    assert all(o.ok for o in outcomes)
    assert sorted(r.path for r in receiver.requests) == sorted(f"/q{i}" for i in range(12))


async def test_an_internal_error_in_the_worker_is_logged_here_and_retryable(
    sender: WorkerSender, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL that is not a string makes the sender fail in a way it does not expect (a bug): the worker
    answers anyway, and its log record reaches the daemon's log."""
    bad = request(receiver.url("/x"))
    bad.url = None  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="hookd"):
        outcome = await sender.send(bad)
    assert outcome.retryable
    assert outcome.error.startswith("internal error: TypeError: ")
    (logged,) = [r for r in caplog.records if r.name == "hookd.senders.worker"]
    assert "internal error while sending" in logged.getMessage()
    # The worker's traceback, for the bug report: beside the message, so each log format places it.
    assert "Traceback (most recent call last)" in str(logged.exc_text)
    assert "Traceback" not in logged.getMessage()
    assert receiver.requests == []


async def test_a_request_aiohttp_cannot_build_is_a_final_failure_without_a_traceback(
    sender: WorkerSender, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp refuses a method that is not an HTTP token with ValueError: the same request fails the
    same way every time, so it is final, with aiohttp's reason and nothing logged as a bug."""
    with caplog.at_level(logging.ERROR, logger="hookd"):
        outcome = await sender.send(request(receiver.url("/x"), method="BAD METHOD"))
    assert not outcome.retryable
    assert outcome.error.startswith("cannot build the request: Method cannot contain non-token")
    assert [r for r in caplog.records if r.name == "hookd.senders.worker"] == []
    assert receiver.requests == []


async def test_a_worker_that_cannot_start_is_a_startup_error(tmp_path: Path) -> None:
    s = WorkerSender(python="/bin/false")
    with pytest.raises(StartupError, match=r"worker process did not start: it exited with status 1 before it was"):
        await s.start()
    await s.close()


async def test_a_send_while_no_worker_can_start_is_a_retryable_failure(tmp_path: Path) -> None:
    s = WorkerSender(python="/bin/false")
    try:
        outcome = await s.send(request("http://127.0.0.1:9/"))
    finally:
        await s.close()
    assert outcome.retryable and outcome.status is None
    assert "the delivery worker process is not running" in outcome.error
