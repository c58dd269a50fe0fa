"""`hookd history export --as-test`: stored events as `hookd test --cases` entries, to commit beside the
config, with what the config does with them today as the expectation."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from hookd.cli import render
from hookd.cli.common import (
    ConfigOption,
    DbOption,
    EventOption,
    HookOption,
    SinceOption,
    TypeOption,
    UntilOption,
    database,
    fail,
    utc_time,
    warn,
    window,
)
from hookd.cli.history import _given_before, history_app
from hookd.errors import HookdError
from hookd.export_cases import case_for, cases_text, stored_events
from hookd.history import UsageError
from hookd.router import Router
from hookd.store.base import DeliveryQuery

_DEFAULT_EXPORT_LIMIT = 50


@history_app.command("export")
def export(
    ctx: typer.Context,
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID", help="Event ids, or prefixes that start only one stored event id."),
    ] = None,
    as_test: Annotated[
        bool, typer.Option("--as-test", help="Print `hookd test --cases` entries (the one export format).")
    ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
    hook: HookOption = None,
    event: EventOption = None,
    event_type: TypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="At most this many events, the newest; 0 for all.")
    ] = _DEFAULT_EXPORT_LIMIT,
) -> None:
    """Print stored events as test cases for `hookd test --cases`, expecting what the config does now.

    Events are named by id, or chosen with the selectors `hookd history` takes (--hook, --type,
    --since, --until, --event), which pick events through their deliveries: an event that matched
    no hook is exported by its id. Each case expects exactly the hooks that match now, and for each
    its body, its headers, method and URL as `hookd test` renders them, leaving out what changes
    from run to run (signatures, timestamps, delivery ids). Secrets are redacted. An event an http
    source received is routed without its request, which the cases format cannot carry; hooks that
    depend on it are left out, with a comment saying so.

    `hookd history export ID --as-test -c hookd.yaml > hookd.tests.yaml`, then
    `hookd test -c hookd.yaml --cases hookd.tests.yaml` passes, and fails once a config change
    alters the routing or rendering of those events.

    Exit 0, 1 when no stored event matches, 2 for bad usage or a missing database.
    """
    config, db = _given_before(ctx, config, db)
    selectors = bool(hook or event or event_type or since or until)
    try:
        if not as_test:
            raise UsageError("hookd history export prints test cases, its one format so far: add --as-test")
        if not ids and not selectors:
            raise UsageError(
                "hookd history export needs events: give their ids, or select them with --hook, --type, "
                "--since, --until or --event"
            )
        now = time.time()
        since_at, until_at = window(since, until, now=now)
        query = (
            DeliveryQuery(
                hooks=tuple(hook or ()),
                event_ids=tuple(event or ()),
                type_glob=event_type,
                since=since_at,
                until=until_at,
            )
            if selectors
            else None
        )
        where = database("history export", config, db, need_config=True)
        settings = where.settings
        assert settings is not None  # need_config
        selection = asyncio.run(
            stored_events(where.path, origin=where.origin, ids=ids or [], query=query, limit=limit or None)
        )
    except HookdError as e:
        fail(e)
    for value in selection.unmatched:
        warn(f"no stored event id is or starts with {value!r}")
    if not selection.records:
        render.stderr.print("no stored event matches; nothing exported (`hookd history` lists what is stored)")
        raise typer.Exit(1)
    router = Router(settings.hooks, secrets=settings.secrets)
    redactor = router.redactor
    cases = [case_for(record, router, redactor, now=now) for record in selection.records]
    header = (
        f"Stored events exported by `hookd history export --as-test` at {utc_time(now)}, each expecting",
        f"what {settings.config_path} (sha256 {settings.config_sha256[:12]}) did with it then.",
        f"Run: hookd test -c {settings.config_path} --cases THIS_FILE",
    )
    # As written, not through rich: the text is a file to commit (no markup, no wrapping).
    render.write(cases_text(cases, header=header, redactor=redactor))
