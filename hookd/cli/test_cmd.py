"""`hookd test`: events through the config without the daemon, optionally sent for real; or the
config's unit tests (`--cases`)."""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl

import typer

from hookd.cases import CaseResult, CasesFileError, load_cases, run_cases
from hookd.cli import render
from hookd.cli.app import app
from hookd.cli.request_file import RequestFileError, load_request, parse_moment
from hookd.config.load import check_config, default_config_path
from hookd.config.model import HttpSourceConfig, Settings
from hookd.dryrun import (
    STDIN,
    EventResult,
    HookResult,
    InputError,
    InputEvent,
    deliver,
    dry_run,
    inline_event,
    load_events,
    parse_events,
    select_hooks,
)
from hookd.errors import HookdError
from hookd.inbound.recorded import RequestDryRun, UnknownSourceError, dry_run_request, rfc3339
from hookd.router import Router

_EXCERPT_CHARS = 300
CREDENTIALS_LEFT_OUT = (
    "--to: the hooks' credentials are left out (auth, TLS client certificate, credential headers; "
    "signatures stay); add --with-credentials to send them to that URL"
)


@app.command("test")
def run_test(
    events_file: str | None = typer.Argument(
        None, metavar="EVENT_FILE|-", help="Events: JSON Lines, one JSON object or a JSON array; - reads stdin."
    ),
    config: Path | None = typer.Option(
        None, "-c", "--config", help="Config file (default: $HOOKD_CONFIG or ./hookd.yaml)."
    ),
    event_type: str | None = typer.Option(
        None, "--type", metavar="TYPE", help="Test one event of this type instead of a file."
    ),
    data: str | None = typer.Option(None, "--data", metavar="JSON", help="The --type event's data, as JSON."),
    hook: list[str] | None = typer.Option(None, "--hook", metavar="NAME", help="Only this hook; repeat for several."),
    send: bool = typer.Option(False, "--send", help="Deliver each rendered request for real and show the answer."),
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="URL",
        help="With --send: deliver to this URL instead of the hooks' URLs (a local receiver, say), without "
        "the hooks' credentials (auth, TLS client certificate, credential headers; signatures stay).",
    ),
    with_credentials: bool = typer.Option(
        False,
        "--with-credentials",
        help="With --to: send the hooks' credentials to that URL too (OAuth2 tokens fetched with the real "
        "client secret, bearer tokens, the client certificate).",
    ),
    cases: Path | None = typer.Option(
        None, "--cases", metavar="FILE", help="Run the config's unit tests from this YAML file."
    ),
    request: Path | None = typer.Option(
        None,
        "--request",
        metavar="FILE",
        help="Dry-run a recorded HTTP request (YAML or JSON: method, path, headers, body) through the http "
        "source whose path it matches: its checks, verification, the event it makes, then the hooks.",
    ),
    source: str | None = typer.Option(
        None, "--source", metavar="NAME", help="With --request: the http source that gets it (default: by path)."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        metavar="TIME",
        help="With --request: check signed timestamps as of this time (RFC 3339 or Unix seconds; default: the "
        "file's received_at, else now).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Show what the config does with events: for every hook, matched or why not, and the request.

    Nothing is stored and nothing is sent unless --send is given. --send --to URL leaves the hooks'
    credentials out unless --with-credentials is given. With --cases, run the test cases kept beside
    the config and print a diff for each failure.

    With --request FILE, a recorded HTTP request goes through the http source first: the answer it would
    get, the verification verdict, the stored request and the event, then each hook as above.

    Exit 0 when all is well; 1 when a delivery (--send) or a case fails, or a hook's filter cannot be
    evaluated on an event or a matched hook's request cannot be rendered (the daemon records both as
    failed deliveries); 2 on a usage error, such as an unreadable events file or invalid JSON.
    """
    names = hook or []
    if request is not None or source is not None or at is not None:
        _check_request_usage(request, events_file, event_type, data, cases, with_credentials, to)
        assert request is not None
        settings = _settings(config or default_config_path())
        run_request(settings, request, source=source, at=at, hooks=names, send=send, as_json=as_json)
        return
    _check_usage(events_file, event_type, data, names, send, to, with_credentials, cases)
    settings = _settings(config or default_config_path())
    now = time.time()
    try:
        if cases is not None:
            failed = _cases(cases, settings, now, as_json)
        else:
            items = _events(events_file, event_type, data, now)
            router = Router(select_hooks(settings.hooks, names), secrets=settings.secrets)
            results = [dry_run(router, item, now=now) for item in items]
            if send:
                if to is not None and not with_credentials:
                    # One line, where a script reading --json does not get it in its JSON.
                    console = render.stderr if as_json else render.stdout
                    console.print(f"[dim]{render.escape(CREDENTIALS_LEFT_OUT)}[/dim]")
                results = asyncio.run(
                    deliver(results, to=to, with_credentials=with_credentials, endpoints=router.endpoints)
                )
            failed = any(r.failed for r in results)
            if as_json:
                render.print_json(_events_json(results, failed))
            else:
                _events_text(results, send)
    except CasesFileError as e:
        render.problems_text(e.problems, console=render.stderr)
        render.stderr.print(f"{len(e.problems)} problem(s) in the cases file; fix them and run again.")
        raise typer.Exit(e.exit_code) from None
    except HookdError as e:
        render.stderr.print(f"[red]error:[/red] {render.escape_lines(str(e))}")
        raise typer.Exit(e.exit_code) from None
    if failed:
        raise typer.Exit(1)


def _check_request_usage(
    request: Path | None,
    events_file: str | None,
    event_type: str | None,
    data: str | None,
    cases: Path | None,
    with_credentials: bool,
    to: str | None,
) -> None:
    if request is None:
        raise _usage_error("--source and --at apply to --request FILE: hookd test --request push.json --at 1733400000")
    given = [
        flag
        for flag, used in (
            ("EVENT_FILE", events_file is not None),
            ("--type", event_type is not None),
            ("--data", data is not None),
            ("--cases", cases is not None),
        )
        if used
    ]
    if given:
        raise _usage_error(f"--request gives the event itself; drop {', '.join(given)}")
    if to is not None:
        raise _usage_error("--to is not for --request: --send delivers to the hooks' own URLs")
    if with_credentials:
        raise _usage_error("--with-credentials only applies with --to, which --request does not take")


def _usage_error(message: str) -> typer.Exit:
    render.stderr.print(f"[red]error:[/red] {render.escape_lines(message)}")
    return typer.Exit(2)


def _check_usage(
    events_file: str | None,
    event_type: str | None,
    data: str | None,
    names: Sequence[str],
    send: bool,
    to: str | None,
    with_credentials: bool,
    cases: Path | None,
) -> None:
    if cases is not None:
        given = [
            flag
            for flag, used in (
                ("EVENT_FILE", events_file is not None),
                ("--type", event_type is not None),
                ("--data", data is not None),
                ("--hook", bool(names)),
                ("--send", send),
                ("--to", to is not None),
                ("--with-credentials", with_credentials),
            )
            if used
        ]
        if given:
            raise _usage_error(f"--cases runs the events in the cases file; drop {', '.join(given)}")
        return
    if events_file is not None and event_type is not None:
        raise _usage_error("give an events file or --type, not both")
    if data is not None and event_type is None:
        raise _usage_error("--data needs --type: --type order.created --data '{\"id\": 7}'")
    if events_file is None and event_type is None:
        raise _usage_error(
            "no events: give EVENT_FILE (- for stdin), or --type TYPE [--data JSON], or --cases FILE; "
            "see hookd test --help"
        )
    if to is not None and not send:
        raise _usage_error("--to only applies with --send")
    if with_credentials and to is None:
        raise _usage_error("--with-credentials only applies with --to; without it each hook's own URL gets them")
    if to is not None and not to.startswith(("http://", "https://")):
        raise _usage_error("--to takes an http:// or https:// URL")


def _settings(path: Path) -> Settings:
    result = check_config(path)
    if result.settings is None:
        render.problems_text(result.problems, console=render.stderr)
        if not result.readable:
            raise typer.Exit(2)
        render.stderr.print(f"{path} is invalid; fix the errors above (hookd validate {path}).")
        raise typer.Exit(1)
    return result.settings


def _events(events_file: str | None, event_type: str | None, data: str | None, now: float) -> list[InputEvent]:
    if event_type is not None:
        return [inline_event(event_type, data, now=now)]
    assert events_file is not None
    if events_file == STDIN:
        return parse_events(sys.stdin.buffer.read(), "<stdin>", now=now)
    path = Path(events_file)
    if events_file.lstrip().startswith(("{", "[")) and not path.exists():
        raise InputError("EVENT_FILE", _json_not_a_file(events_file))
    return load_events(path, now=now)


# The longest --type/--data written out for the event given as JSON; a longer one is too long to retype.
_SHOWN_EVENT_CHARS = 200


def _json_not_a_file(text: str) -> str:
    """What to run instead of `hookd test '{"type": ...}'`, which names the events file with the event
    itself: --type and --data for one event that has a type, else stdin."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    said = "this looks like JSON text, not the name of an events file"
    kind = value.get("type") if isinstance(value, dict) else None
    if isinstance(value, dict) and isinstance(kind, str) and set(value) <= {"type", "data"}:
        options = f"--type {shlex.quote(kind)}"
        if "data" in value:
            options += f" --data {shlex.quote(json.dumps(value['data'], ensure_ascii=False))}"
        if len(options) <= _SHOWN_EVENT_CHARS:
            return f"{said}; give this event as {options} instead"
    return (
        f"{said}; give - and pipe it in (echo '...' | hookd test -), save it to a file and give the file's "
        "name, or give one event as --type TYPE --data JSON"
    )


