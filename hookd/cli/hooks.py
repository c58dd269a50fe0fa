"""`hookd hooks list|pause|resume`: each hook's run-time state, and pausing or resuming one.

They write the database (with or without a running daemon); a running daemon takes the change up
at its next poll, or at once when its admin listener is configured (this command tells it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from types import MappingProxyType
from typing import Annotated

import typer
from rich.table import Table

from hookd import client
from hookd import hook_state as core
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import (
    Column,
    ConfigOption,
    Database,
    DbOption,
    JsonOption,
    compact_time,
    database,
    fail,
    fitted_table,
    local_time,
    one_line,
    operator_origin,
    print_table,
    table_width,
    utc_time,
)
from hookd.config.model import Settings
from hookd.errors import HookdError
from hookd.history import UsageError, database_exists, open_store
from hookd.redact import Redactor
from hookd.store.base import AuditRow, BreakerRecord, HookPause
from hookd.urls import host_is_templated

hooks_app = typer.Typer(
    help="Each hook's state (active, paused, breaker), and pausing or resuming one: its deliveries wait, never "
    "dropped.",
    no_args_is_help=True,
)
app.add_typer(hooks_app, name="hooks")

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The hook's name, as in the config.")]
# How long to wait for a running daemon to take the change up at once; it polls anyway.
WAKE_TIMEOUT_S = 2.0


@hooks_app.command("list")
def list_command(config: ConfigOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """List each hook: its state and why, its backlog, its last success and last failure.

    State is active, paused (by operator, by the receiver: a 410 Gone or `webhook-delivery: disable`,
    or by breaker.disable_after), open (its circuit breaker stopped sending after failures in a row) or
    half_open (it probes with one delivery). Backlog: deliveries waiting or being sent. Configured
    hooks first, then those only the database knows. Works with or without a running daemon.

    A hook whose url host is templated is paused per destination host when a receiver asks (410 Gone,
    `webhook-delivery: disable`) or breaker.disable_after pauses it: each paused destination is a line
    of its own under the hook (`NAME → HOST`), with the reason; the hook's other destinations go on.
    A destination whose deliveries are parked for another reason is a line too, `held` (its circuit
    breaker, a Retry-After hold or its rate limit: `hookd status` names which), with how many wait.

    Before the daemon's first start (no database yet at the config's storage.path), the configured
    hooks, each active with no backlog.

    Exit 0; 2 for bad usage, or a missing database given with --db or without a config.
    """
    try:
        where = database("hooks list", config, db, secrets_optional=True)
        configured = _configured(where.settings)

        async def run() -> list[core.HookListing]:
            async with open_store(where.path, origin=where.origin) as store:
                # Parked deliveries show a destination's closed gate the database has no state for (a
                # breaker, a Retry-After hold, a rate limit: kept in the daemon's memory).
                listings = await core.list_hooks(store, configured)
                parked = await store.parked_destinations([item.name for item in listings])
                return [
                    dataclasses.replace(item, parked=MappingProxyType(parked.get(item.name, {}))) for item in listings
                ]

        fresh = configured is not None and db is None and not database_exists(where.path, where.origin)
        listings = core.configured_listings(configured or ()) if fresh else asyncio.run(run())
    except HookdError as e:
        fail(e)
    if fresh:
        # Said on stderr: --json stays the same list, and nothing is wrong.
        render.stderr.print(
            f"no database yet at {render.escape(str(where.path))} ({render.escape(where.origin)}): hookd serve "
            "creates it on its first start; until then every configured hook is active with no backlog"
        )
    if as_json:
        render.print_json([_listing_dict(item) for item in listings])
        return
    if not listings:
        render.stdout.print("no hooks: the config has none and the database knows none")
        return
    print_table(_table(listings))


@hooks_app.command("pause")
def pause_command(
    name: NameArgument,
    config: ConfigOption = None,
    db: DbOption = None,
    reason: Annotated[
        str | None, typer.Option("--reason", metavar="TEXT", help="Why, shown by hooks list and hookd status.")
    ] = None,
    destination: Annotated[
        str | None,
        typer.Option(
            "--destination",
            metavar="HOST",
            help="Pause only this destination host of a hook with a templated url host (a host it sends to, or "
            "a URL to it), not the hook nor its other destinations.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Pause a hook: its deliveries are stored and wait, spending no attempt, until `hookd hooks resume`.

    `--destination HOST` pauses one destination host of a hook whose url host is templated: its
    deliveries to that host wait, the hook's other destinations go on, until `hookd hooks resume NAME
    --destination HOST` (or `hookd hooks resume NAME`). HOST must be one the hook may send to (its
    allow_hosts); it exits 2 for a hook whose url host is not templated.

    Nothing is dropped or failed for being paused; requests in flight finish. The pause is kept in the
    database: it survives restarts and config edits (a renamed hook is a new hook). A running
    daemon takes it up within a second (at once when its admin listener is configured). An operator's
    pause does not make health degraded. Pausing a hook that is paused already changes nothing.

    Before the daemon's first start, it creates the database at the config's storage.path (as hookd
    serve would, with the same migrations) and stores the pause there; with --db it never creates one
    (a typo must not leave an empty database behind).

    Exit 0; 2 for an unknown hook (with a did-you-mean), bad usage, or a missing database given with --db.
    """
    now = time.time()
    try:
        where = database("hooks pause", config, db, secrets_optional=True)
        configured = _configured(where.settings)
        # The config's own storage.path: the database hookd serve would create there.
        create = where.settings is not None and db is None
        created = create and not database_exists(where.path, where.origin)
        synchronous = where.settings.storage.synchronous if where.settings is not None else "normal"
        if created and configured is not None and name not in configured:
            # No database yet, so it knows no hook: a name the config lacks is a typo, refused before
            # the database is created (else the next, right, pause would not say it created it).
            raise core.UnknownHookName(name, configured, configured=True)

        key = _destination_key(where.settings, name) if destination is not None else None
        host = core.destination_host(destination, key)[0] if destination is not None else None
        if host is not None:
            _check_has_destinations(where.settings, name, "pause")
            if key is not None:
                core.check_port_given(host, key)
                core.check_allowed(host, key, where.settings.secrets if where.settings is not None else ())
            host = _hidden(host, where.settings)

        async def run() -> tuple[HookPause, bool]:
            async with open_store(where.path, origin=where.origin, create=create, synchronous=synchronous) as store:
                await core.check_name(store, name, configured)
                if host is not None:
                    done = await core.pause_destination(store, name, host, reason=reason, now=now)
                else:
                    done = await core.pause(store, name, reason=reason, now=now)
                await store.audit(_pause_audit(name, host, *done, now=now, settings=where.settings))
                return done

        pause, changed = asyncio.run(run())
        woken = _wake(where) if changed else False
    except HookdError as e:
        fail(e)
    # Only the database knows it (a hook removed or renamed in the config): the pause is stored all the
    # same, and a typo of a configured name was refused above, so this is said, not refused.
    missing = configured is not None and name not in configured
    if missing and where.settings is not None:
        render.stderr.print(
            f"[yellow]warning:[/yellow] {render.escape(name)} is not in the config "
            f"({render.escape(str(where.settings.config_path))}), only in the database: the pause is stored "
            "and holds its stored deliveries, and a hook of that name added back to the config starts paused"
        )
    if as_json:
        render.print_json(
            {
                "hook": name,
                "destination": host,
                "changed": changed,
                "paused": _pause_dict(pause),
                "daemon_told": woken,
                "configured": not missing,
                "database_created": created,
            }
        )
        return
    esc = render.escape
    if created:
        render.stdout.print(
            f"created the database at {esc(str(where.path))} ({esc(where.origin)}), as hookd serve does on its "
            "first start"
        )
    what = esc(name) if host is None else f"{esc(name)} → {esc(host)}"
    if not changed:
        render.stdout.print(
            f"{what} is paused already, {esc(core.paused_by_text(pause))} since {local_time(pause.at)}: "
            f"{esc(pause.reason)}; nothing changed"
        )
        return
    if host is not None:
        render.stdout.print(
            f"paused {what}: its deliveries to {esc(host)} are kept and wait until `hookd hooks resume {esc(name)} "
            f"--destination {esc(host)}`; its other destinations go on" + _daemon_note(woken)
        )
        return
    render.stdout.print(
        f"paused {esc(name)}: its deliveries are kept and wait until `hookd hooks resume {esc(name)}`"
        + _daemon_note(woken)
    )


