"""A receiver on 127.0.0.1:0 that answers as a chat service does, and the Outcome hookd's own sender
records for that answer: what a preset's classify() is given in the daemon."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from aiohttp.test_utils import TestServer

from hookd.senders.base import OutboundRequest, Outcome
from hookd.senders.http import HttpSender


@dataclass(frozen=True)
class Canned:
    status: int
    body: str = ""
    headers: Mapping[str, str] | None = None


class Answers:
    """Each call sends one request through HttpSender to a receiver answering with `canned`."""

    def __init__(self, server: TestServer, sender: HttpSender) -> None:
        self._server = server
        self._sender = sender
        self.canned = Canned(200)
        self.bodies: list[object] = []  # the JSON bodies received, in order

    async def __call__(self, status: int, body: str = "", headers: Mapping[str, str] | None = None) -> Outcome:
        self.canned = Canned(status, body, headers)
        return await self.send({"text": "hello"})

    async def send(self, payload: object) -> Outcome:
        request = OutboundRequest(
            method="POST",
            url=f"http://127.0.0.1:{self._server.port}/hook",
            headers={"Content-Type": "application/json"},
            body=json.dumps(payload).encode(),
            timeout_s=5.0,
        )
        return await self._sender.send(request)


@asynccontextmanager
async def answering() -> AsyncIterator[Answers]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1", port=0)
    sender = HttpSender(user_agent="hookd-test")
    answers = Answers(server, sender)

    async def hook(request: web.Request) -> web.Response:
        answers.bodies.append(json.loads(await request.read()))
        canned = answers.canned
        # A 204 has no body by definition; aiohttp refuses to send one.
        text = None if canned.status == 204 else canned.body
        return web.Response(status=canned.status, text=text, headers=dict(canned.headers or {}))

    app.router.add_post("/hook", hook)
    await server.start_server()
    try:
        yield answers
    finally:
        await sender.close()
        await server.close()