# -- a recorded request ---------------------------------------------------------------------------


def run_request(
    settings: Settings,
    path: Path,
    *,
    source: str | None,
    at: str | None,
    hooks: Sequence[str],
    send: bool,
    as_json: bool,
) -> None:
    """`hookd test --request FILE`: exit 0 when the source would accept it and every hook renders (and,
    with --send, delivers); 1 when it would refuse it or a hook fails; 2 on a usage error."""
    try:
        recorded = load_request(path)
        when = parse_moment(at) if at is not None else None
    except RequestFileError as e:
        render.problems_text(e.problems, console=render.stderr)
        render.stderr.print(f"{len(e.problems)} problem(s) in the request file; fix them and run again.")
        raise typer.Exit(e.exit_code) from None
    except ValueError as e:
        raise _usage_error(f"--at {e}") from None
    now = when if when is not None else recorded.received_at if recorded.received_at is not None else time.time()
    sources = [s for s in settings.sources if isinstance(s, HttpSourceConfig)]
    try:
        outcome = dry_run_request(sources, recorded, now=now, wanted=source)
        router = Router(select_hooks(settings.hooks, hooks), secrets=settings.secrets)
        results: list[EventResult] = []
        if outcome.event is not None:
            results = [dry_run(router, InputEvent(outcome.event, str(path)), now=now)]
            if send:
                results = asyncio.run(deliver(results, endpoints=router.endpoints))
    except UnknownSourceError as e:
        raise _usage_error(str(e)) from None
    except HookdError as e:
        render.stderr.print(f"[red]error:[/red] {render.escape_lines(str(e))}")
        raise typer.Exit(e.exit_code) from None
    failed = not outcome.accepted or any(r.failed for r in results)
    if as_json:
        render.print_json(_request_json(outcome, results, failed, now))
    else:
        _request_text(outcome, now)
        if results:
            _events_text(results, send)
    if failed:
        raise typer.Exit(1)


