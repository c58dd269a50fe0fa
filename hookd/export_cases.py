"""Stored events as `hookd test --cases` entries, with the config's routing today as the expectation.

Each case is built from the dry run `hookd test` runs (hookd.dryrun), on the event exactly as the
cases file will hand it back, so the file passes as exported and fails once a config change alters
which hooks match or what they send. What changes between two runs of the same event (a signature,
a timestamp, a delivery id, a template reading the time) is left out: the render is done twice, an
hour apart, and only what both agree on is expected.

An http source's event keeps its request beside the envelope, and filters and templates may read it
as `request.*`; a case's event has no field for it. Hooks whose verdict or request differ with the
request and without it are left out of the case, and a comment says so.

Secrets: the event is redacted with the config's Redactor before anything is built from it, the
requests are the redacted ones `hookd test` shows, and the written text is redacted once more.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from hookd import jsonvalue
from hookd.dryrun import EventResult, HookResult, InputEvent, dry_run
from hookd.errors import EventError
from hookd.events import Event, Inbound, event_from_object
from hookd.history import open_store, resolve_event_ids
from hookd.redact import Redactor
from hookd.router import Router
from hookd.store.base import DeliveryQuery, EventRecord

# The second render is this much later: a template reading the time, or a signature's timestamp,
# then differs, and is left out of the expectation.
_SECOND_RUN_AFTER_S = 3600.5
# Sent by the HTTP client with hookd's version: not the config's doing, and it changes on upgrade.
_UNCHECKED_HEADERS = frozenset({"user-agent"})


# A `${` not written `$${`: the file is read like the config, which would fill it in.
_LIVE_REFERENCE = re.compile(r"(?<!\$)\$\{")
_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\x85\u2028\u2029", " "))


class _Missing:
    """No value both renders agree on."""


_MISSING = _Missing()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportedCase:
    """One case, as the mapping written under `cases:`, with the comments written above it."""

    event_id: str
    comments: tuple[str, ...] = ()
    case: dict[str, object] | None = None  # None: nothing can be checked; only the comments are written


@dataclass(slots=True, kw_only=True)
class _Expect:
    match: list[str] = field(default_factory=list)
    not_match: list[str] = field(default_factory=list)
    body: dict[str, object] = field(default_factory=dict)
    headers: dict[str, object] = field(default_factory=dict)
    asserts: dict[str, object] = field(default_factory=dict)


def case_for(record: EventRecord, router: Router, redactor: Redactor, *, now: float) -> ExportedCase:
    """The case for one stored event: the event as stored (redacted), what the config does with it now."""
    try:
        envelope = jsonvalue.loads(record.body)
    except jsonvalue.JsonValueError as e:
        return _skipped(record, f"its stored body is not JSON ({e})")
    if not isinstance(envelope, dict):
        return _skipped(record, "its stored body is no JSON object")
    written = {k: v for k, v in envelope.items() if not (k == "source" and v is None)}
    redacted = redactor.value(written)
    assert isinstance(redacted, dict)
    try:
        event = event_from_object(redacted, now=now)
    except EventError as e:
        return _skipped(record, redactor.text(str(e)))
    where = f"stored event {record.id}"
    first = dry_run(router, InputEvent(event, where), now=now)
    second = dry_run(router, InputEvent(event, where), now=now + _SECOND_RUN_AFTER_S)
    comments: list[str] = []
    left_out: set[str] = set()
    if record.request is not None:
        left_out = _request_dependent(record, event, first, router, now=now)
        comments.extend(_inbound_comments(record, left_out))
    expect = _Expect()
    exact = not left_out
    for one, two in zip(first.hooks, second.hooks, strict=True):
        if one.hook in left_out:
            continue
        if not one.matched:
            if one.filter_error:
                # The daemon stores a failed delivery for it; `match` (exact) leaves it out, `not_match` would fail.
                comments.append(f"{one.hook}: its filter cannot be evaluated on this event: {one.filter_error}")
            elif not exact:
                expect.not_match.append(one.hook)
            continue
        expect.match.append(one.hook)
        _request_checks(one, two, expect, comments)
    case: dict[str, object] = {"name": _case_name(record), "event": redacted}
    checks: dict[str, object] = {"match" if exact else "match_at_least": expect.match}
    if expect.not_match:
        checks["not_match"] = expect.not_match
    for key, value in (("body", expect.body), ("headers", expect.headers), ("assert", expect.asserts)):
        if value:
            checks[key] = value
    shown = tuple(redactor.text(c) for c in comments)
    if not exact and not expect.match and not expect.not_match:
        shown += (redactor.text("no hook's verdict on it can be checked without its request: no case written"),)
        return ExportedCase(event_id=record.id, comments=shown)
    case["expect"] = checks
    # Every text redacted (the name quotes the event's type), then escaped: the file is read like the
    # config, so a `${...}` in it, stored or put there by the redaction, must stay text.
    final = _escaped(redactor.value(case))
    assert isinstance(final, dict)
    return ExportedCase(event_id=record.id, comments=shown, case=final)


def _skipped(record: EventRecord, reason: str) -> ExportedCase:
    # A comment: never read as a value, so it needs no escaping (cases_text redacts it).
    return ExportedCase(event_id=record.id, comments=(f"event {record.id} cannot be a case: {reason}; skipped",))


def _case_name(record: EventRecord) -> str:
    return f"stored event {record.id} ({record.type}) from source {record.source} routes as when exported"


def _request_checks(one: HookResult, two: HookResult, expect: _Expect, comments: list[str]) -> None:
    """What a case can check of a matched hook's request: the body, the headers, method and URL."""
    if one.render_error:
        comments.append(f"{one.hook}: matched, but its request cannot be rendered: {one.render_error}")
        return
    shown, again = one.shown_request(), two.shown_request()
    if shown is None or again is None:
        return
    # A form body is checked as its decoded fields, as hookd.cases compares it.
    body = _common(shown.get("form", shown["body"]), again.get("form", again["body"]))
    if isinstance(body, _Missing):
        comments.append(f"{one.hook}: its body changes from one run to the next (the time, a delivery id); not checked")
    else:
        expect.body[one.hook] = body
    headers, headers_again = shown["headers"], again["headers"]
    assert isinstance(headers, dict) and isinstance(headers_again, dict)
    stable = {
        name: value
        for name, value in headers.items()
        if headers_again.get(name) == value and str(name).lower() not in _UNCHECKED_HEADERS
    }
    if stable:
        expect.headers[one.hook] = stable
    asserts = [f"method == {_literal(str(shown['method']))}"]
    if shown["url"] == again["url"]:
        asserts.append(f"url == {_literal(str(shown['url']))}")
    expect.asserts[one.hook] = asserts


