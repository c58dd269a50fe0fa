"""Sync answers (`response: {mode: sync}`): the caller of an http source waits for the first attempt
of each delivery its event triggered, and is answered with what the receivers said.

The source registers its event here before it is stored (a delivery claimed at ingest may be sent
before the source's commit returns); the dispatcher asks how much of each answer to keep
(`relay_bytes`) and tells every first attempt of a watched event (`attempted`). Deliveries that cannot
start now (a paused or held hook, an open breaker, an empty rate-limit bucket, a batched hook, an
ordered hook whose delivery ingest could not start) are not waited for: they are listed as queued and
go on as usual. So does every delivery after the answer: a failed first attempt is retried, a timeout
(504) leaves the deliveries going.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hookd import jsonvalue
from hookd.clock import Clock
from hookd.config.model import HttpSourceConfig
from hookd.events import Event
from hookd.inbound.reply import NO_STORE, Reply, json_reply
from hookd.senders.base import Outcome
from hookd.sources.base import Accepted
from hookd.templates import RenderError, Template, compile_template

RETRY_AFTER_S = 1  # told to callers beyond max_waiting
# The receiver's headers hookd keeps of an answer (the sender's own short list: content type, retry
# and rate-limit headers, request ids), as templates read them: lower-cased. Never its cookies, which
# belong to the receiver's origin, not hookd's.
_NOT_RELAYED = frozenset({"set-cookie", "set-cookie2"})


@dataclass(slots=True)
class FirstAttempt:
    hook: str
    state: str  # delivered, failed (for good), retrying (pending again), queued (not waited for)
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None  # the whole answer, when it fit max_relay
    content_type: str = ""
    error: str = ""

    def as_json(self) -> dict[str, object]:
        response: dict[str, object] | None = None
        if self.status is not None:
            text = self.body.decode("utf-8", errors="replace") if self.body is not None else None
            response = {"status": self.status, "headers": dict(self.headers), "body": text}
        out: dict[str, object] = {"hook": self.hook, "state": self.state, "response": response}
        if self.error:
            out["error"] = self.error
        return out


@dataclass(slots=True)
class _Waiter:
    max_relay: int
    expected: set[str] = field(default_factory=set)  # hooks whose first attempt is awaited
    seen: dict[str, FirstAttempt] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Templates:
    """A sync source's `response` templates, compiled once (validated by `hookd validate`)."""

    def __init__(self, config: HttpSourceConfig) -> None:
        r = config.response
        self.status = compile_template(r.status) if isinstance(r.status, str) else None
        self.headers = tuple((name, compile_template(value)) for name, value in r.headers.items())
        self.body: Template | None = compile_template(r.body) if r.body is not None else None