def _answer_body(outcome: RequestDryRun) -> object:
    body = outcome.answer.body
    return body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body


def _request_json(
    outcome: RequestDryRun, results: Sequence[EventResult], failed: bool, now: float
) -> dict[str, object]:
    answer = outcome.answer
    event = outcome.event
    return {
        "ok": not failed,
        "checked_at": now,
        "source": outcome.source,
        "also_matching": list(outcome.also_matching),
        "answer": {"status": answer.status, "content_type": answer.content_type or None, "body": _answer_body(outcome)},
        "refused": outcome.refused or None,
        "fix": outcome.fix or None,
        "verification": outcome.verification,
        "request": outcome.stored_request,
        "event": event.envelope if event is not None else None,
        "hooks": [_hook_json(h) for r in results for h in r.hooks],
    }


def _request_text(outcome: RequestDryRun, now: float) -> None:
    out = render.stdout
    esc = render.escape
    answer = outcome.answer
    where = f"source {esc(outcome.source)}" if outcome.source is not None else "no source"
    if outcome.also_matching:
        where += f" [dim](also matching: {esc(', '.join(outcome.also_matching))}; pick one with --source)[/dim]"
    out.print(f"[bold]request[/bold] → {where}, checked as of {esc(rfc3339(now))}")
    body = _answer_body(outcome)
    shown = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    if isinstance(body, dict) and outcome.refused.endswith(f": {body.get('error')}"):
        shown = '{"error": the reason below}'  # the sender is told what the rejection records
    if answer.status is None:
        out.print(f"  [dim]answer:[/dim] {esc(shown)}")
    else:
        colour = "green" if outcome.accepted else "red"
        kind = (
            f" ({esc(answer.content_type)})"
            if answer.content_type and answer.content_type != "application/json"
            else ""
        )
        out.print(f"  [dim]answer:[/dim] [{colour}]{answer.status}[/{colour}]{kind} {esc(shown)}")
    if outcome.refused:
        out.print(f"  [red]refused[/red]: {esc(outcome.refused)}")
        if outcome.fix:
            out.print(f"  [dim]fix:[/dim] {esc(outcome.fix)}")
    if outcome.verification is not None:
        v = outcome.verification
        secret = v.get("secret")
        which = "the public key" if secret == -1 else f"secret #{secret} (0 = the newest)"
        stamp = f", signed at {rfc3339(float(str(v['timestamp'])))}" if "timestamp" in v else ""
        out.print(f"  [dim]verified:[/dim] {esc(str(v.get('scheme')))} with {which}{stamp}")
    elif outcome.accepted and outcome.event is not None:
        out.print("  [dim]verified:[/dim] no (the source has no verify)")
    if outcome.stored_request is not None:
        out.print("  [dim]stored request (credentials removed):[/dim]")
        for line in render.split_lines(json.dumps(outcome.stored_request, indent=2, ensure_ascii=False)):
            out.print(f"    {esc(line)}")
    if outcome.event is not None:
        out.print("  [dim]event:[/dim]")
        for line in render.split_lines(json.dumps(outcome.event.envelope, indent=2, ensure_ascii=False)):
            out.print(f"    {esc(line)}")
    out.print("")