def _common(one: object, two: object) -> object:
    """What `one` and `two` agree on, in the shape hookd.cases' `contains` checks: a mapping keeps the
    keys whose values agree; a list must agree item by item; other values must be equal."""
    if isinstance(one, dict) and isinstance(two, dict):
        out = {}
        for key, value in one.items():
            if key in two:
                kept = _common(value, two[key])
                if not isinstance(kept, _Missing):
                    out[key] = kept
        return out
    if isinstance(one, list) and isinstance(two, list):
        if len(one) != len(two):
            return _MISSING
        items = [_common(a, b) for a, b in zip(one, two, strict=True)]
        return _MISSING if any(isinstance(i, _Missing) for i in items) else items
    if type(one) is type(two) and one == two:
        return one
    return _MISSING


def _literal(text: str) -> str:
    """`text` as a JMESPath literal: a raw string when it can be one, else a JSON literal."""
    if "'" not in text and "\\" not in text:
        return f"'{text}'"
    return "`" + jsonvalue.dumps(text).decode().replace("`", "\\`") + "`"


def _request_dependent(record: EventRecord, event: Event, seen: EventResult, router: Router, *, now: float) -> set[str]:
    """Hooks whose verdict or shown request differ when the event carries its stored request: what
    the daemon decided for them, a case without the request cannot check."""
    assert record.request is not None
    inbound = Inbound(None, b"", None, request_json=record.request)
    live = Event(event.id, event.type, event.time, event.source, event.envelope, event.body, inbound)
    with_request = dry_run(router, InputEvent(live, seen.where), now=now)
    # Rendered again at the same time without it: what differs between these two (ids made per
    # render) is no difference the request made.
    again = dry_run(router, InputEvent(event, seen.where), now=now)
    differ = set()
    for one, other, two in zip(seen.hooks, again.hooks, with_request.hooks, strict=True):
        # A hook that forwards sends the request as it arrived: nothing of it is in the case's event.
        forwards = router.by_name[one.hook].config.forward is not None
        verdict = one.matched != two.matched or one.filter_error != two.filter_error
        sent = one.matched and _common(_comparable(one), _comparable(two)) != _common(
            _comparable(one), _comparable(other)
        )
        if forwards or verdict or sent:
            differ.add(one.hook)
    return differ


