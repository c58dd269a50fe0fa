"""Endpoint profiles: how one hook's endpoint is talked to, beyond the request rendering makes.

An EndpointSpec is the part of a hook's config that the sending side needs (it holds secrets, and
is plain data, so it can be handed to the delivery worker over its private socket). An Endpoint is
that spec made ready in the process that sends: built once per process from the spec, it owns
what is costly or stateful to make. Every way hookd sends (the daemon's worker, `hookd replay
--wait`, `hookd test --send`) goes through an HttpSender holding the same Endpoints, so a hook is
talked to the same way by all three.

The daemon renders a request (headers, body) and the worker's Endpoint finishes it over the exact
bytes that go out: what costs CPU per request runs in the worker, beside the HTTP client, not in
the daemon that acks events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookd.config.model import HookConfig, SigningConfig
from hookd.redact import REDACTED, Redactor
from hookd.senders.base import OutboundRequest
from hookd.senders.guard import Destinations
from hookd.signing import ID_HEADER, TIMESTAMP_HEADER, Signer, build_signer, signature_header
from hookd.urls import is_templated


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What the sender needs to know about one hook's endpoint (picklable; secrets included)."""

    hook: str
    signing: SigningConfig | None = None
    # The url is templated: event data picks it, so the destination guard checks where it connects
    # (a written-out url is trusted as written; redirects are checked either way).
    templated_url: bool = False
    allow_destinations: tuple[str, ...] = ()  # non-public networks the guard lets this hook reach

    @property
    def added_headers(self) -> tuple[str, ...]:
        """Headers the Endpoint adds when it sends (their values are never recorded in clear)."""
        return (signature_header(self.signing),) if self.signing is not None else ()

    @property
    def timestamp_header(self) -> str | None:
        """A header rendering sets to the webhook-timestamp value, for a receiver that reads the
        signed timestamp there (signing.timestamp_header). Not a secret: recorded and shown."""
        return self.signing.timestamp_header if self.signing is not None else None


def shown_headers(redactor: Redactor, headers: Mapping[str, str], spec: EndpointSpec) -> dict[str, str]:
    """A request's headers as history records them and `hookd test` prints them: the rendered ones
    redacted, and each header the endpoint adds when it sends (signature, credentials) as REDACTED."""
    shown = redactor.headers(headers)
    for name in spec.added_headers:
        shown[name] = REDACTED
    return shown


def endpoint_spec(hook: HookConfig) -> EndpointSpec:
    return EndpointSpec(
        hook=hook.name,
        signing=hook.signing,
        templated_url=is_templated(hook.url),
        allow_destinations=hook.allow_destinations,
    )


class Endpoint:
    """An EndpointSpec ready to send with, in the process that sends."""

    __slots__ = ("destinations", "signer", "spec")

    def __init__(self, spec: EndpointSpec) -> None:
        self.spec = spec
        # Built once per process: secrets decoded and the private key loaded here, not per request.
        self.signer: Signer | None = build_signer(spec.signing) if spec.signing is not None else None
        self.destinations = Destinations.parse(spec.allow_destinations)

    async def finish(self, request: OutboundRequest, headers: dict[str, str]) -> dict[str, str]:
        """The headers that go out with `request`: `headers` (rendered, with hookd's own), plus what
        this endpoint adds over the exact bytes sent."""
        if self.signer is not None:
            # Over the id and timestamp as rendering set them, so what is signed is what is sent.
            msg_id, timestamp = headers.get(ID_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
            headers[self.signer.header] = self.signer.sign(msg_id, timestamp, request.body)
        return headers


def build_endpoints(specs: Mapping[str, EndpointSpec]) -> dict[str, Endpoint]:
    return {name: Endpoint(spec) for name, spec in specs.items()}


# A request for a hook the sender was not configured with (a test's own sender, say): sent as rendered.
PLAIN = Endpoint(EndpointSpec(hook=""))
