"""What becomes of a verified request's event, in the daemon: stored (deduplicated) through ingest,
then answered, at once (async) or once its first attempts are known (sync, hookd.inbound.sync).

The http worker (hookd.sources.http_worker) serves the HTTP side in its own process and hands each
event here (hookd.sources.http_intake); the answer goes back as a Reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from hookd.config.model import HttpSourceConfig
from hookd.events import Event
from hookd.inbound.reply import Reply, json_reply
from hookd.inbound.sync import SyncAnswers
from hookd.logs import LogLine
from hookd.sources.base import Batch, Rejection, Submit, http_rejection_kind

log = logging.getLogger("hookd.sources.http")

STORE_RETRY_AFTER_S = 5  # what a sender is told to wait when the store cannot write
SYNC_RETRY_AFTER_S = 1  # ... and when a sync source has max_waiting callers waiting


class Back(Protocol):
    """Where the http source's verified events go (the daemon), as the source sees it."""

    async def take(self, config: HttpSourceConfig, event: Event) -> Reply:
        """Store `event` of source `config` and say what to answer (never raises)."""
        ...

    def reject(self, rejection: Rejection) -> None:
        """Count, store and log a refused request, without waiting."""
        ...


class StoreBack:
    """Stores each event through ingest's `submit` and says what to answer."""

    def __init__(self, sync: SyncAnswers | None) -> None:
        self.sync = sync
        self.submit: Submit | None = None  # ingest's, once the sources run
        self._rejecting: set[asyncio.Task[None]] = set()

    async def take(self, config: HttpSourceConfig, event: Event) -> Reply:
        submit = self.submit
        if submit is None:
            return json_reply(503, {"error": "hookd is starting"}, {"Retry-After": str(STORE_RETRY_AFTER_S)})
        sync = self.sync if config.response.mode == "sync" else None
        if sync is not None and sync.watching(event.id):
            return json_reply(
                409,
                {"id": event.id, "error": "a request with this event id is being answered now; send it again later"},
                {"Retry-After": str(SYNC_RETRY_AFTER_S)},
            )
        if sync is not None and not sync.watch(config, event.id):
            # Refused before it is stored: the sender sends it again later.
            self.reject(_rejection(config.name, event, 503, "response.max_waiting callers already wait"))
            return json_reply(
                503,
                {"error": f"{config.response.max_waiting} requests already wait for an answer (response.max_waiting)"},
                {"Retry-After": str(SYNC_RETRY_AFTER_S)},
            )
        try:
            accepted = (await submit(Batch(events=[event], source=config.name)))[0]
        except Exception as e:  # the store cannot write: the sender keeps the event and tries again
            if sync is not None:
                sync.forget(config, event.id)
            log.warning(
                LogLine("cannot store a request's event; answered 503", {"source": config.name, "error": str(e)})
            )
            return json_reply(
                503, {"error": "the event cannot be stored now"}, {"Retry-After": str(STORE_RETRY_AFTER_S)}
            )
        if accepted.duplicate:
            if sync is not None:
                sync.forget(config, event.id)
            if accepted.stored_by is not None and accepted.stored_by != config.name:
                # Another source's event holds this id: not this sender's retry. Answered as a conflict
                # (and listed), never acknowledged as if this event were stored.
                reason = f"event id {accepted.id!r} is already stored, from source {accepted.stored_by!r}"
                self.reject(_rejection(config.name, event, 409, reason))
                return json_reply(409, {"id": accepted.id, "error": "an event with this id came from another source"})
            return json_reply(200, {"id": accepted.id, "duplicate": True})
        if sync is not None:
            return await sync.answer(config, event, accepted)
        status = config.response.status
        return json_reply(status if isinstance(status, int) else 202, {"id": accepted.id})

    def reject(self, rejection: Rejection) -> None:
        """Count, store (the first few per caller and minute) and log a refused request."""
        submit = self.submit
        if submit is None:
            return
        task = asyncio.ensure_future(self._reject(submit, rejection))
        self._rejecting.add(task)
        task.add_done_callback(self._rejecting.discard)

    @staticmethod
    async def _reject(submit: Submit, rejection: Rejection) -> None:
        try:
            await submit(Batch(rejections=[rejection], source=rejection.source))
        except Exception:  # the store cannot write: the answer was the sender's, the count is lost
            log.debug("a rejection could not be stored")


def _rejection(source: str, event: Event, status: int, reason: str) -> Rejection:
    request = event.inbound.request if event.inbound is not None else {}
    remote = request.get("remote_ip", "")
    return Rejection(
        source=source, position=f"{remote} {request.get('method')} {request.get('path')}",
        reason=f"{status}: {reason}", stream=str(remote), kind=http_rejection_kind(status),
    )  # fmt: skip
