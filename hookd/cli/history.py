"""`hookd history`: list deliveries, show one with its attempts, per-hook stats.

Reads the SQLite file directly (no daemon needed, safe beside a running one). Also holds what the
history, replay and prune commands share: their options, finding the database, and rendering rows.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from hookd import history as core
from hookd import jsonvalue
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import (
    DEFAULT_LIMIT,
    Column,
    ConfigOption,
    DbOption,
    EventOption,
    HookOption,
    JsonOption,
    SinceOption,
    TypeOption,
    UntilOption,
    database,
    deliveries_table,
    delivery_dict,
    fail,
    fitted_table,
    local_time,
    milliseconds,
    one_line,
    print_table,
    status_text,
    table_width,
    utc_time,
    warn,
    window,
)
from hookd.errors import HookdError
from hookd.history import BatchDetail, DeliveryDetail, Shown
from hookd.hook_state import WAITS_FOR_RESUME, paused_by_text
from hookd.redact import Redactor, redact_headers, redact_url
from hookd.senders.base import Hop
from hookd.store.base import PARK_OFFSET_S, AttemptRow, DeliveryQuery, EventRecord, HookStats

_BODY_LINES = 40

# -- hookd history ------------------------------------------------------------------------------------

history_app = typer.Typer(
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(history_app, name="history")


@history_app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    hook: HookOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only these: pending, delivering, delivered, retrying, failed, cancelled (repeat or comma-separate).",
        ),
    ] = None,
    event: EventOption = None,
    event_type: TypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show at most this many; 0 for all.")] = DEFAULT_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List deliveries, newest first, with status, attempts, last HTTP status and latency.

    Reads the database, with or without a running daemon. `retrying` is a pending delivery that has
    been attempted; `cancelled` one withdrawn before delivery (hookd replay --cancel); `(replay)`
    marks deliveries queued by hookd replay. Ids hookd made are cut to the shortest prefix (8
    characters or more) that starts no other stored id, which `show` and `--event` take; an event id
    a producer chose is shown whole. Each row is one line; on a narrow terminal the least needed
    columns are left out (ms first) and a long last error is cut with "…". Subcommands: `show ID`
    for one delivery or event with every attempt, `stats` for per-hook figures.

    Exit 0 (also when nothing matches), 2 for bad usage or a missing database.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        since_at, until_at = window(since, until, now=time.time())
        query = DeliveryQuery(
            hooks=tuple(hook or ()),
            statuses=core.parse_statuses(status or ()),
            event_ids=tuple(event or ()),
            type_glob=event_type,
            since=since_at,
            until=until_at,
            # One more than shown: whether more match is then known, not guessed from a full page.
            limit=limit + 1 if limit else None,
        )
        where = database("history", config, db, secrets_optional=True)
        configured = [h.name for h in where.settings.hooks] if where.settings is not None else None
        listing = asyncio.run(
            core.list_deliveries(where.path, query, origin=where.origin, configured=configured, shorten=not as_json)
        )
    except HookdError as e:
        fail(e)
    for unknown in listing.unknown_hooks:
        warn(unknown.message())
    given = dict(listing.deliveries_given)
    batches = dict(listing.batches_given)
    for value in listing.unmatched_events:
        delivery = given.get(value)
        batch = batches.get(value)
        if batch is not None:
            warn(
                f"no stored event id is or starts with {value!r}: it is the id of batch {batch} (one request "
                f"carrying several deliveries); `hookd history show {batch}` shows its requests and deliveries"
            )
        elif delivery is None:
            warn(f"no stored event id is or starts with {value!r}")
        else:
            warn(
                f"no stored event id is or starts with {value!r}: it is the id of delivery {delivery.id} (event "
                f"{delivery.event_id!r} to hook {delivery.hook!r}); `hookd history show {delivery.id}` shows it"
            )
    more_match = bool(limit) and len(listing.rows) > limit
    rows = listing.rows[:limit] if limit else listing.rows
    if as_json:
        render.print_json([delivery_dict(r) for r in rows])
        return
    if not rows:
        render.stdout.print("no deliveries match")
        return
    more = f"; more match: --limit 0 shows them all (or a --limit above {limit})" if more_match else ""
    caption = f"{len(rows)} delivery(ies), newest first{more}"
    print_table(deliveries_table(rows, caption=caption, short=listing.short, width=table_width()))


# -- hookd history show -------------------------------------------------------------------------------


def _given_before(ctx: typer.Context, config: Path | None, db: Path | None) -> tuple[Path | None, Path | None]:
    """-c and --db as given to the subcommand, else as given before it (`hookd history -c FILE show ID`)."""
    before = ctx.parent.params if ctx.parent is not None else {}
    return config if config is not None else before.get("config"), db if db is not None else before.get("db")


@history_app.command("show")
def show(
    ctx: typer.Context,
    item_id: Annotated[
        str,
        typer.Argument(metavar="ID", help="A delivery, event or batch id, or a prefix that starts only one of them."),
    ],
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one delivery, or an event and all its deliveries, or a batch, with every attempt in detail.

    Prints the event, then each attempt: request headers (secrets redacted), response status,
    headers and body excerpt, error and timing. A batch id (a hook with `batch:`) prints the
    batch's requests and its deliveries.

    The id may be shortened to any prefix that starts no other delivery or event id, as history
    shows them; an ambiguous prefix lists the ids it starts.

    Exit 0, 1 when no delivery or event has the id, 2 for bad usage, an ambiguous prefix or a
    missing database.
    """
    config, db = _given_before(ctx, config, db)
    try:
        where = database("history show", config, db, secrets_optional=True)
        shown = asyncio.run(core.show(where.path, item_id, origin=where.origin))
        if where.settings is not None:  # a database written by an older hookd may hold the config's secrets
            shown = redacted_shown(shown, Redactor(where.settings.secrets))
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(shown_dict(shown))
    else:
        _print_shown(shown)


