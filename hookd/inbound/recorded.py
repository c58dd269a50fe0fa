"""A recorded HTTP request through an http source's checks, as `hookd test --request` shows it (pure).

The same steps, in the same order and with the same code, as hookd.sources.http takes for a live
request: the source whose path matches, the caller's address, the method, the size, the unsigned
handshakes, verification, then the body, the event's type and id and the signed handshake. What is
left out is what needs a daemon: the store (so no dedupe and no 503), the body budget and the read
timeouts. A request that passes gives the event, which the caller routes like any `hookd test` event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hookd.config.model import HttpSourceConfig
from hookd.errors import EventError
from hookd.events import Event
from hookd.events import size_limit as shown_size
from hookd.inbound.addresses import client_address, networks
from hookd.inbound.admission import NO_SOURCE_ANSWER, refused_before_body
from hookd.inbound.mapping import HandshakeAnswer, InboundMapper, RequestRefused
from hookd.inbound.request import InboundRequest
from hookd.inbound.verify import VerifyFailed, build_verifier
from hookd.sources.http_listener import path_pattern
from hookd.suggest import closest


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """A request as a request file gives it. `path` may carry the query (`/hooks/x?a=1`)."""

    where: str  # the file, for messages
    method: str  # upper-case
    path: str  # decoded, without the query
    query: tuple[tuple[str, str], ...]
    raw_query: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, repeated ones kept in order
    body: bytes
    remote_ip: str = "127.0.0.1"
    received_at: float | None = None  # epoch seconds; the default for `now`


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What the source would answer. `body` is JSON for hookd's own answers, bytes for a handshake's."""

    status: int | None  # None: a sync source, whose answer waits for the deliveries' first attempts
    body: object
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDryRun:
    """Everything the source would do with one recorded request, up to storing its event."""

    source: str | None  # the http source that got it; None when no path matched
    answer: Answer
    refused: str = ""  # why the source would refuse it (the rejection's reason); "" when it would not
    fix: str = ""  # how to make it pass, when hookd can tell
    verification: dict[str, object] | None = None  # the verdict as stored (scheme, secret index, when)
    stored_request: dict[str, object] | None = None  # credentials removed
    event: Event | None = None
    also_matching: tuple[str, ...] = ()  # other http sources whose path matches too

    @property
    def accepted(self) -> bool:
        return not self.refused


class UnknownSourceError(ValueError):
    """--source names no http source. str() is the sentence to show."""


_HUB_MODE = "hub.mode"
_SYNC_NOTE = (
    "response.mode is sync: the source answers once the first attempts of the deliveries below are done "
    "(the receiver's answer relayed for one delivery, a summary for several, 504 after response.timeout); "
    "--send shows what the receivers say"
)


def pick_source(
    sources: Sequence[HttpSourceConfig], path: str, wanted: str | None
) -> tuple[HttpSourceConfig | None, dict[str, str], tuple[str, ...]]:
    """The source whose path matches `path` (the one named `wanted`, if given), its path parameters,
    and the other sources that match too. Raises UnknownSourceError when `wanted` is no http source."""
    if wanted is not None:
        chosen = [s for s in sources if s.name == wanted]
        if not chosen:
            names = [s.name for s in sources]
            close = closest(wanted, names)
            hint = f"did you mean {close!r}?" if close else f"the http sources are: {', '.join(names) or 'none'}"
            raise UnknownSourceError(f"--source {wanted!r} is not an http source of the config; {hint}")
        candidates = chosen
    else:
        candidates = list(sources)
    found: list[tuple[HttpSourceConfig, dict[str, str]]] = []
    for source in candidates:
        m = path_pattern(source.path).fullmatch(path)
        if m is not None:
            found.append((source, m.groupdict()))
    if not found:
        return None, {}, ()
    (source, params), *others = found
    return source, params, tuple(s.name for s, _ in others)


def dry_run_request(
    sources: Sequence[HttpSourceConfig], recorded: RecordedRequest, *, now: float, wanted: str | None = None
) -> RequestDryRun:
    """What the http source would do with `recorded` at `now`. Raises UnknownSourceError."""
    source, params, others = pick_source(sources, recorded.path, wanted)
    if source is None:
        return _no_source(sources, recorded.path, wanted)
    result = _through(source, recorded, params, now)
    return replace(result, also_matching=others)


def _refused(source: str, status: int, reason: str, fix: str = "", *, answer: str | None = None) -> RequestDryRun:
    return RequestDryRun(
        source=source,
        answer=Answer(status=status, body={"error": reason if answer is None else answer}),
        refused=f"{status}: {reason}",
        fix=fix,
    )


def _no_source(sources: Sequence[HttpSourceConfig], path: str, wanted: str | None) -> RequestDryRun:
    shown = ", ".join(f"{s.path} ({s.name})" for s in sources)
    if wanted is not None:
        reason = f"the path {path} does not match the path of source {wanted!r}"
    else:
        reason = f"no http source of the config listens on {path}"
    listed = f"the http sources' paths are: {shown}" if shown else "the config has no http source"
    return RequestDryRun(
        source=None,
        answer=Answer(status=404, body={"error": NO_SOURCE_ANSWER}),
        refused=f"404: {reason}",
        fix=f"{listed}; record the request at one of them, or fix the source's path",
    )