# -- output: events -------------------------------------------------------------------------------


def _hook_json(h: HookResult) -> dict[str, object]:
    delivery = None
    if h.delivery is not None:
        o = h.delivery.outcome
        delivery = {
            "url": h.delivery.url,
            "ok": o.ok,
            "status": o.status,
            "duration_ms": round(o.duration_s * 1000, 1),
            "error": o.error or None,
            "response": o.response_excerpt,
            "hops": [{"url": hop.url, "status": hop.status} for hop in o.hops],
        }
    return {
        "hook": h.hook,
        "matched": h.matched,
        "reason": h.reason or None,
        "failed_at": h.failed_at,
        "filter_parts": [p.as_dict() for p in h.filter_parts],
        "request": h.shown_request(),
        "error": h.render_error or h.filter_error or None,
        "ordering_key": h.ordering_key,  # null: the hook has none, or it is null for this event
        "format": h.format if h.matched else None,
        "preset": h.preset,
        "delivery": delivery,
    }


def _events_json(results: Sequence[EventResult], failed: bool) -> dict[str, object]:
    return {
        "ok": not failed,
        "events": [
            {"where": r.where, "event": r.redactor.value(r.event.envelope), "hooks": [_hook_json(h) for h in r.hooks]}
            for r in results
        ],
    }


