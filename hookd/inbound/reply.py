"""An HTTP answer as plain values: made in the daemon (hookd.inbound.back, hookd.inbound.sync), it
crosses to the http worker, which writes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

NO_STORE = {"Cache-Control": "no-store"}
JSON_HEADERS = {"Content-Type": "application/json", **NO_STORE}


@dataclass(slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def json_reply(status: int, value: object, headers: Mapping[str, str] | None = None) -> Reply:
    """A JSON answer, never cached."""
    return Reply(status, {**JSON_HEADERS, **headers} if headers else JSON_HEADERS, orjson.dumps(value))
