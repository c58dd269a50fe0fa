"""`hookd replay`: queue stored deliveries again, or re-ingest events from a JSON Lines file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from hookd import history as core
from hookd import replay as replays
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.common import (
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
    local_time,
    operator_origin,
    print_table,
    table_width,
    utc_time,
    warn,
    window,
)
from hookd.cli.state import state
from hookd.clock import RealClock
from hookd.errors import HookdError
from hookd.router import Router
from hookd.store.base import DELIVERY_STATUSES, FINISHED_STATES, DeliveryQuery, DeliveryStatus
from hookd.units import parse_rate

# Fewer than this finish before a bar would be worth drawing.
PROGRESS_MIN = 200


@app.command()
def replay(
    config: ConfigOption = None,
    db: DbOption = None,
    event: EventOption = None,
    hook: HookOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="Only deliveries that ended so: delivered, failed or cancelled (default: delivered and failed). "
            "With --cancel: pending or retrying (default: both).",
        ),
    ] = None,
    event_type: TypeOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            metavar="FILE",
            help="Re-ingest the events of this JSON Lines file and deliver them to the hooks they match now.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be queued; change nothing.")] = False,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate",
            metavar="N/s",
            help="Space the replays 1/N seconds apart (like 5/s or 100/min). The due times are stored, so the "
            "daemon keeps this pace even after this command exits.",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Send them now from this process and wait for each first attempt (only while no daemon runs: "
            "a running one sends them itself).",
        ),
    ] = False,
    cancel: Annotated[
        bool,
        typer.Option(
            "--cancel",
            help="Withdraw queued replays instead (those --event, --hook, --status, --type, --since and --until "
            "select; all without them): they become `cancelled`, kept in history, never sent.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue stored deliveries again, or re-ingest the events of a JSON Lines file.

    Selects finished deliveries like history does, or with --from-file routes each event of the file
    with the config's hooks. A replay is a new delivery of the same event (same webhook-id, so
    receivers can dedupe), marked as a replay in history. A delivery already replayed is represented
    by its newest replay, so running the same replay twice does not multiply deliveries. A running
    daemon sends replays within a second; without one, they wait for its next start (or use --wait).

    --wait sends from this process; stopped by Ctrl-C (SIGINT) or SIGTERM, it withdraws what it
    queued and has not sent (they become `cancelled`), records the attempts in flight as cancelled,
    says how many of each, and exits 130 (143 for SIGTERM). --cancel withdraws queued replays,
    pending or retrying, by the same selectors, and says how many; --dry-run counts them only.
    --event takes an event id or a prefix that starts only one. Each replay and cancel but a dry run
    leaves a row in `hookd history audit`.

    Exit 0 when queued or withdrawn (or nothing matched), 1 when a delivery failed under --wait, 2 for
    bad usage, a bad line in --from-file (nothing is queued then), a missing database, or --wait
    while a daemon runs.
    """
    try:
        now = time.time()
        rate_per_s = _rate(rate)
        selecting = any((event, hook, status, event_type, since, until))
        if from_file is not None and selecting:
            raise core.UsageError(
                "--from-file replays the file's events; filters like --event, --hook, --status, --type, --since "
                "and --until select stored deliveries instead: use one or the other"
            )
        if cancel:
            _check_cancel(from_file=from_file, wait=wait, rate=rate)
        elif from_file is None and not selecting:
            raise core.UsageError(
                "say what to replay: --status failed, --event ID, --hook NAME, --type GLOB, --since 1h (any "
                "together), or --from-file FILE"
            )
        statuses = core.parse_statuses(status or (), allowed=replays.QUEUED) if cancel else _finished(status or ())
        since_at, until_at = window(since, until, now=now)
        where = database("replay", config, db, need_config=from_file is not None or wait)
        settings = where.settings
        request = replays.ReplayRequest(
            db=where.path,
            origin=where.origin,
            query=None
            if from_file is not None
            else DeliveryQuery(
                event_ids=tuple(event or ()),
                hooks=tuple(hook or ()),
                statuses=statuses,
                type_glob=event_type,
                since=since_at,
                until=until_at,
            ),
            events=tuple(replays.read_events_file(from_file, now=now)) if from_file is not None else None,
            source=f"replay:{from_file.name}" if from_file is not None else "replay",
            router=Router(settings.hooks, secrets=settings.secrets) if settings is not None else None,
            dry_run=dry_run,
            rate_per_s=rate_per_s,
            wait=wait,
            cancel=cancel,
            concurrency=settings.delivery.concurrency if settings is not None else 100,
            synchronous=settings.storage.synchronous if settings is not None else "normal",
            audit_origin=operator_origin(),
        )
        with _progress() as progress, _quiet_dispatcher():
            result, caught = asyncio.run(_run(request, progress, stoppable=wait))
    except HookdError as e:
        fail(e)
    for unknown in result.unknown_hooks:
        warn(unknown.message())
    if as_json:
        render.print_json(_result_dict(result, dry_run=dry_run, cancel=cancel))
    elif cancel:
        _warn_missing_events(result)
        verb = "would withdraw" if dry_run else "withdrew"
        render.stdout.print(f"{verb} {result.withdrawn:,} queued replay(s)")
    else:
        _print_result(result, dry_run=dry_run, rate=rate)
    if caught is not None:
        raise typer.Exit(128 + caught)
    if result.failed:
        raise typer.Exit(1)


