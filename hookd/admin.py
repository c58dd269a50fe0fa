"""The admin listener over HTTP, for `hookd status` and monitors: `GET /healthz`, `/livez`, `/readyz`,
`/status` and `/metrics` (Prometheus, hookd.metrics).

It listens on `admin.listen` (TCP) or, with `admin.path`, on a unix socket whose file mode
(`admin.mode`) decides which local users may use it. The daemon starts it after its sources and
stops it first. It only reads: live counters from ingest and the dispatcher, and queue depths from
the database through a read-only connection of its own, opened in a worker thread per request, so a
status request never waits on the writer connection or holds up the event loop.

`/healthz` is open (200 once the daemon is ready, 503 before), and so are `/livez` (200 whenever the
process answers) and `/readyz` (200 when every readiness check passes, else 503; each check in the
body): probes rarely carry a token. `/status` and `/metrics` show data and require
`Authorization: Bearer <admin.token>` when a token is configured (on a unix socket too, though
there the file mode may be enough). The token is never logged or returned.

No web browser has business here, and a page it shows must not drive the listener: any request that
carries `Origin`, or a `Sec-Fetch-Site` other than `none`, is refused (403). Without a token, a TCP
listener serves its data only to a `Host` that is an IP address, `localhost` or its own listen host,
so a page cannot reach it through a DNS name of its own that resolves to 127.0.0.1 (DNS rebinding).
A connection that sends no complete request for ADMIN_IDLE_S is closed, so idle clients cannot hold
all `max_connections` slots (hookd.admin_http: the connections, and the browsers' refusal).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from hookd import __version__
from hookd.admin_http import (
    MAX_ADMIN_CONNECTIONS,
    CappedSite,
    CappedUnixSite,
    browsers_refused,
    host_allowed,
    json_response,
    peer_gone,
    timed_while_served,
)
from hookd.config.model import FileSourceConfig, HookConfig
from hookd.errors import StartupError
from hookd.events import utc_now_rfc3339
from hookd.health import (
    breaker_reason,
    destination_breaker_reason,
    paused_destination_reason,
    paused_hook_reason,
)
from hookd.hook_errors import EvaluationFailure, HookErrors
from hookd.logs import LogLine
from hookd.senders.base import Sender
from hookd.senders.worker import WorkerSender
from hookd.sources.socket import owner_only_files, prepare_socket_path
from hookd.tail import TailRefused

if TYPE_CHECKING:
    from hookd.daemon import Daemon
    from hookd.lane import Lane

log = logging.getLogger("hookd.admin")

RATE_WINDOW_S = 60.0  # events/s is averaged over about the last minute
SAMPLE_INTERVAL_S = 5.0
RECENT_S = 300.0  # failures this recent make the daemon "degraded"
READ_TIMEOUT_S = 5.0
MAX_REASON_CHARS = 300
# A /tail write the reader does not take within this drops the reader: a peer that stopped reading
# must not hold the lines queued for it, nor its connection's buffers.
TAIL_WRITE_TIMEOUT_S = 5.0


class AdminServer:
    """The daemon's HTTP admin listener, on a TCP address (admin.listen) or a unix socket
    (admin.path). `start` raises StartupError; `close` is idempotent."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        # http://host:port (port 0 resolved), or unix:/path for a socket, once started
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._bound_path: Path | None = None  # the socket file this listener made, removed at close
        self.max_connections = MAX_ADMIN_CONNECTIONS
        self._rates = _RateSampler()
        self._sampler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = web.Application(middlewares=[timed_while_served, browsers_refused])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/hooks/refresh", self._refresh_hooks)
        app.router.add_post("/reload", self._reload)
        app.router.add_get("/tail", self._tail)
        # No access log: it would go to aiohttp's own logger, outside hookd's log format.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            path = self.daemon.settings.admin.path
            if path is not None:
                await self._serve_unix(runner, path)
            else:
                await self._serve_tcp(runner)
        except BaseException:
            await runner.cleanup()
            self._remove_socket()
            raise
        self._runner = runner
        self._rates.sample(self.daemon.ingest.events_by_source)
        self._sampler = asyncio.create_task(self._sample_forever(), name="hookd-admin-sampler")

    async def _serve_tcp(self, runner: web.AppRunner) -> None:
        host, port = self.daemon.settings.admin.listen
        try:
            await CappedSite(runner, host, port, owner=self).start()
        except OSError as e:
            raise StartupError(
                f"admin listener: cannot listen on {_host_port(host, port)}: {e.strerror}; "
                "is another hookd running? pick another port in admin.listen"
            ) from None
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{_host_port(bound_host, bound_port)}"

    async def _serve_unix(self, runner: web.AppRunner, path: Path) -> None:
        prepare_socket_path(path, "admin listener", "admin.path")
        try:
            with owner_only_files():
                await CappedUnixSite(runner, path, owner=self).start()
        except OSError as e:
            raise StartupError(
                f"admin listener: cannot listen on unix socket {str(path)!r}: {e.strerror}; choose another admin.path"
            ) from None
        self._bound_path = path
        try:
            os.chmod(path, self.daemon.settings.admin.mode)
        except OSError as e:
            raise StartupError(
                f"admin listener: cannot set the mode of {str(path)!r} to "
                f"{self.daemon.settings.admin.mode:04o}: {e.strerror}"
            ) from None
        self.url = f"unix:{path}"

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
            self._sampler = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._remove_socket()

    def _remove_socket(self) -> None:
        # Python 3.11's unix servers leave their file behind, and a client would find a socket that
        # nothing answers on. Only the file this listener made: never another daemon's.
        path, self._bound_path = self._bound_path, None
        if path is not None and path.is_socket():
            path.unlink(missing_ok=True)

    async def _sample_forever(self) -> None:
        # A sample every few seconds is one dict copy per source: no per-event work for the rate.
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL_S)
            self._rates.sample(self.daemon.ingest.events_by_source)

    # -- handlers ----------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        if self.daemon.ready.is_set():
            return json_response({"status": "ok"})
        return json_response({"status": "starting"}, status=503)

    async def _livez(self, request: web.Request) -> web.Response:
        # The event loop ran this handler: the process is alive, whatever its state.
        return json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        # Without the token (when one is set) a failing source is named without its reason: a reason
        # can hold a path or an address, and probes are answered without a token.
        checks = readiness_checks(self.daemon, detailed=self._refused(request) is None)
        ready = all(c.ok for c in checks)
        body = {
            "status": "ready" if ready else "not ready",
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        }
        return json_response(body, status=200 if ready else 503)

    async def _status(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        return json_response(await self.status())

    async def _metrics(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        # Imported here: hookd.metrics reads this module's store counts, and prometheus-client is loaded
        # only by a daemon that is scraped.
        from prometheus_client import CONTENT_TYPE_LATEST

        from hookd.metrics import exposition

        now = self.daemon.clock.now()
        stored: StoreCounts | None
        try:
            # The queue depths /status reads, without the file positions (not metrics).
            stored = await asyncio.to_thread(
                read_store, self.daemon.settings.storage.path, started_at=now, recent_since=now, files={}
            )
        except sqlite3.Error as e:
            stored = None
            # Said at each scrape (hookd_store_readable is 0 then): as /status says it in its health.
            log.warning(
                LogLine(
                    "metrics: cannot read the database; the queue depths are left out of this scrape",
                    {"database": str(self.daemon.settings.storage.path), "error": str(e)},
                )
            )
        return web.Response(body=exposition(self.daemon, stored), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refresh_hooks(self, request: web.Request) -> web.Response:
        """`hookd hooks pause` or `resume` changed the stored hook states: read them now, not at the poll."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.daemon.dispatcher.refresh_hook_states()
        return json_response({"ok": True})

    async def _tail(self, request: web.Request) -> web.StreamResponse:
        """`hookd tail`: one JSON object per line, events as they are stored and attempts as they end,
        until the reader goes or hookd stops. A reader too slow for them gets {"kind": "missed"}."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        q = request.query
        hub = self.daemon.tail
        try:
            reader = hub.subscribe(q.getall("hook", []), q.getall("type", []), q.getall("source", []))
        except TailRefused as e:
            return json_response({"error": str(e)}, status=e.status)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-store"})
        # The stream ends when hookd stops or the peer goes. aiohttp does not cancel a handler whose
        # client left, and a reader waiting for a line that passes its filter would hold its queue and
        # slot for as long as none came; the connection's own end says at once that it went.
        ending = {
            asyncio.ensure_future(self.daemon.wait_stop_requested()),
            asyncio.ensure_future(peer_gone(request)),
        }
        try:
            await _within_deadline(response.prepare(request))
            await _within_deadline(response.write(b'{"kind": "start"}\n'))
            while True:
                line = asyncio.ensure_future(reader.next_line())
                await asyncio.wait({line, *ending}, return_when=asyncio.FIRST_COMPLETED)
                if not line.done():
                    line.cancel()
                    break
                if reader.missed:
                    missed, reader.missed = reader.missed, 0
                    await _within_deadline(response.write(b'{"kind": "missed", "count": %d}\n' % missed))
                await _within_deadline(response.write(line.result()))
        except ConnectionResetError:
            pass  # the reader went
        except TimeoutError:
            # The reader stopped taking its lines: drop it, and what its connection still buffers.
            log.info(
                LogLine(
                    f"tail: a reader took no line for {TAIL_WRITE_TIMEOUT_S:g} s; it is dropped",
                    {"peer": request.remote},
                )
            )
            transport = request.transport
            if transport is not None:
                transport.abort()
        finally:
            for waiter in ending:
                waiter.cancel()
            hub.unsubscribe(reader)
        return response

    async def _reload(self, request: web.Request) -> web.Response:
        """`hookd reload`: read the config again and run with it; 200 with what changed, 409 when the
        new config is refused (the running one is kept), with every problem."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        result = await self.daemon.reload("admin")
        body = {
            "ok": result.ok,
            "message": result.message,
            "changes": list(result.changes),
            "problems": [str(p) for p in result.problems],
        }
        return json_response(body, status=200 if result.ok else 409)

    def _refused(self, request: web.Request) -> web.Response | None:
        """Why `request` may not see data or change anything (401 or 403), or None when it may."""
        admin = self.daemon.settings.admin
        if admin.token is None:
            return self._foreign_host(request)
        sent = request.headers.get("Authorization", "")
        if not _bearer_matches(sent, admin.token):
            said = (
                "the token was refused: send the daemon's admin.token (after a rotation, the daemon has the new "
                "one only once reloaded)"
                if sent
                else "this admin listener requires a token: send Authorization: Bearer <admin.token>"
            )
            return json_response(
                {"error": said},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="hookd"'},
            )
        return None

    def _foreign_host(self, request: web.Request) -> web.Response | None:
        """A token-less TCP listener answers only a Host no web page can choose: a page could point a
        DNS name of its own at 127.0.0.1 and read the answers (DNS rebinding). On a unix socket the
        Host means nothing: no page connects there."""
        admin = self.daemon.settings.admin
        host = request.headers.get("Host")  # browsers always send one; an HTTP/1.0 tool may not
        if admin.path is not None or host is None or host_allowed(host, admin.listen[0]):
            return None
        return json_response(
            {
                "error": f"this admin listener has no token, so it answers only requests addressed to an IP address, "
                f"localhost or {admin.listen[0]} (this one was for {host.strip()[:100]!r}); use one of those in "
                "the URL, or set admin.token"
            },
            status=403,
        )

    # -- the status document -----------------------------------------------------------------------

    async def status(self) -> dict[str, object]:
        """What GET /status returns (see the README's `hookd status` section for every field)."""
        d = self.daemon
        settings = d.settings
        now = d.clock.now()
        started_at = d.started_at
        files = {s.name: s.path for s in settings.sources if isinstance(s, FileSourceConfig)}
        reasons: list[str] = []
        try:
            stored = await asyncio.to_thread(
                read_store,
                settings.storage.path,
                started_at=started_at if started_at is not None else now,
                recent_since=now - RECENT_S,
                files=files,
            )
        except sqlite3.Error as e:
            stored = StoreCounts()
            reasons.append(f"cannot read the database {str(settings.storage.path)!r}: {e}")
        if not d.ready.is_set():
            reasons.append("not ready: the daemon is starting or stopping")

        ingest = d.ingest
        rates = self._rates.rates(ingest.events_by_source)
        sources: list[dict[str, object]] = []
        failing = d.source_health.failing()
        for config, source in zip(settings.sources, d.sources, strict=True):
            name = config.name
            item: dict[str, object] = {
                "name": name,
                "type": config.type,
                # An address may hold a secret of the config (a ${VAR} in a path), hidden as in the log.
                "addresses": [d.router.redactor.text(a) for a in source.describe().split()],
                "events_total": ingest.events_by_source.get(name, 0),
                "rejected_total": ingest.rejected_by_source.get(name, 0),
                "events_per_s": round(rates.get(name, 0.0), 3),
                "last_event_at": _time(ingest.last_event_at_by_source.get(name)),
                "file": None,
            }
            failure = failing.get(name)
            item["failing"] = (
                None
                if failure is None
                else {
                    "reason": failure.reason,
                    "since": _time(failure.since),
                    "failures": failure.failures,
                    "retry_at": _time(failure.retry_at),
                }
            )
            if failure is not None:
                reasons.append(
                    f"source {name!r} is not working: {_clip(failure.reason)} ({failure.failures} failed "
                    f"attempt(s) since {_time(failure.since)}; trying again)"
                )
            if isinstance(config, FileSourceConfig):
                position = stored.files.get(name)
                item["file"] = {
                    "path": d.router.redactor.text(position.path if position and position.path else str(config.path)),
                    "offset": position.offset if position else None,
                    "line": position.line if position else None,
                    "size": position.size if position else None,
                }
            sources.append(item)

        dispatcher = d.dispatcher
        configured = [h.name for h in d.router.hooks]
        orphans = sorted(set(stored.hooks) - set(configured))
        hooks: list[dict[str, object]] = []
        pending_total = retrying_total = failed_total = 0
        for name in [*configured, *orphans]:
            c = stored.hooks.get(name, HookCounts())
            lane = dispatcher.lanes.get(name)
            in_flight = lane.in_flight if lane is not None else 0
            pending, _ = waiting_counts(c, in_flight)
            pending_total += pending
            retrying_total += c.retrying
            failed_total += c.failed
            hooks.append(
                {
                    "name": name,
                    "configured": name not in orphans,
                    "pending": pending,
                    "retrying": c.retrying,
                    "in_flight": in_flight,
                    "failed": c.failed,
                    "delivered_total": c.delivered_since_start,
                    "failed_total": c.failed_since_start,
                    "failed_recently": c.failed_recent,
                    "retrying_recently": c.retrying_recent,
                    "last_error": c.last_error,
                    "filter_errors_total": d.hook_errors.filter_errors.get(name, 0),
                    "template_errors_total": d.hook_errors.template_errors.get(name, 0),
                    "ordering_key_errors_total": d.hook_errors.ordering_key_errors.get(name, 0),
                    "last_evaluation_error": _evaluation_error(d.hook_errors.latest.get(name)),
                    "state": _lane_state(lane),
                    # The receiver asked to wait (429 or 503 with Retry-After): nothing starts until then.
                    "held_until": _time(lane.held_until) if lane is not None and lane.held_until else None,
                    "rate_limit": _rate_limit(lane, pending + c.retrying, settings.hook(name)),
                    "destinations": _destinations(lane),
                }
            )
            if lane is not None and lane.paused is not None:
                why = paused_hook_reason(name, lane.paused, str(_time(lane.paused.at)), pending + c.retrying)
                if why is not None:
                    reasons.append(why)
            elif lane is not None and lane.breaker is not None and not lane.breaker.is_closed:
                b = lane.breaker
                reasons.append(
                    breaker_reason(
                        name, b.state, b.reason, str(_time(b.since)), _time(b.retry_at), pending + c.retrying
                    )
                )
            if lane is not None and lane.destinations is not None and lane.paused is None:
                reasons.extend(_destination_reasons(name, lane))
            reasons.extend(_hook_reasons(name, c, configured=name not in orphans))
            evaluation_failure = d.hook_errors.recent(name, now - RECENT_S)
            if evaluation_failure is not None:
                reasons.append(_evaluation_reason(evaluation_failure, d.hook_errors))
        recent_errors = self.daemon.errors.recent(RECENT_S)
        if recent_errors:
            reasons.append(
                f"{len(recent_errors)} internal error(s) in the last 5 min; the last: {_clip(recent_errors[-1])}"
            )

        return {
            "version": __version__,
            "pid": os.getpid(),
            "started_at": _time(started_at),
            "uptime_s": round(now - started_at, 3) if started_at is not None else 0.0,
            "ready": d.ready.is_set(),
            "config": {"path": str(settings.config_path.absolute()), "sha256": settings.config_sha256},
            "database": {"path": d.router.redactor.text(str(settings.storage.path))},
            "admin": {"url": self.url, "token_required": settings.admin.token is not None},
            "delivery_worker": _worker(d.sender),
            "http_worker": _http_worker(d),
            "sources": sources,
            "hooks": hooks,
            "totals": {
                "events_total": ingest.events_total,
                "rejected_total": ingest.rejected_total,
                "duplicates_total": ingest.duplicates_total,
                "events_per_s": round(sum(rates.values()), 3),
                "last_event_at": _time(ingest.last_event_at),
                "pending": pending_total,
                "retrying": retrying_total,
                "in_flight": dispatcher.in_flight_total,
                "failed": failed_total,
                "delivered_total": dispatcher.delivered_total,
                "failed_total": dispatcher.failed_total,
                "retried_total": dispatcher.retried_total,
            },
            "health": {"status": "degraded" if reasons else "ok", "reasons": reasons},
        }


# -- readiness --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str
    ok: bool
    detail: str  # a sentence: what was checked, and what is wrong when it failed


def readiness_checks(d: Daemon, *, detailed: bool) -> list[ReadinessCheck]:
    """What GET /readyz reports: whether this daemon can take events in and send them now. Cheap (no
    database query: it runs on every probe). `detailed` adds the failing sources' reasons and the
    database's path, which a request without the admin token (when one is set) does not get."""
    settings = d.settings
    started = d.ready.is_set()
    config = ReadinessCheck(
        "config_loaded",
        True,  # a daemon is only built from a config that loaded and validated
        f"{settings.config_path.name} (sha256 {settings.config_sha256[:12]}): {len(settings.sources)} source(s), "
        f"{len(settings.hooks)} hook(s)",
    )
    return [
        ReadinessCheck(
            "started",
            started,
            "every part started and serves" if started else "the daemon is starting or stopping",
        ),
        config,
        _store_check(d, detailed=detailed),
        _sources_check(d, started=started, detailed=detailed),
        _worker_check(d),
    ]


def _store_check(d: Daemon, *, detailed: bool) -> ReadinessCheck:
    db = d.settings.storage.path
    if not d.store.is_open:
        return ReadinessCheck("store_writable", False, "the database is not open: the daemon is starting or stopping")
    # SQLite writes the file and, beside it, its journal: both need write permission. A check of the
    # permissions, not a write: probes come often, and ingest's own commits are the real writes.
    writable = os.access(db, os.W_OK) and os.access(db.absolute().parent, os.W_OK)
    if writable:
        return ReadinessCheck("store_writable", True, "the database is open and writable")
    where = f" {str(db)!r}" if detailed else ""
    return ReadinessCheck(
        "store_writable",
        False,
        f"the database{where} or its directory is not writable by hookd's user: events cannot be stored; "
        "fix their permissions",
    )


def _sources_check(d: Daemon, *, started: bool, detailed: bool) -> ReadinessCheck:
    if not started:
        return ReadinessCheck("sources_listening", False, "the sources are not listening: the daemon is not ready")
    failing = d.source_health.failing()
    if not failing:
        return ReadinessCheck("sources_listening", True, f"{len(d.sources)} source(s) listening")
    if detailed:
        what = "; ".join(f"source {name!r} is not working: {_clip(f.reason)}" for name, f in sorted(failing.items()))
    else:
        what = f"source(s) {', '.join(repr(n) for n in sorted(failing))} not working (`hookd status` says why)"
    return ReadinessCheck("sources_listening", False, f"{what}; hookd tries again with a backoff")


def _worker_check(d: Daemon) -> ReadinessCheck:
    sender = d.sender
    if not isinstance(sender, WorkerSender):
        return ReadinessCheck("delivery_worker", True, "deliveries are sent in this process")
    if sender.pid is not None:
        return ReadinessCheck("delivery_worker", True, f"the delivery worker process runs (pid {sender.pid})")
    # A worker that died starts again with the next delivery. Not ready only while deliveries wait for
    # it: an idle daemon reported not ready would be cut off from the very input that starts a new one.
    waiting = d.dispatcher.in_flight_total + d.dispatcher.buffered_total
    if waiting:
        return ReadinessCheck(
            "delivery_worker",
            False,
            f"the delivery worker process is not running while {waiting} delivery(ies) wait for it; a new one "
            "is being started (its errors are in hookd's log)",
        )
    return ReadinessCheck(
        "delivery_worker", True, "the delivery worker process is not running; a new one starts with the next delivery"
    )


def _lane_state(lane: Lane | None) -> dict[str, object]:
    """A hook's run-time state as the dispatcher holds it: active, paused (by whom), or its circuit
    breaker open or half_open; why and since when. `breaker` is the breaker's own state, null without one."""
    b = lane.breaker if lane is not None else None
    breaker = (
        None
        if b is None
        else {
            "state": b.state,
            "reason": b.reason or None,
            "since": _time(b.since) if not b.is_closed else None,
            "failures_in_a_row": b.in_a_row,
            "probe_at": _time(b.retry_at) if b.state == "open" else None,
        }
    )
    if lane is not None and lane.paused is not None:
        p = lane.paused
        return {"state": "paused", "by": p.by, "reason": p.reason, "since": _time(p.at), "breaker": breaker}
    if b is not None and not b.is_closed:
        return {"state": b.state, "by": "breaker", "reason": b.reason, "since": _time(b.since), "breaker": breaker}
    return {"state": "active", "by": None, "reason": None, "since": None, "breaker": breaker}


def _destinations(lane: Lane | None) -> list[dict[str, object]] | None:
    """A hook with a templated url host: its destinations whose gate is closed (paused, breaker not
    closed, held by Retry-After, parked for its rate limit), by host; None for other hooks."""
    if lane is None or lane.destinations is None:
        return None
    out: list[dict[str, object]] = []
    for d in sorted(lane.destinations.gated, key=lambda d: d.host):
        b = d.breaker
        out.append(
            {
                "destination": d.host,
                "paused": None
                if d.paused is None
                else {"by": d.paused.by, "reason": d.paused.reason, "since": _time(d.paused.at)},
                "breaker": None if b is None or b.is_closed else {"state": b.state, "reason": b.reason},
                "held_until": _time(d.held_until) if d.held_until else None,
                "parked": d.parked,
            }
        )
    return out


# Health names at most this many destinations of one hook, then says how many more: a hook sending to
# thousands of tenants must not make `hookd status` thousands of lines long.
SHOWN_DESTINATIONS = 10


def _destination_reasons(hook: str, lane: Lane) -> list[str]:
    assert lane.destinations is not None
    reasons = []
    for d in sorted(lane.destinations.gated, key=lambda d: d.host):
        if d.paused is not None:
            why = paused_destination_reason(hook, d.host, d.paused, str(_time(d.paused.at)))
            if why is not None:
                reasons.append(why)
        elif d.breaker is not None and not d.breaker.is_closed:
            b = d.breaker
            reasons.append(
                destination_breaker_reason(hook, d.host, b.state, b.reason, str(_time(b.since)), _time(b.retry_at))
            )
    if len(reasons) > SHOWN_DESTINATIONS:
        more = len(reasons) - SHOWN_DESTINATIONS
        summary = (
            f"hook {hook!r}: {more} more destination(s) are paused or have their circuit breaker open "
            "(`hookd hooks list` shows the paused ones)"
        )
        reasons = [*reasons[:SHOWN_DESTINATIONS], summary]
    return reasons


def _rate_limit(lane: Lane | None, pending: int, config: HookConfig | None) -> dict[str, object] | None:
    """A rate-limited hook's limit as written, its burst, its group, the tokens there now, and whether
    deliveries are waiting for one (not a health problem: the limit is the config's own)."""
    bucket = lane.bucket if lane is not None else None
    if lane is None or bucket is None:
        return None
    tokens = bucket.available()
    # A paused lane waits for the resume, not for a token.
    waiting = pending > 0 and tokens == 0 and not lane.held_until and lane.paused is None
    return {
        "limit": str(bucket.rate),
        "burst": bucket.burst,
        "group": config.rate_limit_group if config is not None else None,
        "tokens": tokens,
        "waiting_for_tokens": waiting,
        "next_token_at": _time(bucket.next_token_at()) if waiting else None,
    }


def _worker(sender: Sender) -> dict[str, object] | None:
    """The delivery worker process (None when the daemon sends in-process: tests, embedding)."""
    if not isinstance(sender, WorkerSender):
        return None
    return {"pid": sender.pid, "restarts": sender.restarts}


def _http_worker(d: Daemon) -> dict[str, object] | None:
    """The http worker process, which serves the http sources (None without any)."""
    state = d.http_worker_state()
    return None if state is None else {"pid": state[0], "restarts": state[1]}


# -- reading the store ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookCounts:
    pending: int = 0  # waiting for an attempt (new or retry)
    retrying: int = 0  # pending after at least one attempt
    delivering: int = 0  # claimed by the dispatcher: in flight, or buffered to start next
    failed: int = 0  # out of attempts or a final error, still stored (dead letters)
    delivered_since_start: int = 0
    failed_since_start: int = 0
    failed_recent: int = 0
    retrying_recent: int = 0  # pending after a failed attempt in the last RECENT_S
    last_error: str | None = None  # the most recent error in the last RECENT_S
    last_retry_error: str | None = None  # the most recent error of a delivery retrying, in the last RECENT_S
    last_failed_error: str | None = None  # the most recent error of a delivery failed for good, in RECENT_S


def waiting_counts(c: HookCounts, in_flight: int) -> tuple[int, int]:
    """A hook's (pending, retrying) as history names them: pending = not attempted yet, retrying =
    waiting after an attempt. Claimed ahead by the dispatcher but not started yet still counts as
    pending (`in_flight`: the hook's attempts being sent now)."""
    return c.pending - c.retrying + max(0, c.delivering - in_flight), c.retrying


@dataclass(frozen=True, slots=True)
class FilePosition:
    path: str | None  # the file the checkpoint is for
    offset: int | None  # committed byte offset, None before the first checkpoint
    line: int | None
    size: int | None  # the file's current size, None if it does not exist


@dataclass(frozen=True, slots=True)
class StoreCounts:
    hooks: Mapping[str, HookCounts] = field(default_factory=dict)
    files: Mapping[str, FilePosition] = field(default_factory=dict)


# One pass over deliveries (no index covers failed or finished rows: ~1 s per million rows, in a
# worker thread on a read-only connection). The last column is the latest recent error per hook:
# the fixed-width time prefix makes the string max() the newest one, and is cut off in Python; one
# then the same for deliveries waiting to retry, and for those failed for good (health quotes each for
# its own reason).
_HOOK_COUNTS = """
SELECT hook,
       sum(state = 'pending'),
       sum(state = 'pending' AND attempts > 0),
       sum(state = 'delivering'),
       sum(state = 'failed'),
       sum(state = 'delivered' AND updated_at >= :started),
       sum(state = 'failed' AND updated_at >= :started),
       sum(state = 'failed' AND updated_at >= :recent),
       sum(state = 'pending' AND attempts > 0 AND last_error IS NOT NULL AND updated_at >= :recent),
       max(CASE WHEN state IN ('pending', 'failed') AND last_error IS NOT NULL AND updated_at >= :recent
                THEN printf('%020.6f', updated_at) || last_error END),
       max(CASE WHEN state = 'pending' AND last_error IS NOT NULL AND updated_at >= :recent
                THEN printf('%020.6f', updated_at) || last_error END),
       max(CASE WHEN state = 'failed' AND last_error IS NOT NULL AND updated_at >= :recent
                THEN printf('%020.6f', updated_at) || last_error END)
FROM deliveries GROUP BY hook
"""
_TIME_PREFIX = 20


def read_store(db: Path, *, started_at: float, recent_since: float, files: Mapping[str, Path]) -> StoreCounts:
    """Per-hook counts and file positions, read on a read-only connection of its own (blocking:
    run it in a thread). Raises sqlite3.Error."""
    uri = f"{db.absolute().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S)
    try:
        params = {"started": started_at, "recent": recent_since}
        hooks: dict[str, HookCounts] = {}
        for row in conn.execute(_HOOK_COUNTS, params):
            n = [int(v or 0) for v in row[1:9]]
            last_error = str(row[9])[_TIME_PREFIX:] if row[9] is not None else None
            last_retry_error = str(row[10])[_TIME_PREFIX:] if row[10] is not None else None
            last_failed_error = str(row[11])[_TIME_PREFIX:] if row[11] is not None else None
            hooks[row[0]] = HookCounts(
                pending=n[0],
                retrying=n[1],
                delivering=n[2],
                failed=n[3],
                delivered_since_start=n[4],
                failed_since_start=n[5],
                failed_recent=n[6],
                retrying_recent=n[7],
                last_error=last_error,
                last_retry_error=last_retry_error,
                last_failed_error=last_failed_error,
            )
        checkpoints = {
            row[0]: (str(row[1]), int(row[2]), int(row[3]))
            for row in conn.execute('SELECT source, path, "offset", line FROM checkpoints')
        }
    finally:
        conn.close()
    positions: dict[str, FilePosition] = {}
    for name, path in files.items():
        saved = checkpoints.get(name)
        where = saved[0] if saved else str(path)
        try:
            size: int | None = os.stat(where).st_size
        except OSError:
            size = None
        positions[name] = FilePosition(
            path=where, offset=saved[1] if saved else None, line=saved[2] if saved else None, size=size
        )
    return StoreCounts(hooks=hooks, files=positions)


def _hook_reasons(name: str, c: HookCounts, *, configured: bool) -> list[str]:
    reasons = []
    if c.failed_recent:
        failed_error = f" (last error: {_clip(c.last_failed_error)})" if c.last_failed_error else ""
        reasons.append(
            f"hook {name!r}: {c.failed_recent} delivery(ies) failed for good in the last 5 min{failed_error}"
        )
    if c.retrying_recent:
        error = f" (last error: {_clip(c.last_retry_error)})" if c.last_retry_error else ""
        reasons.append(
            f"hook {name!r}: {c.retrying_recent} delivery(ies) waiting to retry after a failed attempt "
            f"in the last 5 min{error}"
        )
    if not configured and (c.pending or c.delivering):
        reasons.append(
            f"hook {name!r} is not in the config but has {c.pending + c.delivering} pending delivery(ies); "
            "they wait until the hook is configured again"
        )
    return reasons


def _evaluation_error(failure: EvaluationFailure | None) -> dict[str, object] | None:
    """The hook's latest filter or template failure since start, for monitors."""
    if failure is None:
        return None
    return {"kind": failure.kind, "event_id": failure.event_id, "error": failure.error, "at": _time(failure.at)}


def _evaluation_reason(failure: EvaluationFailure, counts: HookErrors) -> str:
    what, total = {
        "filter": ("filter", counts.filter_errors[failure.hook]),
        "template": ("payload or header template", counts.template_errors[failure.hook]),
        "ordering_key": ("ordering_key", counts.ordering_key_errors[failure.hook]),
    }[failure.kind]
    return (
        f"hook {failure.hook!r}: its {what} could not be evaluated on {total} event(s) since start, "
        f"the last on event {failure.event_id} (hookd history show {failure.event_id}): {_clip(failure.error)}"
    )


# -- rates and errors -------------------------------------------------------------------------------


class _RateSampler:
    """Events per second per source over about the last minute, from samples of ingest's counters."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def sample(self, counts: Mapping[str, int], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, dict(counts)))
        # Keep the newest sample that is at least a window old as the base, and what came after it.
        while len(self._samples) > 1 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()

    def rates(self, counts: Mapping[str, int], now: float | None = None) -> dict[str, float]:
        now = time.monotonic() if now is None else now
        if not self._samples:
            return {}
        base_at, base = self._samples[0]
        # At least one sample interval: one event just after start is not "10 events/s".
        elapsed = max(now - base_at, SAMPLE_INTERVAL_S)
        return {name: max(0, n - base.get(name, 0)) / elapsed for name, n in counts.items()}


# -- helpers ----------------------------------------------------------------------------------------


async def _within_deadline(write: Awaitable[object]) -> None:
    """`write` of a /tail stream, or TimeoutError when the peer takes none of it in TAIL_WRITE_TIMEOUT_S."""
    async with asyncio.timeout(TAIL_WRITE_TIMEOUT_S):
        await write


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def _time(at: float | None) -> str | None:
    return utc_now_rfc3339(at) if at is not None else None


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