@hooks_app.command("resume")
def resume_command(
    name: NameArgument,
    config: ConfigOption = None,
    db: DbOption = None,
    destination: Annotated[
        str | None,
        typer.Option(
            "--destination",
            metavar="HOST",
            help="Resume only this destination host of a hook with a templated url host (as hooks list shows "
            "it), not the hook nor its other destinations.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Resume a paused hook, whoever paused it, and each of its paused destinations: its waiting
    deliveries are sent (within its limits).

    A hook whose url host is templated is paused per destination host by its receivers (410 Gone,
    `webhook-delivery: disable`) and by breaker.disable_after; `--destination HOST` resumes that one only
    (HOST as hooks list shows it, in any case, or a URL to it); it exits 2 naming the hook's paused
    destinations when HOST is not one of them, and when the hook's url host is not templated.
    A running daemon takes it up within a second (at once when its admin listener is configured);
    otherwise the backlog goes out at the next start. Resuming a hook that is not paused changes nothing;
    when its circuit breaker is open, it says so, and when the breaker probes (a resume does not close it).

    Exit 0; 2 for an unknown hook (with a did-you-mean), bad usage or a missing database.
    """
    now = time.time()
    try:
        where = database("hooks resume", config, db, secrets_optional=True)
        configured = _configured(where.settings)
        key = _destination_key(where.settings, name) if destination is not None else None
        host, from_url = core.destination_host(destination, key) if destination is not None else (None, False)
        host = _hidden(host, where.settings) if host is not None else None

        async def run() -> tuple[HookPause | None, dict[str, HookPause], int, HookPause | None, BreakerRecord | None]:
            async with open_store(where.path, origin=where.origin) as store:
                await core.check_name(store, name, configured)
                if host is not None:
                    await core.check_destination(store, name, host, templated=_templated(where.settings, name))
                lifted = await core.resume(store, name, now=now) if host is None else None
                hosts = await core.resume_destinations(store, name, host, now=now)
                activity = (await store.hook_activity()).get(name)
                state = (await store.hook_states()).get(name)
                still = state.pause if state is not None and host is not None else None
                breaker = state.breaker if state is not None else None
                backlog = activity.backlog if activity is not None else 0
                await store.audit(_resume_audit(name, host, lifted, hosts, backlog, now=now))
                return lifted, hosts, backlog, still, breaker

        lifted, hosts, backlog, still_paused, breaker = asyncio.run(run())
        woken = _wake(where) if lifted is not None or hosts else False
    except HookdError as e:
        fail(e)
    if as_json:
        render.print_json(
            {
                "hook": name,
                "changed": lifted is not None or bool(hosts),
                "lifted": _pause_dict(lifted),
                "destinations": [{"destination": h, "lifted": _pause_dict(p)} for h, p in sorted(hosts.items())],
                # The hook's whole backlog; with --destination, null (that destination's is not counted).
                "backlog": backlog if host is None else None,
                "hook_paused": _pause_dict(still_paused),
                # Its circuit breaker when it is not closed: a resume does not close it.
                "breaker": _breaker_dict(breaker),
                "daemon_told": woken,
            }
        )
        return
    esc = render.escape
    given = f" (the host of the URL {esc(destination or '')})" if from_url else ""
    if lifted is None and not hosts:
        what = esc(name) if host is None else f"{esc(name)}'s destination {esc(host)}"
        if host is None and breaker is not None:
            render.stdout.print(f"{what} is not paused; nothing changed: {breaker_text(name, breaker)}")
            return
        render.stdout.print(f"{what} is not paused; nothing changed")
        return
    parts = []
    if lifted is not None:
        parts.append(f"{esc(name)} (paused {esc(core.paused_by_text(lifted))} since {local_time(lifted.at)})")
    for each, pause in sorted(hosts.items()):
        parts.append(
            f"{esc(name)} → {esc(each)}{given} (paused {esc(core.paused_by_text(pause))} since {local_time(pause.at)})"
        )
    if still_paused is not None:
        # Its destination's gate is open, but the hook's own pause still holds every delivery.
        outcome = (
            f": the hook itself is still paused {esc(core.paused_by_text(still_paused))}, so nothing is sent "
            f"until `hookd hooks resume {esc(name)}`"
        )
    elif host is not None:
        outcome = ": its waiting deliveries are sent"
    else:
        outcome = f": {backlog} delivery(ies) waiting are sent"
    render.stdout.print(f"resumed {', '.join(parts)}{outcome}" + _daemon_note(woken))


def _pause_audit(
    name: str, host: str | None, pause: HookPause, changed: bool, *, now: float, settings: Settings | None
) -> AuditRow:
    """The audit row of `hooks pause`: the hook (and destination), and the reason given (a config secret
    pasted into it hidden), or the pause that stood."""
    target = name if host is None else f"{name} → {host}"
    if changed:
        detail = pause.reason
    else:
        detail = f"paused already, {core.paused_by_text(pause)}: {pause.reason}; nothing changed"
    if settings is not None:
        detail = Redactor(settings.secrets).text(detail)
    return AuditRow(at=now, action="pause", target=target, detail=detail, origin=operator_origin())


def _resume_audit(
    name: str, host: str | None, lifted: HookPause | None, hosts: dict[str, HookPause], backlog: int, *, now: float
) -> AuditRow:
    """The audit row of `hooks resume`: the hook (and destination), what was lifted, and the backlog."""
    target = name if host is None else f"{name} → {host}"
    if host is None:
        target += f" ({backlog} delivery(ies) waiting)"
    lifts = [f"the hook's pause ({core.paused_by_text(lifted)})"] if lifted is not None else []
    lifts += [f"{each}'s pause ({core.paused_by_text(p)})" for each, p in sorted(hosts.items())]
    detail = f"lifted {', '.join(lifts)}" if lifts else "not paused; nothing changed"
    return AuditRow(at=now, action="resume", target=target, detail=detail, origin=operator_origin())


def breaker_text(name: str, breaker: BreakerRecord) -> str:
    """Why a hook that is not paused still sends nothing: its circuit breaker, since when and why, and
    when it probes (a resume does not close a breaker; a delivered probe does)."""
    esc = render.escape
    since = f"since {local_time(breaker.since)} ({esc(breaker.reason)})"
    if breaker.state == "half_open":
        probe = "it is probing now with one delivery"
    elif breaker.retry_at is not None:
        probe = f"it probes with one delivery at {local_time(breaker.retry_at)}"
    else:
        probe = "it probes with one delivery after its cooldown"
    state = "half open" if breaker.state == "half_open" else "open"
    return (
        f"its circuit breaker is {state} {since}; {probe}, and closes when that is delivered "
        f"(`hookd hooks list` shows it; a daemon that restarts starts it closed)"
    )


def _hidden(host: str, settings: Settings | None) -> str:
    """The destination as the daemon keys it: a config secret in the host shown as its reference."""
    return core.hidden_destination(host, Redactor(settings.secrets)) if settings is not None else host


def _destination_key(settings: Settings | None, name: str) -> core.DestinationKey | None:
    """How configured hook `name` keys its destinations; None without it in a config (or with a fixed host)."""
    hook = next((h for h in settings.hooks if h.name == name), None) if settings is not None else None
    if hook is None or not host_is_templated(hook.url):
        return None
    return core.destination_key(name, hook.url, hook.allow_hosts)


def _check_has_destinations(settings: Settings | None, name: str, verb: str) -> None:
    """Raise a UsageError (exit 2) when configured hook `name` has a url host that is not templated."""
    if _templated(settings, name) is False:
        raise UsageError(
            f"hook {name!r} has no destinations of its own: its url host is not templated, so it is {verb}d as "
            f"a whole; drop --destination (hookd hooks {verb} {name})"
        )


def _templated(settings: Settings | None, name: str) -> bool | None:
    """Whether the configured hook `name` has a templated url host; None without it in a config."""
    hook = next((h for h in settings.hooks if h.name == name), None) if settings is not None else None
    return host_is_templated(hook.url) if hook is not None else None


def _configured(settings: Settings | None) -> list[str] | None:
    return [h.name for h in settings.hooks] if settings is not None else None


def _wake(where: Database) -> bool:
    """Tell a running daemon to read the hook states now, through its admin listener when the config
    has one; False when there is none or nothing answered (a daemon polls the table anyway), or when
    its token is a reference not set here (the daemon then notices within a second)."""
    settings = where.settings
    if settings is None or not settings.admin.enabled:
        return False
    if settings.admin.path is None and settings.admin.listen[1] == 0:
        return False  # only the daemon knows its port
    token = settings.admin.token
    if token is not None and any(ref in token for ref in where.unresolved):
        return False
    try:
        url = client.admin_url(settings)
        return asyncio.run(
            client.refresh_hooks(
                url, token=settings.admin.token, timeout_s=WAKE_TIMEOUT_S, socket=client.admin_socket(settings)
            )
        )
    except HookdError:
        return False


def _daemon_note(woken: bool) -> str:
    if woken:
        return " (the running daemon took it up)"
    return " (a running hookd takes it up within a second; a stopped one at its next start)"


# -- output -------------------------------------------------------------------------------------------


def _pause_dict(pause: HookPause | None) -> dict[str, object] | None:
    if pause is None:
        return None
    return {"by": pause.by, "reason": pause.reason, "at": utc_time(pause.at)}


def _breaker_dict(b: BreakerRecord | None) -> dict[str, object] | None:
    if b is None:
        return None
    return {"state": b.state, "reason": b.reason, "since": utc_time(b.since), "probe_at": utc_time(b.retry_at)}


def _listing_dict(item: core.HookListing) -> dict[str, object]:
    b = item.breaker
    return {
        "name": item.name,
        "configured": item.configured,
        "state": item.state,
        "paused": _pause_dict(item.pause),
        "breaker": None
        if b is None
        else {"state": b.state, "reason": b.reason, "since": utc_time(b.since), "probe_at": utc_time(b.retry_at)},
        "backlog": item.backlog,
        # No success or failure times are kept per destination: null, not the hook's. A destination with
        # parked deliveries and no pause is `held` (its breaker, a Retry-After hold or its rate limit).
        "destinations": [
            {
                "destination": h,
                "state": "paused" if p is not None else "held",
                "paused": _pause_dict(p),
                "parked": item.parked.get(h, 0),
                "last_success_at": None,
                "last_failure_at": None,
            }
            for h, p in _destination_rows(item)
        ],
        "last_success_at": utc_time(item.last_success_at),
        "last_failure_at": utc_time(item.last_failure_at),
    }


def _destination_rows(item: core.HookListing) -> list[tuple[str, HookPause | None]]:
    """A hook's paused destinations, then those held with parked deliveries, by host."""
    held = [(h, None) for h in item.parked if h not in item.destinations]
    return sorted([*item.destinations.items(), *held], key=lambda row: row[0])


HELD_REASON = (
    "its gate is closed: its circuit breaker is open, a Retry-After hold or its rate limit holds its deliveries "
    "(hookd status names which)"
)


def why(item: core.HookListing) -> tuple[str, float | None]:
    """The reason for a hook's state, and since when; ("", None) for an active hook."""
    if item.pause is not None:
        return f"{core.paused_by_text(item.pause)}: {item.pause.reason}", item.pause.at
    if item.held:
        return HELD_REASON, None
    if item.breaker is not None:
        return f"by the circuit breaker: {item.breaker.reason}", item.breaker.since
    return "", None


_ORDER = ("hook", "state", "since", "backlog", "last success", "last failure", "why")
_PRIORITY = ("hook", "state", "backlog", "why", "since", "last failure", "last success")
_COLOURS = {"active": "green", "paused": "yellow", "held": "yellow", "open": "red", "half_open": "yellow"}


def _table(listings: Sequence[core.HookListing]) -> Table:
    esc = render.escape
    now = time.time()

    def when(at: float | None) -> str:
        return local_time(at) if at is not None else "-"

    def short(at: float | None) -> str:
        return compact_time(at, now=now) if at is not None else "-"

    # A hook's paused destinations are lines of their own under it: `NAME → HOST`, paused, with the reason.
    rows: list[core.HookListing] = []
    names = []
    backlog_texts = []
    for item in listings:
        rows.append(item)
        names.append(esc(item.name) + ("" if item.configured else " [dim](not in config)[/dim]"))
        backlog_texts.append(str(item.backlog))
        for host, pause in _destination_rows(item):
            # The hook's last success and failure are not this host's: none are kept per host, so left empty.
            rows.append(
                dataclasses.replace(
                    item,
                    pause=pause,
                    breaker=None,
                    destinations=MappingProxyType({}),
                    parked=MappingProxyType({}),
                    held=pause is None,
                    last_success_at=None,
                    last_failure_at=None,
                )
            )
            names.append(f"{esc(item.name)} → {esc(host)}")
            # Its parked deliveries, counted in the hook's too.
            parked = item.parked.get(host)
            backlog_texts.append(f"({parked})" if parked else "-")
    backlogs = tuple(backlog_texts)
    listings = rows
    reasons = [why(item) for item in listings]
    columns = {
        "hook": Column("hook", tuple(names), fold=True),
        "state": Column("state", tuple(f"[{_COLOURS[i.state]}]{i.state}[/{_COLOURS[i.state]}]" for i in listings)),
        "since": Column("since", tuple(when(at) for _, at in reasons), compact=tuple(short(at) for _, at in reasons)),
        "backlog": Column("backlog", backlogs, "right"),
        "last success": Column(
            "last success",
            tuple(when(i.last_success_at) for i in listings),
            compact=tuple(short(i.last_success_at) for i in listings),
        ),
        "last failure": Column(
            "last failure",
            tuple(when(i.last_failure_at) for i in listings),
            compact=tuple(short(i.last_failure_at) for i in listings),
        ),
        "why": Column("why", tuple(esc(one_line(text)) or "-" for text, _ in reasons), flexible=True),
    }
    return fitted_table(columns, order=_ORDER, priority=_PRIORITY, width=table_width())