def _events_text(results: Sequence[EventResult], send: bool) -> None:
    out = render.stdout
    esc = render.escape
    matches = sent = failed = 0
    for r in results:
        shown_id, shown_type = r.redactor.text(r.event.id), r.redactor.text(r.event.type)
        out.print(f"[bold]event {esc(shown_id)}[/bold] {esc(shown_type)} [dim]({esc(r.where)})[/dim]")
        for h in r.hooks:
            if not h.matched:
                if h.filter_error:  # the daemon records a failed delivery for this hook
                    failed += 1
                    out.print(f"  [red]{esc(h.hook)}: failed[/red]: {esc(h.filter_error)}")
                elif h.filter_parts:
                    out.print(f"  [yellow]{esc(h.hook)}: not matched[/yellow], filter is false:")
                    for part in h.filter_parts:
                        out.print(f"    {esc(part.describe())}")
                else:
                    out.print(f"  [yellow]{esc(h.hook)}: not matched[/yellow]: {esc(h.reason)}")
                continue
            matches += 1
            batched = " [dim](batched: shown as a batch of this one event)[/dim]" if h.batched else ""
            out.print(f"  [green]{esc(h.hook)}: matched[/green]{batched}")
            if h.preset is not None:
                out.print(f"    [dim]preset:[/dim] {esc(h.preset)}")
            elif h.format != "json":
                out.print(f"    [dim]format:[/dim] {esc(h.format)}")
            if h.ordered:
                key = esc(h.ordering_key) if h.ordering_key is not None else "null (this delivery goes unordered)"
                out.print(f"    [dim]ordering key:[/dim] {key}")
            shown = h.shown_request()
            if shown is None:
                failed += 1
                out.print(f"    [red]{esc(h.render_error)}[/red]")
                continue
            out.print(f"    {esc(str(shown['method']))} {esc(str(shown['url']))}")
            headers = shown["headers"]
            assert isinstance(headers, dict)
            for name, value in headers.items():
                out.print(f"    [dim]{esc(str(name))}:[/dim] {esc(str(value))}")
            body = shown["body"]
            text = json.dumps(body, indent=2, ensure_ascii=False) if not isinstance(body, str) else body
            out.print("")
            for line in render.split_lines(text):
                out.print(f"    {esc(line)}")
            if h.format == "form" and isinstance(body, str) and body:
                _form_fields(body)
            if h.delivery is not None:
                sent += 1
                o = h.delivery.outcome
                ms = f"{o.duration_s * 1000:.0f} ms"
                status = o.status if o.status is not None else "no response"
                for hop in o.hops[:-1]:
                    out.print(f"    [dim]redirected:[/dim] {hop.status} from {esc(hop.url)}")
                if o.hops:
                    out.print(f"    [dim]final URL:[/dim] {esc(o.hops[-1].url)}")
                if o.ok:
                    out.print(f"    [green]sent[/green] to {esc(h.delivery.url)}: {status} in {ms}")
                else:
                    failed += 1
                    out.print(f"    [red]send failed[/red] to {esc(h.delivery.url)}: {esc(o.error)} in {ms}")
                if o.response_excerpt:
                    excerpt = o.response_excerpt.strip().replace("\n", " ")
                    if len(excerpt) > _EXCERPT_CHARS:
                        excerpt = excerpt[:_EXCERPT_CHARS] + "…"
                    out.print(f"    [dim]response:[/dim] {esc(excerpt)}")
        out.print("")
    summary = f"{len(results)} event(s), {matches} match(es)"
    if send:
        summary += f", {sent} sent"
    if failed:
        summary += f", [red]{failed} failed[/red]"
    out.print(summary)


def _form_fields(body: str) -> None:
    """A form body's fields decoded, one a line, under the encoded text that is sent."""
    out = render.stdout
    out.print("    [dim]decoded:[/dim]")
    for name, value in parse_qsl(body, keep_blank_values=True):
        out.print(f"      {render.escape(name)} = {render.escape(value)}")


# -- output: cases --------------------------------------------------------------------------------


def _cases(path: Path, settings: Settings, now: float, as_json: bool) -> bool:
    router = Router(settings.hooks, secrets=settings.secrets)
    cases = load_cases(path, list(router.by_name), now=now)
    results = run_cases(cases, router, file=str(path), now=now)
    failed = sum(1 for r in results if not r.passed)
    if as_json:
        render.print_json(
            {
                "ok": not failed,
                "file": str(path),
                "passed": len(results) - failed,
                "failed": failed,
                "cases": [_case_json(r) for r in results],
            }
        )
    else:
        for r in results:
            _case_text(r)
        colour = "red" if failed else "green"
        render.stdout.print(
            f"[{colour}]{len(results) - failed} passed, {failed} failed[/{colour}] ({render.escape(str(path))})"
        )
    return failed > 0


def _case_json(r: CaseResult) -> dict[str, object]:
    return {
        "name": r.name,
        "line": r.line,
        "passed": r.passed,
        "failures": [{"line": f.line, "check": f.check, "message": f.message, "diff": f.diff} for f in r.failures],
    }


def _case_text(r: CaseResult) -> None:
    out = render.stdout
    esc = render.escape
    if r.passed:
        out.print(f"[green]PASS[/green] {esc(r.name)}")
        return
    out.print(f"[red]FAIL[/red] {esc(r.name)} [dim]({esc(r.file)}:{r.line})[/dim]")
    for f in r.failures:
        out.print(f"  [bold]{esc(r.file)}:{f.line}[/bold]: {esc(f.check)}: {esc(f.message)}")
        for line in render.split_lines(f.diff):
            style = "red" if line.startswith("-") else "green" if line.startswith("+") else "dim"
            out.print(f"    [{style}]{esc(line)}[/{style}]")