class SyncAnswers:
    """Every sync source's waiting callers, by event id (one per daemon)."""

    def __init__(
        self,
        clock: Clock,
        *,
        starts_now: Callable[[str], bool],
    ) -> None:
        self._clock = clock
        self._starts_now = starts_now  # the dispatcher's: would a delivery of this hook start without a wait
        self._waiting: dict[str, _Waiter] = {}
        self._by_source: dict[str, int] = {}
        self._templates: dict[str, Templates] = {}
        self._stopping = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # -- the source's side -----------------------------------------------------------------------

    def watch(self, config: HttpSourceConfig, event_id: str) -> bool:
        """Register a caller before its event is stored; False when the source has max_waiting already."""
        if self._by_source.get(config.name, 0) >= config.response.max_waiting or event_id in self._waiting:
            return False
        self._by_source[config.name] = self._by_source.get(config.name, 0) + 1
        self._waiting[event_id] = _Waiter(max_relay=config.response.max_relay)
        return True

    def watching(self, event_id: str) -> bool:
        """Whether a caller already waits for the answer about `event_id` (a sender's retry, early)."""
        return event_id in self._waiting

    def stopping(self) -> None:
        """hookd stops: every waiting caller is answered now (503, its event is stored and goes on)."""
        self._stopping = True
        for waiter in self._waiting.values():
            waiter.done.set()

    def forget(self, config: HttpSourceConfig, event_id: str) -> None:
        if self._waiting.pop(event_id, None) is not None:
            self._by_source[config.name] -= 1

    async def answer(self, config: HttpSourceConfig, event: Event, accepted: Accepted) -> Reply:
        """Wait for the first attempts of `accepted`'s deliveries (up to response.timeout), then answer."""
        waiter = self._waiting.get(accepted.id)
        assert waiter is not None, "watch() before the event is stored"
        try:
            for hook in accepted.hooks:
                if hook in waiter.seen:
                    continue  # attempted already, before the commit returned
                if hook in accepted.failed:
                    waiter.seen[hook] = FirstAttempt(hook, "failed", error=accepted.failed[hook])
                elif hook not in accepted.held and (hook in accepted.claimed or self._starts_now(hook)):
                    waiter.expected.add(hook)
                else:
                    waiter.seen[hook] = FirstAttempt(hook, "queued")
            if waiter.expected and not self._stopping:
                waiter.done.clear()  # set by an attempt that ended before the commit returned, if any
                if not await self._clock.wait(waiter.done, config.response.timeout_s):
                    return _timed_out(accepted.id, accepted.hooks, waiter)
            if waiter.expected and self._stopping:
                return json_reply(
                    503,
                    {"id": accepted.id, "error": "hookd is stopping; the event is stored and its deliveries go on"},
                    {"Retry-After": str(RETRY_AFTER_S)},
                )
            return self._respond(config, event, accepted, [waiter.seen[h] for h in accepted.hooks if h in waiter.seen])
        finally:
            self.forget(config, accepted.id)

    # -- the dispatcher's side -------------------------------------------------------------------

    def relay_bytes(self, event_id: str) -> int:
        """How much of the answer to a delivery of `event_id` to keep whole (0: not watched)."""
        waiter = self._waiting.get(event_id)
        return waiter.max_relay if waiter is not None else 0

    def attempted(self, event_id: str, hook: str, outcome: Outcome, state: str) -> None:
        """The first attempt of a delivery of `event_id` to `hook` ended; `state` as it was recorded."""
        waiter = self._waiting.get(event_id)
        if waiter is None or hook in waiter.seen:
            return
        body = outcome.relay_body  # secrets hidden already (senders.base.redact_outcome, auth.hiding)
        waiter.seen[hook] = FirstAttempt(
            hook,
            "retrying" if state == "pending" else state,
            status=outcome.status,
            headers={k.lower(): v for k, v in outcome.response_headers.items() if k.lower() not in _NOT_RELAYED},
            body=body,
            content_type=outcome.relay_content_type,
            error=outcome.error,
        )
        waiter.expected.discard(hook)
        if not waiter.expected:
            waiter.done.set()

    # -- the answer ------------------------------------------------------------------------------

    def _respond(
        self, config: HttpSourceConfig, event: Event, accepted: Accepted, attempts: Sequence[FirstAttempt]
    ) -> Reply:
        templates = self._templates.get(config.name)
        if templates is None:
            templates = self._templates[config.name] = Templates(config)
        if templates.status is not None or templates.body is not None or templates.headers:
            return _templated(templates, event, attempts)
        only = attempts[0] if len(attempts) == 1 else None
        if only is not None and only.status is not None and only.body is not None:
            # The receiver's answer as it gave it: its status, type and body.
            headers = {
                "Content-Type": only.content_type or "application/octet-stream",
                "X-Hookd-Event-Id": accepted.id,
                **NO_STORE,
            }
            return Reply(only.status or 502, headers, only.body)
        summary = {"id": accepted.id, "deliveries": [a.as_json() for a in attempts]}
        return json_reply(summary_status(attempts), summary)


def summary_status(attempts: Sequence[FirstAttempt]) -> int:
    """502 when a first attempt did not deliver (it goes on being retried, or failed for good); 202
    when some wait to start (queued), none having failed; else 200 (all delivered, or none to make)."""
    if any(a.state not in ("delivered", "queued") for a in attempts):
        return 502
    return 202 if any(a.state == "queued" for a in attempts) else 200


def _timed_out(event_id: str, hooks: Sequence[str], waiter: _Waiter) -> Reply:
    attempts = [waiter.seen.get(h) or FirstAttempt(h, "sending") for h in hooks]
    summary = {
        "id": event_id,
        "error": "the receivers did not all answer within response.timeout; the deliveries go on",
        "deliveries": [a.as_json() for a in attempts],
    }
    return json_reply(504, summary)


def _templated(templates: Templates, event: Event, attempts: Sequence[FirstAttempt]) -> Reply:
    scope: dict[str, object] = {
        "event": event.scope,
        "deliveries": [a.as_json() for a in attempts],
    }
    try:
        status = 200
        if templates.status is not None:
            rendered = templates.status.render(scope)
            status = int(rendered) if isinstance(rendered, (int, str)) and str(rendered).isdigit() else -1
            if not 100 <= status <= 599:
                raise ValueError(f"response.status gave {rendered!r}, not an HTTP status (100-599)")
        headers = {name: t.render_text(scope) for name, t in templates.headers}
        if templates.body is None:
            return Reply(status, headers, b"")
        body = templates.body.render(scope)
        if isinstance(body, str):
            return Reply(status, {"Content-Type": "text/plain; charset=utf-8", **headers}, body.encode("utf-8"))
        return Reply(status, {"Content-Type": "application/json", **headers}, jsonvalue.dumps(body))
    except (RenderError, jsonvalue.JsonValueError, ValueError) as e:
        reason = getattr(e, "reason", None) or str(e)
        return json_reply(500, {"id": event.id, "error": f"the response template failed: {reason}"})