def _through(
    source: HttpSourceConfig, recorded: RecordedRequest, params: Mapping[str, str], now: float
) -> RequestDryRun:
    name = source.name
    forwarded = [v for k, v in recorded.headers if k == "x-forwarded-for"]
    remote = client_address(recorded.remote_ip, forwarded, networks(source.trusted_proxies))
    handshake_get = recorded.method == "GET" and any(k == _HUB_MODE for k, _ in recorded.query)
    encoding = next((v for k, v in recorded.headers if k == "content-encoding"), None)
    refusal = refused_before_body(source, networks(source.allow_ips), remote, recorded.method, handshake_get, encoding)
    if refusal is not None:
        return _refused(name, refusal.status, refusal.reason, _ADMISSION_FIXES[refusal.status](source, recorded),
                        answer=refusal.answer)  # fmt: skip
    request = InboundRequest(
        method=recorded.method,
        path=recorded.path,
        headers=recorded.headers,
        body=recorded.body,
        remote_ip=remote,
        query=recorded.query,
        params=dict(params),
        raw_query=recorded.raw_query,
    )
    limit = source.max_event_bytes
    declared = _declared_length(request)
    if declared is not None and declared > limit:
        return _refused(name, 413, f"the body is {declared} bytes, over {shown_size(limit)}", _SIZE_FIX)
    if len(request.body) > limit:
        return _refused(name, 413, f"the body is over {shown_size(limit)}", _SIZE_FIX)
    verifier = build_verifier(source.verify) if source.verify is not None else None
    mapper = InboundMapper(source, verifier)
    shake = mapper.handshake(request)
    if shake is not None:
        return _handshake(name, shake)
    verdict = None
    if verifier is not None and source.verify is not None:
        try:
            verdict = verifier.verify(request, now).as_json()
        except VerifyFailed as e:
            return _refused(name, 401, str(e), _stale_fix(source, request, now) if verifier.timestamped else "")
    try:
        received = mapper.receive(request, verdict, now)
    except RequestRefused as e:
        return _refused(name, e.status, str(e))
    except EventError as e:
        return _refused(name, 400, str(e))
    if isinstance(received, HandshakeAnswer):
        return _handshake(name, received, verdict)
    status = source.response.status
    if source.response.mode == "sync":
        answer = Answer(status=None, body=_SYNC_NOTE, content_type="")
    else:
        answer = Answer(status=status if isinstance(status, int) else 202, body={"id": received.id})
    return RequestDryRun(
        source=name,
        answer=answer,
        verification=verdict,
        stored_request=mapper.stored_request(request),
        event=received,
    )


_SIZE_FIX = "raise the source's max_event_size if such bodies are expected"
# How to mend each refusal refused_before_body makes, said under the dry run's answer.
_ADMISSION_FIXES: dict[int, Callable[[HttpSourceConfig, RecordedRequest], str]] = {
    403: lambda s, r: "give the sender's address as remote_ip in the request file, or add its network to allow_ips",
    405: lambda s, r: f"the source takes {', '.join(s.methods)}; add {r.method} to its methods if it should",
    415: lambda s, r: "record the request as the sender sends it uncompressed; hookd refuses compressed bodies",
}
_DIGITS = re.compile(r"[0-9]+")


def _declared_length(request: InboundRequest) -> int | None:
    value = request.header("content-length")
    return int(value) if value is not None and _DIGITS.fullmatch(value.strip()) else None


def _handshake(name: str, shake: HandshakeAnswer, verdict: dict[str, object] | None = None) -> RequestDryRun:
    answer = Answer(status=shake.status, body=shake.body, content_type=shake.content_type)
    if shake.status >= 400:
        return RequestDryRun(
            source=name, answer=answer, refused=f"{shake.status}: {shake.body.decode(errors='replace')}"
        )
    return RequestDryRun(source=name, answer=answer, verification=verdict)


def _stale_fix(source: HttpSourceConfig, request: InboundRequest, now: float) -> str:
    """When only the timestamp failed (the signature matches at any age): when the request was signed,
    and the --at that checks it as of then. The same verifier, with no limit on age, tells."""
    assert source.verify is not None
    ageless = build_verifier(replace(source.verify, tolerance_s=math.inf))
    try:
        signed_at = ageless.verify(request, now).timestamp
    except VerifyFailed:
        return ""  # the signature itself does not match: its reason says what to check
    if signed_at is None:
        return ""
    age = now - signed_at
    when = "before" if age >= 0 else "after"
    return (
        f"the request was signed at {rfc3339(signed_at)}, {abs(age):.0f} s {when} the time checked; "
        f"to check it as of when it was sent, run again with --at {rfc3339(signed_at)}"
    )


def rfc3339(moment: float) -> str:
    """Epoch seconds as RFC 3339 in UTC, whole seconds."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
