"""`hookd why EVENT_ID`: why an event went (or did not go) to each hook, and what became of it."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    database,
    delivery_dict,
    fail,
    local_time,
    status_text,
    utc_time,
)
from hookd.dryrun import HookResult
from hookd.errors import HookdError
from hookd.history import DeliveryDetail
from hookd.why import Why, why


@app.command("why")
def why_command(
    event_id: Annotated[
        str, typer.Argument(metavar="EVENT_ID", help="An event id (or a delivery's), or a prefix that starts only one.")
    ],
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain one stored event: for each hook, matched or why not (the glob, or the part of the filter
    that was false, with the values it saw), and each delivery's outcome and attempts.

    The verdicts come from the router's own explain path (the one `hookd test` runs) on the stored
    event, with the config of now; when the daemon routed the event with another config, it says so.

    Exit 0, 1 when no event or delivery has the id, 2 for bad usage, an ambiguous prefix or a missing
    database.
    """
    try:
        where = database("why", config, db, need_config=True, secrets_optional=True)
        assert where.settings is not None
        found = asyncio.run(why(where.path, event_id, where.settings, origin=where.origin, now=time.time()))
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(_as_dict(found))
    else:
        _print(found)


def _by_hook(found: Why) -> dict[str, list[DeliveryDetail]]:
    out: dict[str, list[DeliveryDetail]] = {}
    for d in found.deliveries:
        out.setdefault(d.delivery.hook, []).append(d)
    return out


def _config_line(found: Why) -> str:
    now = found.config_sha256[:12]
    routed = found.routed_with
    if routed is None:
        return f"explained with config {now}; which config routed it is not known (stored before hookd noted configs)"
    if not found.config_changed:
        return f"routed with this very config ({now}, since {local_time(routed.since)})"
    return (
        f"routed with config {routed.sha256[:12]} (since {local_time(routed.since)}), which has changed since: the "
        f"verdicts below are the config of now's ({now}); the deliveries are what happened"
    )


def _print(found: Why) -> None:
    out = render.stdout
    esc = render.escape
    e = found.event
    out.print(f"[bold]event {esc(e.id)}[/bold]  {esc(e.type)}")
    out.print(f"  received {local_time(e.received_at)} by source {esc(e.source)}")
    out.print(f"  {esc(_config_line(found))}")
    by_hook = _by_hook(found)
    for h in found.verdicts.hooks:
        _print_verdict(h)
        for d in by_hook.pop(h.hook, []):
            _print_delivery(d)
    for hook, details in by_hook.items():  # deliveries of hooks the config no longer has
        out.print(f"  [magenta]{esc(hook)}: no longer configured[/magenta]; its deliveries are kept:")
        for d in details:
            _print_delivery(d)


def _print_verdict(h: HookResult) -> None:
    out = render.stdout
    esc = render.escape
    if h.matched:
        out.print(f"  [green]{esc(h.hook)}: matched[/green]")
    elif h.filter_error:
        out.print(f"  [red]{esc(h.hook)}: the filter failed on this event[/red]: {esc(h.filter_error)}")
    elif h.filter_parts:
        out.print(f"  [yellow]{esc(h.hook)}: not matched[/yellow], filter is false:")
        for part in h.filter_parts:
            out.print(f"      {esc(part.describe())}")
    else:
        out.print(f"  [yellow]{esc(h.hook)}: not matched[/yellow]: {esc(h.reason)}")


def _print_delivery(d: DeliveryDetail) -> None:
    out = render.stdout
    esc = render.escape
    row = d.delivery
    last = ""
    if d.attempts:
        a = d.attempts[-1]
        code = f"HTTP {a.status}" if a.status is not None else "no response"
        # An error that is only the status ("HTTP 500") says nothing more.
        said = f", {esc(a.error)}" if a.error and a.error.strip() != code else ""
        last = f"; last attempt {local_time(a.started_at)}: {code}{said}"
    out.print(f"    delivery {esc(row.id)}: {status_text(row)} after {row.attempts} attempt(s){last}")


def _as_dict(found: Why) -> dict[str, object]:
    e = found.event
    by_hook = _by_hook(found)
    hooks = []
    for h in found.verdicts.hooks:
        hooks.append({
            "hook": h.hook,
            "matched": h.matched,
            "reason": h.reason or None,
            "failed_at": h.failed_at,
            "filter_parts": [p.as_dict() for p in h.filter_parts],
            "error": h.filter_error or None,
            "deliveries": [_delivery(d) for d in by_hook.pop(h.hook, [])],
        })  # fmt: skip
    routed = found.routed_with
    return {
        "event": {"id": e.id, "type": e.type, "received_at": utc_time(e.received_at), "received_by": e.source},
        "config": {
            "sha256": found.config_sha256,
            "routed_with": None if routed is None else {"sha256": routed.sha256, "since": utc_time(routed.since)},
            "changed": found.config_changed,
        },
        "hooks": hooks,
        "unconfigured": [{"hook": hook, "deliveries": [_delivery(d) for d in ds]} for hook, ds in by_hook.items()],
    }


def _delivery(d: DeliveryDetail) -> dict[str, object]:
    # Imported here: hookd.cli.history imports the app, which registers this module (a cycle at import).
    from hookd.cli.history import attempt_dict

    return {**delivery_dict(d.delivery), "attempts": [attempt_dict(a) for a in d.attempts]}
