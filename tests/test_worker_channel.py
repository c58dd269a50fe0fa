"""Channel: the framing between the daemon and its delivery worker, on a real socketpair."""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.messages import Answer, Cancel, Message, Send, decode, encode
from hookd.workers.channel import Channel, open_channel
from tests.conftest import FAILSAFE_S


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.frames = 0
        self.arrived = asyncio.Event()

    def receive(self, messages: list[Message]) -> None:
        self.frames += 1
        self.messages += messages
        self.arrived.set()

    async def until(self, count: int) -> None:
        while len(self.messages) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), FAILSAFE_S)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Channel, Channel, Inbox]]:
    ours, theirs = socket.socketpair()
    inbox = Inbox()
    sending = await open_channel(ours, lambda messages: None, encode, decode)
    receiving = await open_channel(theirs, inbox.receive, encode, decode)
    try:
        yield sending, receiving, inbox
    finally:
        sending.close()
        receiving.close()


def rids(messages: list[Message]) -> list[int]:
    return [m.rid for m in messages if isinstance(m, Send | Cancel | Answer)]


def send(rid: int, body: bytes = b"{}") -> Send:
    request = OutboundRequest(method="POST", url="http://127.0.0.1:9/", headers={"webhook-id": f"e{rid}"}, body=body,
                              timeout_s=5.0)  # fmt: skip
    return Send(rid, request)


async def test_messages_put_in_one_loop_turn_arrive_in_order_in_one_frame(
    pair: tuple[Channel, Channel, Inbox],
) -> None:
    sending, _, inbox = pair
    for rid in range(1, 51):
        sending.put(send(rid))
    sending.put(Cancel(7))
    await inbox.until(51)
    assert inbox.frames == 1
    assert rids(inbox.messages) == [*range(1, 51), 7]
    first = inbox.messages[0]
    assert isinstance(first, Send) and first.request.headers == {"webhook-id": "e1"}


async def test_a_frame_larger_than_one_read_and_frames_split_anywhere_arrive_whole(
    pair: tuple[Channel, Channel, Inbox],
) -> None:
    """1. A request with a 3 MB body (many socket reads) goes out, then small frames in later turns.
    2. Every message arrives once, whole and in order, however the bytes were cut."""
    sending, _, inbox = pair
    big = bytes(range(256)) * (3 * 4096)
    sending.put(send(1, big))
    await asyncio.sleep(0)  # the next loop turn: a frame of its own
    for rid in range(2, 6):
        sending.put(send(rid))
        await asyncio.sleep(0)
    await inbox.until(5)
    assert rids(inbox.messages) == [1, 2, 3, 4, 5]
    first = inbox.messages[0]
    assert isinstance(first, Send) and first.request.body == big


async def test_bytes_cut_mid_header_and_mid_frame_are_put_back_together() -> None:
    """Two frames as the wire has them (a 4-byte big-endian length, then the pickled list of wire
    tuples), fed a byte at a time: the header and the messages split at every position."""
    inbox = Inbox()
    receiving = Channel(inbox.receive, encode, decode)
    outcome = Outcome(status=200, ok=True, retryable=False, duration_s=0.1, response_headers={"server": "x"})
    data = b""
    for rid in (1, 2):
        frame = pickle.dumps([encode(Answer(rid, outcome))], protocol=pickle.HIGHEST_PROTOCOL)
        data += struct.pack(">I", len(frame)) + frame
    for i in range(len(data)):
        receiving.data_received(data[i : i + 1])
    assert rids(inbox.messages) == [1, 2]
    assert inbox.frames == 2
    answer = inbox.messages[1]
    assert isinstance(answer, Answer) and answer.outcome == outcome


async def test_closed_is_done_when_the_other_end_goes(pair: tuple[Channel, Channel, Inbox]) -> None:
    sending, receiving, _ = pair
    sending.close()
    await asyncio.wait_for(receiving.closed, FAILSAFE_S)
