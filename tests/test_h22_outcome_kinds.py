"""Each outcome carries its kind beside the prose (issue 22: the worker reports what happened; the daemon
classifies per hook and preset, keying off the kind, never the message text). Real requests to a
loopback receiver, through the HttpSender and through the delivery worker process (the kind crosses
its pipe)."""

from __future__ import annotations

import pytest

from hookd.senders.base import Outcome
from hookd.senders.http import HttpSender
from hookd.senders.messages import Answer, decode, encode
from hookd.senders.worker import WorkerSender
from tests.test_h20_guard_sender import deliver, templated
from tests.test_sender import Receiver, free_port, receiver, request, sender  # noqa: F401 (fixtures)


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/status/200", "delivered"), ("/status/503", "http_status"), ("/status/404", "http_status"),
     ("/redirect", "redirect")],
)  # fmt: skip
async def test_an_answer_has_its_kind(receiver: Receiver, sender: HttpSender, path: str, kind: str) -> None:  # noqa: F811
    assert (await sender.send(request(receiver.url(path)))).kind == kind


async def test_no_answer_has_its_kind(receiver: Receiver, sender: HttpSender) -> None:  # noqa: F811
    assert (await sender.send(request(receiver.url("/slow"), timeout_s=0.2))).kind == "timeout"
    assert (await sender.send(request(f"http://127.0.0.1:{free_port()}/x"))).kind == "connect"
    assert (await sender.send(request("http://[bad/x"))).kind == "invalid_request"


async def test_a_destination_refused_by_the_guard_is_refused(receiver: Receiver) -> None:  # noqa: F811
    outcome = await deliver(templated(receiver, "127.0.0.1"))  # type: ignore[arg-type]
    assert (outcome.kind, outcome.retryable) == ("refused", False)


def test_the_kind_crosses_the_workers_pipe() -> None:
    outcome = Outcome(status=None, ok=False, retryable=True, duration_s=0.1, error="TLS error: x", kind="tls")
    answer = decode(encode(Answer(7, outcome)))
    assert isinstance(answer, Answer) and answer.outcome.kind == "tls"


async def test_the_worker_reports_the_kind(receiver: Receiver) -> None:  # noqa: F811
    worker = WorkerSender(max_connections=4, user_agent="hookd-test")
    try:
        assert (await worker.send(request(receiver.url("/status/502")))).kind == "http_status"
        assert (await worker.send(request(f"http://127.0.0.1:{free_port()}/x"))).kind == "connect"
    finally:
        await worker.close()