def event_dict(event: EventRecord) -> dict[str, object]:
    try:
        envelope: object = jsonvalue.loads(event.body)
    except jsonvalue.JsonValueError:  # not JSON, or stored by an older hookd deeper than the limit
        envelope = event.body.decode(errors="replace")
    out = {
        "id": event.id,
        "type": event.type,
        "time": event.time,
        "source": event.event_source,
        "received_by": event.source,
        "received_at": utc_time(event.received_at),
        "envelope": envelope,
    }
    if event.request is not None:  # an http source's: the request as stored (credentials removed)
        out["request"] = _json_or_text(event.request)
        out["verification"] = _json_or_text(event.verification) if event.verification is not None else None
        out["raw_body_bytes"] = event.raw_body_bytes
    return out


def _json_or_text(stored: bytes) -> object:
    try:
        return jsonvalue.loads(stored)
    except jsonvalue.JsonValueError:
        return stored.decode(errors="replace")


def _request_lines(event: EventRecord) -> list[str]:
    """An http source's request in `history show`: who called, how, and the verdict."""
    request = _json_or_text(event.request or b"null")
    if not isinstance(request, dict):
        return [str(request)]
    lines = [f"{request.get('method')} {request.get('path')} from {request.get('remote_ip')}"]
    params = request.get("params")
    if isinstance(params, dict) and params:
        lines.append("params: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    headers = request.get("headers")
    if isinstance(headers, dict):
        lines.extend(f"{name}: {value}" for name, value in headers.items())
    verdict = _json_or_text(event.verification) if event.verification is not None else None
    if isinstance(verdict, dict):
        at = verdict.get("verified_at")
        when = f" at {local_time(at)}" if isinstance(at, (int, float)) else ""
        which = verdict.get("secret")
        key = "the public key" if which == -1 else f"secret {which} (0 = the newest)"
        lines.append(f"verified: {verdict.get('scheme')}, with {key}{when}")
    else:
        lines.append("verified: no (the source has no verify)")
    lines.append(f"raw body: {event.raw_body_bytes} bytes")
    return lines


def attempt_dict(a: AttemptRow, owner: str | None = None) -> dict[str, object]:
    """One attempt; `owner` is the id history show was asked about: an attempt recorded under another id
    is a request of a batch the delivery was in, named by `batch_id` (null for its own request)."""
    return {
        "attempt": a.attempt,
        "batch_id": a.delivery_id if owner is not None and a.delivery_id != owner else None,
        "started_at": utc_time(a.started_at),
        "duration_s": a.duration_s,
        "status": a.status,
        "outcome": a.outcome,
        "error": a.error,
        # The answer paused the hook or its destination: no retry is due at a time (null), it waits for a resume.
        "next_at": None if stopped_by_receiver(a) else utc_time(a.next_at),
        "waits_for_resume": stopped_by_receiver(a),
        "request": _safe_request(a),
        "response_headers": redact_headers(a.response_headers),
        "response_excerpt": a.response_excerpt,
        "hops": [{"url": redact_url(h.url), "status": h.status} for h in a.hops],
        "final_url": redact_url(a.final_url) if a.final_url is not None else None,
    }


def hold_text(held: core.Hold, hook: str) -> str:
    """The "next try" of a delivery its hook's pause or breaker, or its destination's gate, holds,
    rather than a due time passed."""
    if held.destination is not None:
        host = held.destination
        due = f"; due {local_time(held.due_at)}" if held.due_at is not None else ""
        if held.pause is not None:
            return (
                f"when its destination {host} is resumed (paused {paused_by_text(held.pause)}: {held.pause.reason}; "
                f"`hookd hooks resume {hook} --destination {host}`){due}"
            )
        return (
            f"once the gate of its destination {host} opens: its circuit breaker is open, a Retry-After hold "
            f"or its rate limit holds it (`hookd status` names which while the daemon runs; a daemon that "
            f"restarts opens it){due}"
        )
    if held.pause is not None:
        return f"when the hook is resumed (paused {paused_by_text(held.pause)}: {held.pause.reason})"
    if held.probe_at is None:
        return "after the breaker's probe (half open: one delivery is probing now)"
    return f"at the breaker's probe, after {local_time(held.probe_at)}"


def hold_dict(held: core.Hold | None) -> dict[str, object] | None:
    """`held_by` in --json: {"paused": {by, reason, at}} or {"breaker": {"probe_at": ...}}, or null; for
    a destination's gate, {"destination": HOST, "paused": {by, reason, at}} when it is paused, else
    {"destination": HOST, "gate_closed": true} (its breaker, a hold or its rate limit)."""
    if held is None:
        return None
    if held.destination is not None:
        if held.pause is not None:
            pause = {"by": held.pause.by, "reason": held.pause.reason, "at": utc_time(held.pause.at)}
            return {"destination": held.destination, "paused": pause, "due_at": utc_time(held.due_at)}
        return {"destination": held.destination, "gate_closed": True, "due_at": utc_time(held.due_at)}
    if held.pause is not None:
        return {"paused": {"by": held.pause.by, "reason": held.pause.reason, "at": utc_time(held.pause.at)}}
    return {"breaker": {"probe_at": utc_time(held.probe_at)}}


def shown_dict(shown: Shown) -> dict[str, object]:
    if shown.batch is not None:
        b = shown.batch
        return {
            "batch": {
                "id": b.batch.id,
                "hook": b.batch.hook,
                "created_at": utc_time(b.batch.created_at),
                "attempts": [attempt_dict(a) for a in b.attempts],
                "deliveries": [delivery_dict(m) for m in b.members],
                # What a request refused with 413 carried: the deliveries split off it, as they are now.
                "departed": [delivery_dict(m) for m in b.departed],
            }
        }
    return {
        "event": event_dict(shown.event) if shown.event is not None else None,
        "deliveries": [
            {
                **delivery_dict(d.delivery),
                # A hook with a templated url host: the host it goes to (its gates are kept per host).
                "destination": d.destination,
                "held_by": hold_dict(core.hold(d)),
                "attempts": [attempt_dict(a, d.delivery.id) for a in d.attempts],
            }
            for d in shown.deliveries
        ],
    }


_NAME_RULES = Redactor()  # no config secrets: the name-based rules only


def _safe_request(a: AttemptRow, redactor: Redactor = _NAME_RULES) -> dict[str, object]:
    """The request as recorded, redacted again: a database written by an older hookd may hold more.
    Without the config's secrets, by the name-based rules alone."""
    request = dict(a.request)
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = redactor.headers({str(k): str(v) for k, v in headers.items()})
    url = request.get("url")
    if isinstance(url, str):
        request["url"] = redactor.url(url)
    return request


def redacted_shown(shown: Shown, redactor: Redactor) -> Shown:
    """`shown` with the config's secrets hidden by value in every attempt (as hookd records them now)
    and in the event's type and body."""
    if not redactor:
        return shown

    def attempt(a: AttemptRow) -> AttemptRow:
        return replace(
            a,
            error=redactor.text(a.error) if a.error else a.error,
            request=_safe_request(a, redactor),
            response_headers=redactor.response_headers(a.response_headers),
            response_excerpt=redactor.text(a.response_excerpt),
            hops=tuple(Hop(redactor.url(h.url), h.status) for h in a.hops),
        )

    details = []
    for d in shown.deliveries:
        error = d.delivery.last_error
        delivery = replace(d.delivery, last_error=redactor.text(error)) if error else d.delivery
        details.append(replace(d, delivery=delivery, attempts=tuple(attempt(a) for a in d.attempts)))
    batch = shown.batch
    if batch is not None:
        batch = replace(batch, attempts=tuple(attempt(a) for a in batch.attempts))
    event = shown.event
    if event is not None:  # a producer's event may quote a secret of the config, as tail and why hide it
        body = redactor.text(event.body.decode("utf-8", errors="replace")).encode()
        event = replace(
            event,
            id=redactor.text(event.id),
            type=redactor.text(event.type),
            body=body if body != event.body else event.body,
        )
    return replace(shown, deliveries=tuple(details), batch=batch, event=event)


def _field(indent: int, label: str, value: str | Sequence[str], *, width: int = 11) -> None:
    """`label  value` with the label dimmed; a value's later lines line up under its first. A str
    value's newlines are its lines (a body, an error); a sequence is one line per item (headers),
    each escaped whole, so that no stored value can add a line of its own."""
    pad = " " * indent
    width = max(width, len(label) + 2)  # a label never runs into its value
    lines = [render.escape(line) for line in (render.split_lines(value) if isinstance(value, str) else value)] or [""]
    render.stdout.print(f"{pad}[dim]{label:<{width}}[/dim]{lines[0]}")
    for line in lines[1:]:
        render.stdout.print(f"{pad}{' ' * width}{line}")


def _print_shown(shown: Shown) -> None:
    out = render.stdout
    esc = render.escape
    if shown.batch is not None:
        _print_batch(shown.batch)
        return
    event = shown.event
    if event is None:
        out.print(f"[bold]event {esc(shown.event_id)}[/bold] [dim](no longer stored)[/dim]")
    else:
        out.print(f"[bold]event {esc(event.id)}[/bold]  {esc(event.type)}")
        _field(2, "time", [event.time])
        _field(2, "received", [f"{local_time(event.received_at)} by source {event.source}"])
        if event.event_source is not None:
            _field(2, "producer", [event.event_source])
        if event.request is not None:
            _field(2, "request", _request_lines(event))
        _field(2, "body", _body_lines(event.body))
    if not shown.deliveries:
        out.print()
        out.print("no deliveries: the event matched no hook")
    for detail in shown.deliveries:
        out.print()
        _print_delivery(detail)


def _body_lines(body: bytes) -> list[str]:
    try:
        lines = render.split_lines(jsonvalue.dumps(jsonvalue.loads(body), indent=True).decode())
    except jsonvalue.JsonValueError:
        lines = render.split_lines(body.decode(errors="replace"))
    if len(lines) > _BODY_LINES:
        lines = [*lines[:_BODY_LINES], f"… {len(lines) - _BODY_LINES} more line(s); --json shows all"]
    return lines


def _delivery_field(label: str, value: str | Sequence[str]) -> None:
    """A field of a delivery, wide enough for its longest label (`destination`), so all line up."""
    _field(2, label, value, width=len("destination") + 2)


def _print_delivery(detail: DeliveryDetail) -> None:
    out = render.stdout
    esc = render.escape
    d = detail.delivery
    out.print(
        f"[bold]delivery {esc(d.id)}[/bold] to hook [bold]{esc(d.hook)}[/bold]: {status_text(d)} after "
        f"{d.attempts} attempt(s)"
    )
    _delivery_field("created", local_time(d.created_at))
    if d.replay_of:
        _delivery_field("replay of", [d.replay_of])
    if d.batch_id:  # its attempts below are its batch's requests, each carrying every member
        _delivery_field("batch", [f"{d.batch_id} (`hookd history show {d.batch_id}` lists its deliveries)"])
    if d.ordering_key is not None:
        _delivery_field("order key", [d.ordering_key])
    if detail.destination is not None:
        _delivery_field("destination", [detail.destination])
    held = core.hold(detail)
    if held is not None:
        _delivery_field("next try", hold_text(held, d.hook))
    elif d.state == "pending" and d.next_at is None and d.ordering_key is not None:
        _delivery_field("next try", "once the earlier deliveries of its ordering key have finished")
    elif d.state == "pending" and d.next_at is not None and d.next_at >= PARK_OFFSET_S:
        # Parked: its destination (a hook with a templated url host) is paused, its breaker open, held or
        # out of tokens; the due time is kept under the offset.
        _delivery_field("next try", f"once its destination's gate opens (`hookd hooks list` shows a paused one); due "
                              f"{local_time(d.next_at - PARK_OFFSET_S)}")  # fmt: skip
    elif d.state == "pending" and d.next_at is not None and d.next_at <= time.time():
        # Due, yet not sent: the daemon holds it in memory (a Retry-After hold of its lane, the rate limit,
        # no free slot), which the database does not record; a bare past time would read as a lost retry.
        waits = "a Retry-After hold or a rate limit; `hookd status` shows them while the daemon runs"
        _delivery_field("next try", f"due since {local_time(d.next_at)}: it waits for a free slot or a gate ({waits})")
    elif d.state == "pending":
        _delivery_field("next try", local_time(d.next_at))
    if not detail.attempts and d.last_error:  # failed before any attempt: the hook's filter failed on the event
        _delivery_field("error", d.last_error)
    elif not detail.attempts:
        out.print("  [dim]no attempt recorded yet[/dim]")
    _print_attempts(detail.attempts, owner=d.id)


def _print_batch(detail: BatchDetail) -> None:
    out = render.stdout
    esc = render.escape
    b = detail.batch
    out.print(
        f"[bold]batch {esc(b.id)}[/bold] to hook [bold]{esc(b.hook)}[/bold]: {b.members} delivery(ies) "
        f"in one request, {b.attempts} attempt(s)"
    )
    _field(2, "created", local_time(b.created_at))
    # A batch answered 413 is split: its deliveries left it for smaller batches (a retry at once).
    split = any(was_split(a) for a in detail.attempts) or bool(detail.departed)
    if detail.members or not split:
        _field(2, "deliveries", [f"{m.id}  event {m.event_id}  {m.status}" for m in detail.members] or ["(pruned)"])
    if split:
        # Members that left it: after a 413 (each went on in a smaller batch), or because others of it
        # were cancelled (the rest went on in a new batch).
        left = [
            f"{m.id}  event {m.event_id}  now {m.status}" + (f" in batch {m.batch_id}" if m.batch_id else "")
            for m in detail.departed
        ]
        _field(2, "left the batch", left or ["(pruned)"], width=20)
    if not detail.attempts:
        out.print("  [dim]no attempt recorded yet[/dim]")
    _print_attempts(detail.attempts)


def was_split(a: AttemptRow) -> bool:
    """Whether attempt `a` was a batch's request answered 413 and split (only a batch of several is
    split; a delivery alone answered 413 fails for good): it is never retried, its deliveries went on."""
    return a.status == 413 and a.outcome == "pending"


def stopped_by_receiver(a: AttemptRow) -> bool:
    """Whether attempt `a` was answered with a pause (its delivery waits for a resume, not a retry time)."""
    return a.outcome == "pending" and a.error is not None and WAITS_FOR_RESUME in a.error


def _print_attempts(attempts: Sequence[AttemptRow], *, owner: str | None = None) -> None:
    """Each attempt; one recorded under another id than `owner` (the delivery shown) was a request of a
    batch it was in, and is labelled with that batch: a delivery split off one batch after a 413 and
    sent in another has an attempt 1 of each."""
    out = render.stdout
    for a in attempts:
        of = f" of batch {render.escape(a.delivery_id)}" if owner is not None and a.delivery_id != owner else ""
        code = f"HTTP {a.status}" if a.status is not None else "no response"
        outcome = {
            "delivered": "[green]delivered[/green]",
            "failed": "[red]failed[/red]",
            "cancelled": "[magenta]cancelled[/magenta]",
        }.get(a.outcome, f"[yellow]retry at {local_time(a.next_at)}[/yellow]")
        if a.outcome == "pending" and stopped_by_receiver(a):
            # The answer paused the hook (or its destination): no retry is due at a time, the next try
            # comes once it is resumed.
            outcome = "[yellow]paused: waits for `hookd hooks resume`[/yellow]"
        elif was_split(a):
            # This request is never sent again: its deliveries went on, at once, in smaller batches.
            outcome = "[yellow]split: its deliveries went on in smaller batches[/yellow]"
        out.print(
            f"  [bold]attempt {a.attempt}{of}[/bold]  {local_time(a.started_at)}  {code} in "
            f"{milliseconds(a.duration_s)} ms: {outcome}"
        )
        if a.error:
            _field(4, "error", a.error)
        request = _safe_request(a)
        headers = request.get("headers")
        lines = [f"{request.get('method', '?')} {request.get('url', '?')}"]
        lines += [f"{k}: {v}" for k, v in (headers.items() if isinstance(headers, dict) else ())]
        _field(4, "request", lines)
        if a.hops:
            hops = [f"{h.status if h.status is not None else 'no response'} {redact_url(h.url)}" for h in a.hops]
            _field(4, "redirects", hops)
            _field(4, "final URL", [redact_url(a.final_url or "")])
        if a.response_headers:
            _field(4, "response", [f"{k}: {v}" for k, v in redact_headers(a.response_headers).items()])
        if a.response_excerpt:
            _field(4, "body", a.response_excerpt)


# -- hookd history stats ------------------------------------------------------------------------------

# Kept first when the terminal is too narrow for every column: whose figures, how well it goes, then
# the counts and latencies behind that.
_STATS_PRIORITY = (
    "hook", "success", "deliveries", "failed", "delivered", "p95 ms", "unfinished", "cancelled", "attempts", "p50 ms",
)  # fmt: skip


@history_app.command("stats")
def stats(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    since: Annotated[
        str, typer.Option("--since", help="Start of the window: a duration ago (1h, 7d) or an RFC 3339 time.")
    ] = "24h",
    until: UntilOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per-hook success rate, attempts, p50/p95 latency and failures by reason over a window.

    Counts the deliveries created in the window (default: the last 24h) and all their attempts;
    failed attempts are grouped by HTTP status or error.

    Exit 0, 2 for bad usage or a missing database.
    """
    config, db = _given_before(ctx, config, db)
    try:
        now = time.time()
        since_at, until_at = window(since, until, now=now)
        assert since_at is not None
        where = database("history stats", config, db, secrets_optional=True)
        end = until_at if until_at is not None else math.inf  # up to now, and anything created meanwhile
        figures = asyncio.run(core.hook_stats(where.path, since=since_at, until=end, origin=where.origin))
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(
            {"since": utc_time(since_at), "until": utc_time(until_at or now), "hooks": [stats_dict(s) for s in figures]}
        )
        return
    span = f"{local_time(since_at)} to {local_time(until_at or now)}"
    if not figures:
        render.stdout.print(f"no deliveries created from {span}")
        return
    render.stdout.print(f"deliveries created from {span}, and all their attempts")
    render.stdout.print()
    cancelled = any(s.cancelled for s in figures)  # a column only when some replay was withdrawn
    cells: dict[str, tuple[str, ...]] = {
        "deliveries": tuple(str(s.deliveries) for s in figures),
        "delivered": tuple(str(s.delivered) for s in figures),
        "failed": tuple(str(s.failed) for s in figures),
        **({"cancelled": tuple(str(s.cancelled) for s in figures)} if cancelled else {}),
        "unfinished": tuple(str(s.unfinished) for s in figures),
        "success": tuple(_success_rate(s) for s in figures),
        "attempts": tuple(str(s.attempts) for s in figures),
        "p50 ms": tuple(milliseconds(s.p50_s) for s in figures),
        "p95 ms": tuple(milliseconds(s.p95_s) for s in figures),
    }
    columns = {
        "hook": Column("hook", tuple(render.escape(s.hook) for s in figures), fold=True),
        **{name: Column(name, values, "right") for name, values in cells.items()},
    }
    table = fitted_table(columns, order=list(columns), priority=_STATS_PRIORITY, width=table_width())
    print_table(table)
    render.stdout.print("success: delivered among finished; p50, p95: attempt durations, failed ones included")
    failures = [(s.hook, f.reason, f.attempts) for s in figures for f in s.failures]
    if failures:
        render.stdout.print()
        reasons = fitted_table(
            {
                "hook": Column("hook", tuple(render.escape(hook) for hook, _, _ in failures), fold=True),
                "reason": Column("reason", tuple(render.escape(one_line(r)) for _, r, _ in failures), flexible=True),
                "attempts": Column("attempts", tuple(str(n) for _, _, n in failures), "right"),
            },
            order=("hook", "reason", "attempts"),
            priority=("hook", "attempts", "reason"),
            width=table_width(),
        )
        reasons.title, reasons.title_justify = "failed attempts by reason", "left"
        print_table(reasons)


def _success_rate(s: HookStats) -> str:
    rate = s.success_rate
    if rate is None:
        return "-"
    colour = "green" if rate == 1.0 else "yellow" if rate >= 0.95 else "red"
    return f"[{colour}]{rate * 100:.1f}%[/{colour}]"


def stats_dict(s: HookStats) -> dict[str, object]:
    return {
        "hook": s.hook,
        "deliveries": s.deliveries,
        "delivered": s.delivered,
        "failed": s.failed,
        "cancelled": s.cancelled,
        "unfinished": s.unfinished,
        "success_rate": s.success_rate,
        "attempts": s.attempts,
        "p50_s": s.p50_s,
        "p95_s": s.p95_s,
        "failures": [{"reason": f.reason, "attempts": f.attempts} for f in s.failures],
    }


# `history rejections`, `history export` and `history audit` live in their own modules and register on
# history_app: imported once this module is whole, whichever is imported first.
from hookd.cli import audit as _audit  # noqa: E402,F401
from hookd.cli import export as _export  # noqa: E402,F401
from hookd.cli import rejections as _rejections  # noqa: E402,F401
