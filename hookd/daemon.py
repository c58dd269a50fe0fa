"""`hookd serve`: builds every part from Settings and owns startup, readiness and shutdown.

Start order: store (migrations, recovery) → HTTP client (the delivery worker process,
hookd.senders.worker) → ingest and dispatcher → sources → admin listener (when the config has an
`admin` section). Stop order is the reverse: the admin listener closes, sources stop accepting, the
last ingest commit finishes, in-flight attempts get `delivery.shutdown_timeout` to finish, outcomes
are flushed, the worker exits, then the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from hookd import __version__, systemd
from hookd.admin import AdminServer
from hookd.alerts import Alerts, is_listening
from hookd.clock import Clock, RealClock
from hookd.config.load import CheckResult, check_config
from hookd.config.model import HookConfig, HttpSourceConfig, Settings, SocketSourceConfig, SourceConfig
from hookd.dispatcher import Dispatcher
from hookd.errors import Problem, StartupError
from hookd.health import RecentErrors, SourceHealth
from hookd.hook_errors import HookErrors
from hookd.ingest import Ingest
from hookd.logs import LogLine
from hookd.redact import Redactor, redact_url
from hookd.reload import CoalescedReloads, ReloadResult, hook_changes, restart_needed, source_changes
from hookd.router import Router
from hookd.senders.base import Sender
from hookd.senders.worker import WorkerSender
from hookd.sources.base import Source
from hookd.sources.socket import SocketSource
from hookd.sources.tail import FileTailSource
from hookd.store.base import AuditRow
from hookd.store.lock import lock_database
from hookd.store.sqlite import SQLiteStore
from hookd.supervisor import SourceSupervisor
from hookd.tail import TailHub

if TYPE_CHECKING:
    from hookd.sources.http_intake import HttpWorker

log = logging.getLogger("hookd")

PRUNE_INTERVAL_S = 3600.0
STOP_INGEST_TIMEOUT_S = 30.0
# How long a stop waits for a reload under way to finish (its sources start with their own timeouts).
RELOAD_SETTLE_S = 30.0
# Bytes of request bodies all http sources together may hold while reading them: 4 x the largest
# max_event_size, at least this (as the socket source's budget for unfinished lines).
BODY_BUDGET_FLOOR = 64_000_000


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sender: Sender | None = None,
        store: SQLiteStore | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or RealClock()
        self.store = store or SQLiteStore(settings.storage.path, synchronous=settings.storage.synchronous)
        self.router = Router(settings.hooks, secrets=settings.secrets)
        self.errors = RecentErrors()
        self.source_health = SourceHealth()
        self.hook_errors = HookErrors()  # filters and templates that failed on an event, per hook
        # hookd's own events (hookd.* alerts), stored and routed through ingest; nothing at all when
        # no hook listens for them.
        self.alerts = Alerts(self.clock, listening=any(is_listening(h.events) for h in settings.hooks))
        alerting = self.alerts.listening
        self.sender: Sender = sender or WorkerSender(
            max_connections=settings.delivery.concurrency,
            user_agent=f"hookd/{__version__}",
            errors=self.errors,
            endpoints=self.router.endpoints,
        )
        self.dispatcher = self._make_dispatcher(settings)
        self.ingest = Ingest(self.store, self.router, self.clock, handoff=self.dispatcher, errors=self.errors,
                             hook_errors=self.hook_errors,
                             on_failed=self.alerts.filter_failed if alerting else None)  # fmt: skip
        # `hookd tail` reads through the admin listener; its lines hide what the router's redactor hides.
        self.tail = TailHub(self.router.redactor)
        self.ingest.tail = self.tail
        self.dispatcher.tail = self.tail
        self._http_worker: HttpWorker | None = None  # serves every http source (hookd.sources.http_intake)
        self._http_restarts_before = 0  # of the workers a reload replaced
        self.sources: list[Source] = [self._make_source(s) for s in settings.sources]
        self.admin: AdminServer | None = AdminServer(self) if settings.admin.enabled else None
        self.ready = asyncio.Event()
        self.started_at: float | None = None
        self._stop = asyncio.Event()
        self._force = asyncio.Event()  # a second stop signal: stop waiting for in-flight attempts
        self._source_tasks: dict[str, asyncio.Task[None]] = {}  # each source's supervisor, by name
        self._reloads = CoalescedReloads(self._reload_once)  # one at a time; a burst shares one more
        self.reloads: Counter[str] = Counter()  # applied, invalid, needs_restart (metrics)
        self._retiring: set[asyncio.Task[int]] = set()  # dispatchers a reload replaced, finishing their attempts
        self._ingest_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._prune_task: asyncio.Task[None] | None = None
        self._lock: IO[str] | None = None
        self._stack: contextlib.AsyncExitStack | None = None  # cleanups of what start did (stop runs them)

    def _make_dispatcher(self, settings: Settings) -> Dispatcher:
        return Dispatcher(
            self.store,
            self.sender,
            self.router.hooks,
            self.clock,
            concurrency=settings.delivery.concurrency,
            errors=self.errors,
            hook_errors=self.hook_errors,
            on_failed=self.alerts.attempt_failed if self.alerts.listening else None,
            on_lane_event=self.alerts.lane_changed,  # rare: a pause, a resume, a breaker's change
            on_destination_event=self.alerts.destination_changed,  # the same, for one destination host
        )

    def _make_source(self, config: SourceConfig) -> Source:
        if isinstance(config, SocketSourceConfig):
            return SocketSource(config)
        if isinstance(config, HttpSourceConfig):
            return self._http_source(config)
        return FileTailSource(config, self.store.checkpoint, clock=self.clock)

    def _http_source(self, config: HttpSourceConfig) -> Source:
        # Imported here: a daemon without http sources loads none of it.
        from hookd.inbound.back import StoreBack
        from hookd.inbound.sync import SyncAnswers
        from hookd.sources.http_intake import HttpSourceProxy, HttpWorker

        if self._http_worker is None:
            http = [s for s in self.settings.sources if isinstance(s, HttpSourceConfig)]
            sync = None
            if any(s.response.mode == "sync" for s in http):
                sync = self.dispatcher.sync = SyncAnswers(self.clock, starts_now=self.dispatcher.starts_now)
            budget = max(BODY_BUDGET_FLOOR, 4 * max(s.max_event_bytes for s in http))
            self._http_worker = HttpWorker(http, StoreBack(sync), budget)
        return HttpSourceProxy(config, self._http_worker)

    def http_worker_state(self) -> tuple[int | None, int] | None:
        """The http worker process's pid (None while it is not running) and how many times it was
        started again after exiting unasked, since the daemon started; None without http sources."""
        worker = self._http_worker
        if worker is None:
            return None
        return worker.pid, self._http_restarts_before + worker.restarts

    async def start(self) -> None:
        if log.isEnabledFor(logging.DEBUG):
            self._log_config()
        # Each part started pushes its cleanup here, so a stop (or a start that fails half way) undoes
        # exactly what was done, in reverse, and one cleanup that raises never keeps the next from
        # running: the store closes and the lock is released whatever happened before them.
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            self._lock = lock_database(self.settings.storage.path)
            stack.callback(self._release_lock)
            await self.store.open()
            stack.push_async_callback(self.store.close)
            await self.store.note_config(self.settings.config_sha256, str(self.settings.config_path), self.clock.now())
            await self._recover()
            await self.sender.start()
            stack.push_async_callback(self.sender.close)
            self._ingest_task = asyncio.create_task(self.ingest.run(), name="hookd-ingest")
            self.alerts.start(self.ingest.submit)
            self._dispatch_task = asyncio.create_task(self.dispatcher.run(), name="hookd-dispatcher")
            self._prune_task = asyncio.create_task(self._prune_forever(), name="hookd-prune")
            stack.push_async_callback(self._stop_core)
            stack.push_async_callback(self._close_sources)  # started or not: close is idempotent
            for source in self.sources:
                await source.start()
            stack.push_async_callback(self._stop_reading)
            if self.admin is not None:
                await self.admin.start()  # after the sources are bound: ready means all of it answers
                stack.push_async_callback(self.admin.close)
        except BaseException:
            await self.stop()
            raise
        for source in self.sources:
            self._supervise(source)
        self.started_at = self.clock.now()
        self.ready.set()
        for source in self.sources:
            log.info(LogLine("listening", {"source": source.name, "address": source.describe()}))
        if self.admin_url is not None:
            log.info("admin listening on %s", self.admin_url)
        systemd.notify("READY=1", self._status_line())
        log.info(
            "hookd %s ready: %d source(s), %d hook(s), database %s%s",
            __version__,
            len(self.sources),
            len(self.router.hooks),
            self.settings.storage.path,
            f", admin {self.admin_url}" if self.admin_url is not None else "",
        )

    def _status_line(self) -> str:
        return f"STATUS=ready: {len(self.sources)} source(s), {len(self.router.hooks)} hook(s)"

    def _supervise(self, source: Source, start_error: BaseException | None = None) -> None:
        """A source that fails is logged, shown in health and restarted, never lost."""
        supervisor = SourceSupervisor(
            source, self.ingest.submit, clock=self.clock, health=self.source_health, start_error=start_error
        )
        self._source_tasks[source.name] = asyncio.create_task(supervisor.run(), name=f"source-{source.name}")

    async def _recover(self) -> None:
        """What the last run left: deliveries it was sending, breakers it kept, keys no hook orders by."""
        recovered = await self.store.recover_interrupted(self.clock.now())
        if recovered:
            log.warning(
                LogLine("recovered deliveries interrupted by the last stop; they will be sent again",
                        {"deliveries": recovered})
            )  # fmt: skip
        # Breakers start closed: the state a former run stored (for `hookd hooks list`) is gone with it.
        # An alert hook heard it open: it hears it closed, or it would show the hook failing for good.
        configured = {h.name for h in self.settings.hooks}
        for hook in await self.store.clear_breakers(self.clock.now()):
            if hook in configured:
                self.alerts.lane_changed("breaker.closed", hook, "hookd restarted; a circuit breaker starts closed")
        # Deliveries that wait for their ordering key, of a hook that has none now: nothing would let them go.
        unordered = await self.store.unorder([h.name for h in self.settings.hooks if h.ordering_key is None],
                                             self.clock.now())  # fmt: skip
        if unordered:
            log.info(LogLine("deliveries that waited for their ordering key go unordered: their hook has none now",
                             {"deliveries": unordered}))  # fmt: skip
        await self._warn_orphans()
        self._warn_unverified()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _log_config(self) -> None:
        """Debug: what this daemon runs with (URLs redacted, no header values: they may hold secrets)."""
        s = self.settings
        log.debug(LogLine("config loaded", {
            "file": str(s.config_path),
            "sha256": s.config_sha256[:12],
            "database": str(s.storage.path),
            "sources": len(s.sources),
            "hooks": len(s.hooks),
            "concurrency": s.delivery.concurrency,
            "shutdown_timeout_s": s.delivery.shutdown_timeout_s,
        }))  # fmt: skip
        for source in s.sources:
            log.debug(LogLine("source configured", {"source": source.name, "type": source.type,
                                                    "max_event_bytes": source.max_event_bytes}))  # fmt: skip
        for hook in self.router.hooks:
            c = hook.config
            log.debug(LogLine("hook configured", {
                "hook": c.name,
                "events": ",".join(c.events),
                "method": c.method,
                "url": hook.safe_url,
                "filter": hook.redactor.text(c.filter) if c.filter is not None else None,
                "concurrency": c.concurrency,
                "timeout_s": c.timeout_s,
                "max_attempts": c.retry.max_attempts,
                "backoff": c.retry.backoff,
                "initial_delay_s": c.retry.initial_delay_s,
                "max_delay_s": c.retry.max_delay_s,
                **_endpoint_fields(c, hook.redactor),
            }))  # fmt: skip

    @property
    def admin_url(self) -> str | None:
        """The admin listener's base URL (port 0 resolved), or unix:/path for a socket, once started;
        None when not configured."""
        return self.admin.url if self.admin is not None else None

    def _warn_unverified(self) -> None:
        for hook in self.router.hooks:
            if not hook.config.tls.verify:
                log.warning(
                    LogLine(
                        "TLS certificate verification is off for this hook (tls.verify: false): anyone on the "
                        "network path to its receiver can read and change its requests",
                        {"hook": hook.name},
                    )
                )

    async def _warn_orphans(self) -> None:
        pending = await self.store.pending_by_hook()
        for hook, count in sorted(pending.items()):
            if hook not in self.router.by_name:
                log.warning(
                    LogLine(
                        "has pending deliveries but is not in the config; they wait until the hook is configured again",
                        {"hook": hook, "pending": count},
                    )
                )

    async def _prune_forever(self) -> None:
        while True:
            try:
                removed = await self.store.prune(self.clock.now() - self.settings.storage.retention_s)
                if removed:
                    log.info(LogLine("pruned rows older than the retention period", {"rows": removed}))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.error(LogLine("pruning old deliveries failed; will try again in an hour", {"error": str(e)}))
            await self.clock.sleep(PRUNE_INTERVAL_S)

    def request_stop(self) -> None:
        """First call: graceful stop. Second call: do not wait for in-flight attempts."""
        if self._stop.is_set():
            self._force.set()
            log.warning("second stop signal: cancelling in-flight deliveries now")
        self._stop.set()

    async def wait_stop_requested(self) -> None:
        await self._stop.wait()

    async def reload(self, origin: str) -> ReloadResult:
        """Read the config file again (and its ${file:...} values; a ${VAR} is the daemon's environment,
        which is the one it started with) and run with it; on any error keep running the old one and
        say why. `origin`: what asked (SIGHUP, admin, watch). Requests made while a reload runs are
        answered together by one more after it (CoalescedReloads)."""
        return await self._reloads.request(origin)

    @property
    def running(self) -> bool:
        """Started and not stopping: what a reload needs."""
        return self.started_at is not None and self._stack is not None

    async def _reload_once(self, origins: tuple[str, ...]) -> ReloadResult:
        origin = ", ".join(origins)
        if not self.running:
            return ReloadResult(False, "hookd is not running (starting or stopping); nothing was reloaded")
        path = self.settings.config_path
        # Read, parsed, checked and compiled in a thread: 5,000 hooks take seconds, which the loop spends
        # on sources, deliveries and the admin listener instead. Only the swap runs on the loop.
        result, router = await asyncio.to_thread(_load_for_reload, path)
        if not self.running:
            return ReloadResult(False, "hookd stopped while the config was read; nothing was reloaded")
        if result.settings is None or router is None:
            if not path.exists():  # check_config's own sentence is for a command line (pass -c PATH)
                why = f"{path.absolute()} no longer exists (moved or deleted?): put it back and reload again"
                return await self._refuse_reload("invalid", why, (), path, origin)
            for problem in result.problems:
                log.error("reload: %s", problem)
            errors = [p for p in result.problems if p.severity == "error"]
            first = f"; the first: {errors[0]}" if errors else ""  # in the audit row, read days later
            why = f"{path} is invalid ({len(errors)} error(s){first}); fix them and reload again"
            return await self._refuse_reload("invalid", why, result.problems, path, origin)
        new = result.settings
        refused = restart_needed(self.settings, new)
        if refused:
            why = f"{', '.join(refused)} changed, which only a restart takes; nothing was reloaded"
            return await self._refuse_reload("needs_restart", why, result.problems, path, origin)
        for warning in result.problems:
            log.warning("reload: config: %s", warning)
        systemd.notify("RELOADING=1", "STATUS=reloading the config")
        try:
            changes = await self._apply(new, router)
        except Exception as e:
            # Said here, whoever asked: a SIGHUP's or the watcher's request has no one to tell.
            log.error(LogLine("reload failed part way; the new hooks may run beside sources not yet changed",
                              {"from": origin, "error": str(e) or type(e).__name__}))  # fmt: skip
            raise
        finally:
            systemd.notify("READY=1", self._status_line())
        self.reloads["applied"] += 1
        await self.store.audit(
            AuditRow(at=self.clock.now(), action="reload", target=f"{new.config_path} ({new.config_sha256[:12]})",
                     detail=f"applied: {'; '.join(changes) or 'no changes'}", origin=origin)
        )  # fmt: skip
        log.info(LogLine("config reloaded", {"from": origin, "sha256": new.config_sha256[:12],
                                             "changes": "; ".join(changes) or "none"}))  # fmt: skip
        return ReloadResult(True, f"reloaded {new.config_path}", problems=result.problems, changes=tuple(changes))

    async def _refuse_reload(
        self, kind: str, why: str, problems: Sequence[Problem], path: Path, origin: str
    ) -> ReloadResult:
        """Count, log (with what asked, and that the running config stays) and audit a refused reload."""
        self.reloads[kind] += 1
        message = f"{why}; the config loaded before keeps running"
        log.error(LogLine("config reload refused", {"from": origin, "reason": message}))
        await self.store.audit(
            AuditRow(at=self.clock.now(), action="reload", target=str(path), detail=f"refused: {message}",
                     origin=origin)
        )  # fmt: skip
        return ReloadResult(False, message, problems=tuple(problems))

    async def _apply(self, new: Settings, router: Router) -> list[str]:
        """Swap in `new`'s hooks (its `router` and a new dispatcher, between two ingest commits),
        endpoint profiles and sources. The replaced dispatcher stops claiming, gives back what it
        claimed and did not send, and finishes its attempts in flight beside the new one."""
        old = self.settings
        changes = hook_changes(old, new)
        if old.admin.token != new.admin.token:
            changes.append("admin.token changed")  # never its value
        async with self.ingest.between_commits():
            # Noted in the same step as the router's swap, before it: every event committed after
            # this block was routed with `new`, and `hookd why` (config_runs, by time) says so, also
            # for events stored while the sources below restart, and also if that fails half way.
            await self.store.note_config(new.config_sha256, str(new.config_path), self.clock.now())
            replaced, replaced_task = self.dispatcher, self._dispatch_task
            replaced.stop()
            if replaced_task is not None:
                done, _ = await asyncio.wait({replaced_task}, timeout=5.0)
                if not done:
                    await _cancel([replaced_task])
            self.router = router
            self.alerts.listening = any(is_listening(h.events) for h in new.hooks)
            self.dispatcher = self._make_dispatcher(new)
            self.dispatcher.sync = replaced.sync
            self.dispatcher.tail = self.tail
            self.tail.redactor = router.redactor  # built with the router, in the reload's thread
            # Counts since start go on (status, metrics); the replaced one's last attempts add to its own.
            self.dispatcher.outcomes = replaced.outcomes
            self.dispatcher.durations = replaced.durations
            self.ingest.router = router
            self.ingest.handoff = self.dispatcher
            self.settings = new
            self.sender.configure(router.endpoints)
            self._dispatch_task = asyncio.create_task(self.dispatcher.run(), name="hookd-dispatcher")
        grace = max((h.timeout_s for h in old.hooks), default=30.0) + 5.0
        retiring = asyncio.create_task(replaced.finish(grace), name="hookd-dispatcher-retiring")
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)
        changes += await self._swap_sources(old, new)
        return changes

    async def _swap_sources(self, old: Settings, new: Settings) -> list[str]:
        stop, start, http_changed = source_changes(old.sources, new.sources)
        names = set(stop)
        if http_changed:
            names |= {s.name for s in old.sources if isinstance(s, HttpSourceConfig)}
        leaving = [s for s in self.sources if s.name in names]
        for source in leaving:
            await source.stop_reading()
            task = self._source_tasks.pop(source.name, None)
            if task is not None:
                await _cancel([task])
            await source.close()
        kept = [s for s in self.sources if s.name not in names]
        configs = list(start)
        if http_changed:
            if self._http_worker is not None:
                self._http_restarts_before += self._http_worker.restarts
            self._http_worker = None  # a new worker, with every http source of the new config
            configs += [s for s in new.sources if isinstance(s, HttpSourceConfig)]
        arriving = [self._make_source(c) for c in configs]
        for source in arriving:
            error: BaseException | None = None
            try:
                await source.start()
            except StartupError as e:
                log.error(LogLine("reload: a source cannot start; it is tried again", {"source": source.name,
                                                                                    "reason": str(e)}))  # fmt: skip
                error = e
            self._supervise(source, start_error=error)
        order = {s.name: i for i, s in enumerate(new.sources)}
        self.sources = sorted(kept + arriving, key=lambda s: order.get(s.name, len(order)))
        before = {s.name for s in old.sources}
        after = {s.name for s in new.sources}
        out = [f"source {n} added" for n in after - before]
        out += [f"source {n} removed" for n in before - after]
        out += [f"source {s.name} changed" for s in configs if s.name in before]
        return out

    async def stop(self) -> None:
        """Undo what start did, in reverse (its stack of cleanups). Safe to call more than once."""
        stack, self._stack = self._stack, None  # from now on, `running` is False: no reload begins
        try:
            if stack is not None:
                if self.started_at is not None:
                    systemd.notify("STOPPING=1", "STATUS=stopping: finishing deliveries in flight")
                # A reload half-way through would start sources and write to the store as they close.
                await self._reloads.settle(RELOAD_SETTLE_S)
                await stack.aclose()
        finally:
            if self.started_at is not None:  # not after a start that failed: its error says what happened
                self.started_at = None
                log.info("hookd stopped")

    async def _stop_reading(self) -> None:
        """Sources take nothing more; what is being committed is answered before connections end."""
        if self.dispatcher.sync is not None:
            self.dispatcher.sync.stopping()  # callers waiting for receivers are answered now
        for source in self.sources:
            await source.stop_reading()
        await _cancel(list(self._source_tasks.values()))
        self._source_tasks = {}

    async def _close_sources(self) -> None:
        for source in self.sources:
            # A source task cancelled before it first ran never reached its own `finally`.
            await source.close()

    async def _stop_core(self) -> None:
        """Ingest's last commit, then the dispatcher with its grace for attempts in flight, then the
        alerts those attempts raised."""
        if self._ingest_task is not None:
            # Queued alerts go into ingest's last commit (not a dead ingest's: it would never answer).
            await self.alerts.close(self.ingest.submit if not self._ingest_task.done() else None)
            self.ingest.stop()
            # It commits what is queued and ends; cancel only if the store hangs.
            done, _ = await asyncio.wait({self._ingest_task}, timeout=STOP_INGEST_TIMEOUT_S)
            if not done:
                log.error("the last ingest commit did not finish in %.0fs; stopping anyway", STOP_INGEST_TIMEOUT_S)
                await _cancel([self._ingest_task])
            self._ingest_task = None
        if self._prune_task is not None:
            await _cancel([self._prune_task])
            self._prune_task = None
        if self._dispatch_task is not None:
            self.dispatcher.stop()
            # It leaves its loop by itself at the next wake; cancel only if a claim hangs.
            done, _ = await asyncio.wait({self._dispatch_task}, timeout=5.0)
            if not done:
                await _cancel([self._dispatch_task])
            self._dispatch_task = None
            grace = 0.0 if self._force.is_set() else self.settings.delivery.shutdown_timeout_s
            in_flight = self.dispatcher.in_flight_total
            if in_flight:
                log.info("waiting up to %.0fs for %d in-flight delivery(ies)", grace, in_flight)
            cancelled = await self.dispatcher.finish(grace, force=self._force)
            if cancelled:
                log.warning(
                    "cancelled %d in-flight delivery(ies); they will be sent again at the next start", cancelled
                )
        if self._retiring:  # dispatchers a reload replaced: their attempts end with the others'
            if self._force.is_set():
                for task in self._retiring:
                    task.cancel()
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self.alerts.queued and self.store.is_open:
            # Raised by attempts that finished after ingest's last commit: one more, sent at the next start.
            try:
                async with asyncio.timeout(STOP_INGEST_TIMEOUT_S):
                    await self.alerts.flush(self.ingest.commit_after_stop)
            except TimeoutError:
                log.error("the last alerts were not stored in %.0fs; stopping anyway", STOP_INGEST_TIMEOUT_S)

    async def serve(self) -> None:
        """Start, run until `request_stop()`, stop."""
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()


async def _cancel(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _endpoint_fields(hook: HookConfig, redactor: Redactor) -> dict[str, object]:
    """How a hook talks to its endpoint, for the debug log: the kinds of signing and auth, the TLS
    files and verification, the proxy (its credentials redacted). Never a secret or key."""
    tls = hook.tls
    return {
        "signing": hook.signing.type if hook.signing is not None else None,
        "signing_v1a": hook.signing.private_key is not None if hook.signing is not None else None,
        "auth": hook.auth.type if hook.auth is not None else None,
        "tls_verify": tls.verify,
        "tls_ca_file": str(tls.ca_file) if tls.ca_file is not None else None,
        "tls_client_cert": str(tls.client_cert) if tls.client_cert is not None else None,
        "proxy": redactor.text(redact_url(hook.proxy)) if hook.proxy is not None else None,
        "trust_env": hook.trust_env,
        "require_https": hook.require_https,
    }


def _load_for_reload(path: Path) -> tuple[CheckResult, Router | None]:
    """The config at `path` checked, and its hooks compiled when it is valid (run in a thread)."""
    result = check_config(path)
    if result.settings is None:
        return result, None
    return result, Router(result.settings.hooks, secrets=result.settings.secrets)
