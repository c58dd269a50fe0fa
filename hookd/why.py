"""`hookd why EVENT_ID`: for a stored event, each hook's verdict (matched, or which glob or which part
of the filter said no, with the values it saw) and each delivery's outcome and attempts.

The verdicts come from the router's own explain path, the one `hookd test` runs (hookd.dryrun), on
the stored event (its envelope and, for an http source's, its request): one code path for live and
dry runs. They are recomputed with the config of now rather than stored at ingest, which would cost
every event a trace; the daemon notes each config it routes with (table config_runs), so `why` says
when the event was routed with another one than the config it explains with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from hookd import jsonvalue
from hookd.config.model import Settings
from hookd.dryrun import EventResult, InputEvent, dry_run
from hookd.errors import HookdError
from hookd.events import Event, Inbound
from hookd.history import DeliveryDetail, NotFound, Shown, open_store, show
from hookd.router import Router
from hookd.store.base import EventRecord


@dataclass(frozen=True, slots=True)
class RoutedWith:
    """The config the daemon routed the event with, as noted when it started."""

    sha256: str
    path: str
    since: float


@dataclass(frozen=True, slots=True)
class Why:
    event: EventRecord
    verdicts: EventResult  # each configured hook's, with the config of now
    deliveries: tuple[DeliveryDetail, ...]  # what was stored for it, with every attempt
    routed_with: RoutedWith | None  # None: stored before hookd noted configs (or by replay)
    config_sha256: str  # the config the verdicts come from

    @property
    def config_changed(self) -> bool:
        return self.routed_with is not None and self.routed_with.sha256 != self.config_sha256


async def why(path: Path, event_id: str, settings: Settings, *, origin: str, now: float) -> Why:
    """Explain the event `event_id` (or a delivery's: its event). Raises NotFound, AmbiguousId."""
    shown: Shown = await show(path, event_id, origin=origin)
    if shown.event is None:
        raise NotFound(
            f"{event_id!r} is a batch id or its event is no longer stored; `hookd why` takes an event or a delivery id"
        )
    record = shown.event
    async with open_store(path, origin=origin) as store:
        noted = await store.config_at(record.received_at)
    event = stored_event(record)
    router = Router(settings.hooks, secrets=settings.secrets)
    verdicts = dry_run(router, InputEvent(event, where=f"stored, received by {record.source}"), now=now)
    deliveries = shown.deliveries
    if shown.asked_for == "delivery":  # asked by a delivery id: explain its whole event
        deliveries = (await show(path, record.id, origin=origin)).deliveries
    return Why(
        # Shown: a producer's id and type may quote a secret of the config, as its data may.
        event=replace(record, id=router.redactor.text(record.id), type=router.redactor.text(record.type)),
        verdicts=verdicts,
        deliveries=deliveries,
        routed_with=RoutedWith(*noted) if noted is not None else None,
        config_sha256=settings.config_sha256,
    )


def stored_event(record: EventRecord) -> Event:
    """The event as the router saw it: its stored envelope, and the request an http source kept."""
    try:
        envelope = jsonvalue.loads(record.body)
    except jsonvalue.JsonValueError as e:
        raise HookdError(f"the stored event {record.id} cannot be read: {e}") from None
    if not isinstance(envelope, dict):
        raise HookdError(f"the stored event {record.id} is not a JSON object")
    source = envelope.get("source")
    event = Event(
        id=record.id,
        type=record.type,
        time=record.time,
        source=source if isinstance(source, str) else None,
        envelope=envelope,
        body=record.body,
    )
    if record.request is not None:
        verdict = jsonvalue.loads(record.verification) if record.verification is not None else None
        event.inbound = Inbound(None, b"", verdict if isinstance(verdict, dict) else None, request_json=record.request)
    return event