def _comparable(result: HookResult) -> object:
    shown = result.shown_request()
    if shown is None:
        return result.render_error
    return {**shown, "body": shown.get("form", shown["body"])}


def _inbound_comments(record: EventRecord, left_out: set[str]) -> list[str]:
    lines = [
        f"Received over HTTP by source {record.source}. The cases format has no field for the inbound request "
        "(method, path, headers, query), so this case routes the event without it: filters and templates "
        "that read request.* see null here. `hookd test --request FILE` runs a recorded request instead."
    ]
    if left_out:
        names = ", ".join(sorted(left_out))
        lines.append(
            f"Left out, as their verdict or request depends on the inbound request (or they forward it): {names}; "
            "the other hooks are checked with match_at_least and not_match."
        )
    return lines


def _escaped(value: object) -> object:
    """`value` with every `${` written `$${`, so the cases file reads back the text as stored rather
    than interpolating it (the file is read like the config)."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def cases_text(cases: Sequence[ExportedCase], *, header: Sequence[str], redactor: Redactor) -> str:
    """The cases file: `header` as comments, then `cases:` with each case and its comments above it."""
    out = [f"# {line}".rstrip() for line in header]
    out.append("cases:")
    for exported in cases:
        out.append("")
        for comment in exported.comments:
            # Every character YAML takes for a line break becomes a space: a comment (which may quote
            # an event's values in an error) stays a comment.
            flat = comment.translate(_LINE_BREAKS)
            out.extend(f"  # {line}" for line in textwrap.wrap(flat, 100, break_on_hyphens=False))
        if exported.case is not None:
            dumped = yaml.safe_dump([exported.case], sort_keys=False, allow_unicode=True, width=100)
            out.append(textwrap.indent(dumped, "  ").rstrip("\n"))
    # A net: nothing above should hold a secret, but this text leaves the machine in a commit. What
    # it hides becomes a `${VAR}` reference: escaped, so reading the file back never fills it in.
    return _LIVE_REFERENCE.sub("$${", redactor.text("\n".join(out) + "\n"))


# -- which stored events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    records: tuple[EventRecord, ...]  # oldest first
    unmatched: tuple[str, ...] = ()  # ids given that are no stored event's id nor a prefix of one


async def stored_events(path: Path, *, origin: str, ids: Sequence[str], query: DeliveryQuery | None,
                        limit: int | None) -> Selection:  # fmt: skip
    """The events named by `ids` (whole or unique prefixes), and those with a delivery `query` selects
    (as `hookd history` lists them), at most `limit` of the newest, oldest first."""
    async with open_store(path, origin=origin) as store:
        found, unmatched = await resolve_event_ids(store, ids) if ids else ((), ())
        wanted = [i for i in found if i not in unmatched]
        if query is not None:
            if query.event_ids:
                event_ids, more_unmatched = await resolve_event_ids(store, query.event_ids)
                unmatched = (*unmatched, *more_unmatched)
                query = replace(query, event_ids=event_ids)
            rows = await store.deliveries(query)  # newest first
            wanted.extend(row.event_id for row in rows)
        newest = list(dict.fromkeys(wanted))
        records: list[EventRecord] = []
        for event_id in newest:
            if limit is not None and len(records) >= limit:
                break
            record = await store.event(event_id)
            if record is not None:  # a delivery whose event was pruned
                records.append(record)
    records.sort(key=lambda r: r.received_at)
    return Selection(records=tuple(records), unmatched=unmatched)