def _finished(values: Sequence[str]) -> tuple[DeliveryStatus, ...]:
    """--status values for a replay: finished states only. An unfinished one is named as such; any
    other word gets the list of what replay takes (not every state history knows)."""
    try:
        return core.parse_statuses(values, allowed=FINISHED_STATES)
    except core.UsageError as not_finished:
        try:
            statuses = core.parse_statuses(values, allowed=DELIVERY_STATUSES)
        except core.UsageError:
            raise not_finished from None
    unfinished = next(s for s in statuses if s not in FINISHED_STATES)
    raise core.UsageError(
        f"--status {unfinished} deliveries are still queued and will be sent anyway; replay takes finished "
        "ones: --status delivered, --status failed or --status cancelled"
    )


def _warn_missing_events(result: replays.ReplayResult) -> None:
    """A warning per --event value the database holds no event for; a delivery's id says which to give."""
    given = dict(result.deliveries_given)
    for value in result.missing_events:
        delivery = given.get(value)
        if delivery is None:
            warn(f"no event {value!r} in the database")
            continue
        which = "is" if delivery.id == value else "starts"
        warn(
            f"no event {value!r} in the database: it {which} the id of delivery {delivery.id} (event "
            f"{delivery.event_id!r} to hook {delivery.hook!r}); to replay that delivery, give --event "
            f"{shlex.quote(delivery.event_id)} --hook {shlex.quote(delivery.hook)}"
        )


def _check_cancel(*, from_file: Path | None, wait: bool, rate: str | None) -> None:
    given = [flag for flag, on in (("--from-file", from_file is not None), ("--wait", wait), ("--rate", rate)) if on]
    if given:
        raise core.UsageError(
            f"--cancel withdraws queued replays; {given[0]} queues or sends them: use one or the other"
        )


