"""`hookd serve`: run the daemon in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.config.load import check_config, default_config_path
from hookd.daemon import Daemon
from hookd.errors import StartupError
from hookd.logs import setup_logging
from hookd.redact import Redactor, redact_log_handlers
from hookd.runtime import raise_open_files_limit, run, settle_gc
from hookd.watch import watch_config


class LogFormat(StrEnum):
    human = "human"
    json = "json"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@app.command()
def serve(
    config: Path = typer.Option(None, "-c", "--config", help="Config file (default: $HOOKD_CONFIG or ./hookd.yaml)."),
    log_format: LogFormat = typer.Option(
        LogFormat.human,
        "--log-format",
        help="human (key=value, escaped) or json (one object per line, values as keys).",
    ),
    log_level: LogLevel = typer.Option(
        LogLevel.info, "--log-level", help="Least severe level logged; debug adds claims, retries scheduled, commits."
    ),
    watch: bool = typer.Option(
        False, "--watch", help="Reload when the config file changes (also when an editor or git replaces it)."
    ),
) -> None:
    """Run the daemon: take events from the configured sources, store them, deliver them.

    Logs go to stderr. SIGTERM or SIGINT stops intake, lets in-flight deliveries finish for up to
    delivery.shutdown_timeout, and exits 0; a second SIGINT cancels them at once. Pending work
    resumes at the next start. SIGHUP (or `hookd reload`, or --watch) reads the config again and
    runs with it; an invalid one is logged and the running config kept. Exit 3 when hookd cannot
    start (invalid config, address in use).
    """
    # First: a SIGHUP from here on (logrotate, a script, `kill -HUP`) is a reload asked for, run once
    # the daemon is ready, not the default action that ends the process half started.
    reload_asked = ReloadAsked()
    with reload_asked.caught():
        _serve_config(config or default_config_path(), log_format, log_level, watch, reload_asked)


def _serve_config(
    path: Path, log_format: LogFormat, log_level: LogLevel, watch: bool, reload_asked: ReloadAsked
) -> None:
    result = check_config(path)
    if result.settings is None:
        render.problems_text(result.problems, console=render.stderr)
        if result.readable:
            render.stderr.print(f"hookd cannot start: {path} is invalid; fix the errors above (hookd validate {path}).")
        else:
            render.stderr.print("hookd cannot start: no config to run.")
        raise typer.Exit(3)
    settings = result.settings
    setup_logging(log_format.value, log_level.value)
    # Every line the daemon writes, tracebacks and the delivery worker's lines included.
    redact_log_handlers(Redactor(settings.secrets))
    for warning in result.problems:
        logging.getLogger("hookd").warning("config: %s", warning)
    try:
        raise_open_files_limit()
        run(_serve(Daemon(settings), watch=watch, reload_asked=reload_asked))
    except StartupError as e:
        render.stderr.print(f"[red]hookd cannot start:[/red] {render.escape_lines(str(e))}")
        raise typer.Exit(3) from None


class ReloadAsked:
    """SIGHUPs that came before the daemon was ready (while the config was read, the database
    opened, the sources bound): remembered, and answered by one reload once it is."""

    def __init__(self) -> None:
        self.asked = False

    def note(self, signum: int = signal.SIGHUP, frame: object = None) -> None:
        self.asked = True

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """SIGHUP noted here while the block runs (the loop's own handler takes over in between),
        the former handler back after it. Only the main thread may set handlers: elsewhere (the CLI
        run in a test's thread) nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGHUP, self.note)
        try:
            yield
        finally:
            signal.signal(signal.SIGHUP, previous)


async def _serve(daemon: Daemon, *, watch: bool = False, reload_asked: ReloadAsked | None = None) -> None:
    loop = asyncio.get_running_loop()
    asked = reload_asked or ReloadAsked()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, daemon.request_stop)
    reloads: set[asyncio.Task[object]] = set()

    def reload(origin: str) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(daemon.reload(origin))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    def on_sighup() -> None:
        if daemon.ready.is_set():
            reload("SIGHUP")
        else:
            asked.note()  # a reload now would be refused as "not running": run it once ready

    async def reload_if_asked_when_ready() -> None:
        await daemon.ready.wait()
        if asked.asked:
            asked.asked = False
            logging.getLogger("hookd").info("reloading: SIGHUP arrived while hookd was starting")
            reload("SIGHUP")

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    tune_gc = asyncio.create_task(_tune_runtime_when_ready(daemon))
    asked_at_start = asyncio.create_task(reload_if_asked_when_ready())
    watching = asyncio.create_task(_watch_when_ready(daemon)) if watch else None
    try:
        await daemon.serve()
    finally:
        tune_gc.cancel()
        asked_at_start.cancel()
        if watching is not None:
            watching.cancel()
        for sig in (*signals, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if threading.current_thread() is threading.main_thread():
            # Removing the handler restored SIGHUP's default action, which would end the process
            # before it has finished stopping: one from now on is noted, and no longer acted on.
            signal.signal(signal.SIGHUP, asked.note)
        await asyncio.gather(*reloads, return_exceptions=True)


async def _watch_when_ready(daemon: Daemon) -> None:
    await daemon.ready.wait()
    await watch_config(daemon.settings.config_path, lambda: daemon.reload("watch"), daemon.clock)


async def _tune_runtime_when_ready(daemon: Daemon) -> None:
    """The daemon owns this process: settle the collector (hookd.runtime), and let the store thread
    have the GIL back sooner."""
    await daemon.ready.wait()
    settle_gc()
    # The store's thread needs the GIL back after every SQLite step; with the loop busy it waited up
    # to the 5 ms default each time (an outcome write: 11 ms for 1.6 ms of work). 1 ms bounds that
    # wait; in-process runs at 20,000 events gave ~10% more events/s in two pairs of three.
    sys.setswitchinterval(0.001)