async def _run(
    request: replays.ReplayRequest, progress: _Bar, *, stoppable: bool
) -> tuple[replays.ReplayResult, int | None]:
    """replays.run, stopped by the first SIGINT or SIGTERM when `stoppable` (--wait); also returns
    the signal that stopped it. The handlers are this command's only while it runs."""
    if not stoppable or threading.current_thread() is not threading.main_thread():  # only it gets signals
        return await replays.run(request, clock=RealClock(), progress=progress), None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[int] = []

    def on_signal(sig: int) -> None:
        if not caught:  # a second one changes nothing: withdrawing takes a moment, and must finish
            caught.append(sig)
            stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        result = await replays.run(request, clock=RealClock(), progress=progress, stop=stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return result, caught[0] if caught else None


def _rate(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_rate(text).per_s
    except ValueError as e:
        raise core.UsageError(f"--rate: {e}") from None


class _Bar:
    """replays.Progress drawn with rich on stderr, only on a terminal and only for long work."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, description: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
            self.task = None
        if total >= PROGRESS_MIN:
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)


@contextlib.contextmanager
def _progress() -> Iterator[_Bar]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=render.stderr,
        transient=True,
        disable=not render.stderr.is_terminal,
    )
    try:
        yield _Bar(progress)
    finally:
        progress.stop()


@contextlib.contextmanager
def _quiet_dispatcher() -> Iterator[None]:
    """--wait prints a summary; one log line per attempt would scroll it (and the bar) away."""
    logger = logging.getLogger("hookd.dispatcher")
    level = logger.level
    if not state.debug:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _result_dict(result: replays.ReplayResult, *, dry_run: bool, cancel: bool) -> dict[str, object]:
    if cancel:
        return {"dry_run": dry_run, "withdrawn": result.withdrawn}
    items = []
    for i, t in enumerate(result.targets):
        q = result.queued[i] if i < len(result.queued) else None  # queued in target order
        items.append(
            {
                "id": q.id if q is not None else None,
                "replay_of": t.original.id if t.original is not None else None,
                "event_id": t.event_id,
                "type": t.event_type,
                "hook": t.hook,
                "next_at": utc_time(q.next_at) if q is not None else None,
            }
        )
    doc: dict[str, object] = {"dry_run": dry_run, "queued": 0 if dry_run else len(result.queued), "deliveries": items}
    if result.plan is not None:
        doc["events"] = result.plan.events
        doc["new_events"] = len(result.plan.new_events)
        doc["skipped_unfinished"] = result.plan.unfinished
        doc["filter_failures"] = [
            {"event_id": event_id, "hook": hook, "error": reason}
            for event_id, hook, reason in result.plan.filter_failures
        ]
    if result.unconfigured:
        doc["unconfigured_hooks"] = list(result.unconfigured)
    if result.paused:
        doc["paused_hooks"] = [hook for hook, _ in result.paused]
    if result.paused_destinations:
        doc["paused_destinations"] = [{"hook": h, "destination": d} for h, d, _ in result.paused_destinations]
    if result.missing_events:
        doc["missing_events"] = list(result.missing_events)
    if result.deliveries_given:
        doc["delivery_ids_given"] = [
            {"given": value, "delivery_id": d.id, "event_id": d.event_id, "hook": d.hook}
            for value, d in result.deliveries_given
        ]
    if result.sent is not None:
        doc["results"] = [delivery_dict(r) for r in result.sent]
    if result.stopped:
        doc["stopped"] = True
        doc["withdrawn"] = result.withdrawn
        doc["cut_off"] = result.cut_off
    return doc


def _print_result(result: replays.ReplayResult, *, dry_run: bool, rate: str | None) -> None:
    out = render.stdout
    esc = render.escape
    plan = result.plan
    if plan is not None:
        stored = plan.events - len(plan.new_events)
        out.print(
            f"{plan.events} event(s) in the file: {len(plan.new_events)} new, {stored} already stored "
            f"(those keep their deliveries and get replays)"
        )
        if plan.unfinished:
            out.print(f"{plan.unfinished} left out: a delivery of that event to that hook is still queued")
        for event_id, hook, reason in plan.filter_failures:
            warn(f"event {event_id!r} left out for hook {hook!r}: {reason}")
    _warn_missing_events(result)
    if not result.targets:
        if plan is None:
            out.print("nothing to replay: no finished delivery matches")
        elif plan.unfinished or plan.filter_failures:
            # Hooks do match them: each pair was left out above, which "no hook matches" would contradict.
            out.print(
                "nothing to replay: every delivery they match is left out (above); a queued one is sent anyway "
                "(hookd history --status pending shows it)"
            )
        else:
            out.print("no hook matches them")
        return
    for hook, pause in result.paused:
        warn(
            f"hook {hook!r} is paused (by {pause.by} since {local_time(pause.at)}: {pause.reason}): its replays "
            f"wait until `hookd hooks resume {hook}`"
        )
    for hook in result.unconfigured:
        warn(f"hook {hook!r} is not in the config: its replays wait until it is configured again")
    if dry_run:
        if plan is None:
            originals = [t.original for t in result.targets if t.original is not None]
            caption = f"would replay {len(originals)} delivery(ies)"
            print_table(deliveries_table(originals, caption=caption, width=table_width()))
        else:
            print_table(_targets_table(result.targets))
        out.print("dry run: nothing was queued")
        return
    hooks = ", ".join(dict.fromkeys(q.target.hook for q in result.queued))
    out.print(f"queued {len(result.queued)} replay(s) to {esc(hooks)}")
    if rate is not None and len(result.queued) > 1:
        out.print(f"spaced at {esc(rate)}: the last is due at {local_time(result.queued[-1].next_at)}")
    if result.sent is None:
        out.print(
            "a running hookd sends them within a second; if none runs, they wait for its next start "
            "(hookd history --status pending shows them)"
        )
        return
    delivered = sum(1 for r in result.sent if r.state == "delivered")
    failed = sum(1 for r in result.sent if r.state == "failed")
    retrying = sum(1 for r in result.sent if r.status == "retrying")
    if result.stopped:
        out.print(
            f"stopped: withdrew {result.withdrawn:,} queued replay(s); {result.cut_off:,} in flight were recorded "
            f"as cancelled; {delivered:,} delivered and {failed:,} failed before the stop (hookd history --status "
            "cancelled lists the withdrawn ones; hookd replay --status cancelled queues them again)"
        )
        return
    waiting = len(result.sent) - delivered - failed - retrying
    for hook, host, pause in result.paused_destinations:
        warn(
            f"hook {hook!r}: destination {host} is paused (by {pause.by} since {local_time(pause.at)}: "
            f"{pause.reason}): its replays wait until `hookd hooks resume {hook} --destination {host}`"
        )
    line = f"[green]{delivered} delivered[/green], [red]{failed} failed[/red], {retrying} to be retried"
    out.print(line + (f", {waiting} not sent" if waiting else ""))
    # Replays to a paused hook are never attempted: said here, in the same stream as their table and
    # before it, not as "not delivered" (nothing was tried).
    paused = {hook for hook, _ in result.paused}
    held = tuple(r for r in result.failed if r.hook in paused and r.attempts == 0)
    # Parked at their destination's closed gate (paused, or its breaker, a hold, its rate limit), as
    # untried as those of a paused hook.
    parked = tuple(r for r in result.failed if r not in held and r.attempts == 0 and replays.parked(r))
    tried = tuple(r for r in result.failed if r not in held and r not in parked)
    if held:
        names = list(dict.fromkeys(r.hook for r in held))
        resume = ", ".join(f"`hookd hooks resume {esc(h)}`" for h in names)
        out.print(
            f"{len(held)} not sent because their hook is paused ({esc(', '.join(names))}): they are queued, "
            f"nothing was attempted, and they go once resumed ({resume})"
        )
        caption = "not sent: their hook is paused; hookd hooks list shows why"
        print_table(deliveries_table(held, caption=caption, width=table_width()))
    if parked:
        hosts = [(h, host) for h, host, _ in result.paused_destinations if h in {r.hook for r in parked}]
        named = ", ".join(f"{esc(h)} → {esc(host)}" for h, host in hosts)
        resume = ", ".join(f"`hookd hooks resume {esc(h)} --destination {esc(host)}`" for h, host in hosts)
        if hosts:
            why, go = f"their destination is paused ({named})", f"once resumed ({resume})"
        else:
            why = "their destination's gate is closed (its circuit breaker, a Retry-After hold or its rate limit)"
            go = "once it opens (hookd status names which while the daemon runs)"
        out.print(f"{len(parked)} not sent because {why}: they are queued, nothing was attempted, and they go {go}")
        caption = "not sent: their destination's gate is closed; hookd hooks list shows why"
        print_table(deliveries_table(parked, caption=caption, width=table_width()))
    if tried:
        caption = "not delivered; hookd history show ID has every attempt"
        print_table(deliveries_table(tried, caption=caption, width=table_width()))
        if retrying:
            out.print("deliveries to be retried are sent by the daemon at its next start (or another --wait)")


def _targets_table(targets: tuple[replays.Target, ...]) -> Table:
    esc = render.escape
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, caption=f"would queue {len(targets)} delivery(ies)",
        caption_justify="left",
    )  # fmt: skip
    table.add_column("event", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("hook", overflow="fold")
    table.add_column("replays", overflow="fold")
    for t in targets:
        original = t.original
        replays_text = f"{original.id} ({original.status})" if original is not None else "- (first delivery)"
        table.add_row(esc(t.event_id), esc(t.event_type or "-"), esc(t.hook), esc(replays_text))
    return table
