"""Reload hardening: a config path that is a FIFO, a device or huge is refused at start and at
reload; the config is read off the event loop; reloads asked for meanwhile share one more; `hookd
why` knows the config of events routed during a reload; the dispatcher's finish() survives tasks
done but not yet removed; a full NOTIFY_SOCKET never blocks; a SIGHUP during start-up is a reload."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hookd import daemon as daemon_module
from hookd import systemd
from hookd.config.load import MAX_CONFIG_BYTES, CheckResult, check_config, load_config
from hookd.dispatcher import Dispatcher
from hookd.reload import CoalescedReloads, ReloadResult
from hookd.router import Router
from hookd.senders.http import HttpSender
from hookd.sources.base import Checkpoint
from hookd.store.sqlite import SQLiteStore
from hookd.watch import watch_config
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    FAILSAFE_S,
    DaemonProcess,
    Receiver,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_until,
)
from tests.manual_clock import ManualClock


def hooks_config(d: Path, receiver: Receiver, path: str = "/a") -> Path:
    return socket_config(d, f'hooks:\n  - {{name: main, events: ["*"], url: "{receiver.url(path)}"}}\n')


def _with_sources(d: Path, receiver: Receiver, path: str, extra_sources: str) -> Path:
    """hooks_config with `extra_sources` (YAML list items) after the socket source."""
    cfg = hooks_config(d, receiver, path)
    cfg.write_text(cfg.read_text().replace("sources:\n", f"sources:\n{extra_sources}"))
    return cfg


# -- 1a. what the config path may be --------------------------------------------------------------


def not_a_config(kind: str, target: Path) -> str:
    """Make `target` a config path of `kind`; the words the refusal says."""
    if kind == "fifo":
        os.mkfifo(target)  # nobody writes to it: a blocking open would wait forever
        return "is a FIFO (named pipe), not a regular file"
    if kind == "symlink to /dev/zero":
        os.symlink("/dev/zero", target)  # read to its end, it never ends
        return "is a character device, not a regular file"
    with target.open("wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)  # sparse: costs no disk
    return "is larger than 16 MiB"


KINDS = ["fifo", "symlink to /dev/zero", "over the size cap"]


@pytest.mark.parametrize("kind", KINDS)
async def test_validate_and_serve_refuse_a_config_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    """A config path that is a FIFO without a writer, a symlink to /dev/zero, or a file past the cap.
    Result: `hookd validate` and `hookd serve` answer at once with a sentence naming the path (serve
    exits 3), instead of waiting forever or reading until memory runs out."""
    cfg = tmp_path / "hookd.yaml"
    said = not_a_config(kind, cfg)
    async with asyncio.timeout(FAILSAFE_S):
        result = await asyncio.to_thread(check_config, cfg)
        served = await hookd("serve", "-c", str(cfg))
    assert result.settings is None and not result.readable
    [problem] = result.problems
    assert str(cfg) in problem.message and said in problem.message
    assert served.exit_code == 3, served.output
    assert said in plain(served.output) and "hookd cannot start" in plain(served.output)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_reload_refuses_such_a_config_and_keeps_running(short_dir: Path, receiver: Receiver, kind: str) -> None:
    """1. A running daemon; 2. its config path replaced (by rename, as `serve --watch` would see it)
    with a FIFO, a symlink to /dev/zero or a file past the cap; reload; 3. the real file back; reload.
    Result: the first reload is refused with the sentence naming the path, events still go to the
    old hook; the second applies."""
    cfg = hooks_config(short_dir, receiver)
    text = cfg.read_text()
    async with running_daemon(cfg) as daemon:
        odd = short_dir / "odd"
        said = not_a_config(kind, odd)
        os.replace(odd, cfg)
        async with asyncio.timeout(FAILSAFE_S):
            refused = await daemon.reload("test")
        assert not refused.ok and "the config loaded before keeps running" in refused.message
        assert any(str(cfg) in p.message and said in p.message for p in refused.problems)
        await send_lines(short_dir / "s.sock", [event_line(id="still")])
        await receiver.wait_count(1, "/a")
        cfg.unlink()
        cfg.write_text(text.replace(receiver.url("/a"), receiver.url("/b")))
        applied = await daemon.reload("test")
        assert applied.ok and applied.changes == ("hook main changed (url)",)


# -- 1b. off the event loop -----------------------------------------------------------------------


async def test_the_config_is_read_in_a_thread_while_the_loop_goes_on(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. A reload whose reading of the config is held (check_config wrapped) until the test, on the
    event loop, has had an event acknowledged; 2. the read goes on. Result: the event is acknowledged
    while the config is being read, and the reload applies. (Read on the loop, the hold would stop
    the loop itself: the wrapper gives up after the failsafe and says it was never let go.)"""
    reading, let_go = threading.Event(), threading.Event()
    released: list[bool] = []

    def held_check_config(path: Path) -> CheckResult:
        reading.set()
        released.append(let_go.wait(FAILSAFE_S / 4))
        return check_config(path)

    monkeypatch.setattr(daemon_module, "check_config", held_check_config)
    cfg = hooks_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/b")))
        reload = asyncio.create_task(daemon.reload("test"))
        await wait_until(reading.is_set)
        [ack] = await send_lines(short_dir / "s.sock", [event_line(id="while-reading")])
        let_go.set()
        result = await reload
    assert released == [True]
    assert ack["ok"] and result.ok and result.changes == ("hook main changed (url)",)


# -- 1c. coalescing -------------------------------------------------------------------------------


async def test_requests_during_a_reload_share_one_more_reload() -> None:
    """1. Reload a starts and is held; 2. b, c and d ask meanwhile; 3. a is let go. Result: two runs
    in all: a's, then one for b, c and d together, whose one result each of them gets."""
    gate = asyncio.Event()
    runs: list[tuple[str, ...]] = []

    async def reload(origins: tuple[str, ...]) -> ReloadResult:
        runs.append(origins)
        if len(runs) == 1:
            await gate.wait()
        return ReloadResult(True, f"run {len(runs)}")

    reloads = CoalescedReloads(reload)
    first = asyncio.create_task(reloads.request("a"))
    await wait_until(lambda: runs == [("a",)])
    later = [asyncio.create_task(reloads.request(o)) for o in ("b", "c", "d", "b")]
    await asyncio.sleep(0)
    assert runs == [("a",)]
    gate.set()
    assert (await first).message == "run 1"
    results = await asyncio.gather(*later)
    assert runs == [("a",), ("b", "c", "d")]
    assert all(r is results[0] for r in results) and results[0].message == "run 2"


async def test_a_failed_run_answers_all_its_requests_and_the_next_one_runs_again() -> None:
    """A run that raises. Result: every request it served gets the error; a request after it runs anew."""
    calls = 0

    async def reload(origins: tuple[str, ...]) -> ReloadResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("broken")
        return ReloadResult(True, "fine")

    reloads = CoalescedReloads(reload)
    both = await asyncio.gather(reloads.request("a"), reloads.request("b"), return_exceptions=True)
    assert [str(e) for e in both] == ["broken", "broken"] and calls == 1
    assert (await reloads.request("c")).message == "fine"


async def test_a_burst_of_reloads_on_a_daemon_reads_the_config_twice(short_dir: Path, receiver: Receiver) -> None:
    """1. Ingest's commits held, so a reload waits at its swap; 2. five more reloads asked meanwhile;
    3. commits let go. Result: two reloads applied (audit and metrics), the five answered by the same
    second one, whose audit row names every origin once."""
    cfg = hooks_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/b")))
        async with daemon.ingest.between_commits():
            first = asyncio.create_task(daemon.reload("first"))
            await wait_until(lambda: daemon.settings.config_path.exists() and _reload_began(daemon))
            burst = [asyncio.create_task(daemon.reload(o)) for o in ("SIGHUP", "admin", "SIGHUP", "watch", "admin")]
            for _ in range(5):
                await asyncio.sleep(0)
            assert not first.done()
        assert (await first).ok
        results = await asyncio.gather(*burst)
        assert all(r is results[0] for r in results) and results[0].ok
        assert daemon.reloads["applied"] == 2
    origins = db_rows(short_dir / "hookd.db", "SELECT origin FROM audit WHERE action = 'reload' ORDER BY at, rowid")
    assert origins == [("first",), ("SIGHUP, admin, watch",)]


def _reload_began(daemon: object) -> bool:
    """A run has taken the requests made so far (those after it wait for the next)."""
    reloads = daemon._reloads  # type: ignore[attr-defined]
    return bool(reloads._one_at_a_time.locked() and reloads._queued is None)


# -- 2. the config an event was routed with -------------------------------------------------------


class HeldCheckpointStore(SQLiteStore):
    """Holds (or fails) the checkpoint read of the source named `late`, which a reload that adds it
    makes while it starts the sources: the moment between the router's swap and the reload's end."""

    entered: asyncio.Event
    release: asyncio.Event
    fail = False

    async def checkpoint(self, source: str) -> Checkpoint | None:
        if source == "late":
            self.entered.set()
            if self.fail:
                raise RuntimeError("the checkpoint cannot be read")
            await self.release.wait()
        return await super().checkpoint(source)


def late_source(d: Path) -> str:
    return f"  - {{name: late, type: file, path: {d}/late.jsonl}}\n"


async def config_of(store: SQLiteStore, event_id: str) -> str | None:
    [(received_at,)] = db_rows(store.path, "SELECT received_at FROM events WHERE id = ?", (event_id,))
    noted = await store.config_at(float(str(received_at)))
    return noted[0] if noted is not None else None


async def test_events_stored_while_a_reload_starts_sources_are_noted_with_the_new_config(
    short_dir: Path, receiver: Receiver
) -> None:
    """On a fake clock: 1. e1 at t+10; 2. at t+20 a reload to config B, which adds a file source, is
    held while that source starts (after the router's swap); 3. e2 at t+30, routed with B; 4. at t+40
    the reload ends. Result: config_runs says e1 was routed with A and e2 with B (noted with the
    swap, at t+20; noted at the reload's end it said A)."""
    clock = ManualClock(start=1_000.0)
    cfg = hooks_config(short_dir, receiver)
    HeldCheckpointStore.entered, HeldCheckpointStore.release = asyncio.Event(), asyncio.Event()
    async with running_daemon(cfg, clock=clock, store_type=HeldCheckpointStore) as daemon:
        store = daemon.store
        a = daemon.settings.config_sha256
        clock.advance(10)
        await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        _with_sources(short_dir, receiver, "/b", late_source(short_dir))
        clock.advance(10)
        reload = asyncio.create_task(daemon.reload("test"))
        async with asyncio.timeout(FAILSAFE_S):
            await HeldCheckpointStore.entered.wait()
        b = daemon.settings.config_sha256
        assert b != a
        clock.advance(10)
        await send_lines(short_dir / "s.sock", [event_line(id="e2")])
        clock.advance(10)
        HeldCheckpointStore.release.set()
        assert (await reload).ok
        assert await config_of(store, "e1") == a
        assert await config_of(store, "e2") == b
        assert [r[0] for r in db_rows(store.path, "SELECT started_at FROM config_runs ORDER BY rowid")] == [
            1_000.0,
            1_020.0,
        ]


async def test_a_reload_that_fails_part_way_has_noted_the_config_it_routes_with(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A reload whose new file source fails to start with an unexpected error (after the swap).
    Result: the reload raises and logs that it failed part way; the config it routes with is noted,
    so an event after it is said to be routed with the new config."""
    clock = ManualClock(start=1_000.0)
    cfg = hooks_config(short_dir, receiver)
    HeldCheckpointStore.entered, HeldCheckpointStore.release = asyncio.Event(), asyncio.Event()
    HeldCheckpointStore.fail = True
    try:
        async with running_daemon(cfg, clock=clock, store_type=HeldCheckpointStore) as daemon:
            _with_sources(short_dir, receiver, "/b", late_source(short_dir))
            clock.advance(10)
            with caplog.at_level(logging.ERROR, logger="hookd"), pytest.raises(RuntimeError):
                await daemon.reload("test")
            assert any("reload failed part way" in r.getMessage() for r in caplog.records)
            clock.advance(10)
            await send_lines(short_dir / "s.sock", [event_line(id="after")])
            assert await config_of(daemon.store, "after") == daemon.settings.config_sha256
    finally:
        HeldCheckpointStore.fail = False


# -- 3. Dispatcher.finish -------------------------------------------------------------------------


@pytest.mark.parametrize("with_force", [False, True], ids=["no stop event", "with a stop event"])
@pytest.mark.parametrize("running", [True, False], ids=["one still running", "all done"])
async def test_finish_with_tasks_done_but_not_yet_removed(tmp_path: Path, running: bool, with_force: bool) -> None:
    """The dispatcher's task set holds a task that is done (its done-callback, which removes it, has
    not run yet), and maybe one that still runs. Result: finish() neither raises "Set of
    Tasks/Futures is empty" nor waits out its grace for the done one: a running one is cancelled
    (counted: 1), and with only done ones it returns 0 at once, even with an hour of grace."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(f"version: 1\nstorage: {{path: {tmp_path}/hookd.db}}\n"
                   "hooks:\n  - {name: h, events: [x], url: 'http://127.0.0.1:9/h'}\n")  # fmt: skip
    settings = load_config(cfg)
    sender = HttpSender(max_connections=1, user_agent="hookd-test")
    forever = asyncio.create_task(asyncio.Event().wait())
    try:
        dispatcher = Dispatcher(SQLiteStore(settings.storage.path), sender, Router(settings.hooks).hooks,
                                ManualClock(), concurrency=1)  # fmt: skip
        done = asyncio.create_task(asyncio.sleep(0))
        await done
        dispatcher._tasks.add(done)  # as between a task's end and its done-callback
        if running:
            dispatcher._tasks.add(forever)
        async with asyncio.timeout(FAILSAFE_S):
            cancelled = await dispatcher.finish(0.0 if running else 3600.0,
                                                force=asyncio.Event() if with_force else None)  # fmt: skip
        assert cancelled == (1 if running else 0)
    finally:
        forever.cancel()
        await asyncio.gather(forever, return_exceptions=True)
        await sender.close()


# -- 4. systemd notify ----------------------------------------------------------------------------


def notify_twice() -> list[bool]:
    return [systemd.notify("READY=1"), systemd.notify("RELOADING=1")]


def test_a_full_notify_socket_never_blocks(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """NOTIFY_SOCKET names a datagram socket nobody reads, its queue filled. Result: notify() returns
    False at once (checked in a thread, so a blocking send would show as a thread still running),
    twice, with one warning that says the socket is full; once read from, it sends again."""
    path = short_dir / "notify"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler,
    ):
        manager.bind(str(path))
        filler.connect(str(path))
        filler.setblocking(False)
        with pytest.raises(BlockingIOError):
            for _ in range(100_000):
                filler.send(b"STATUS=filling")
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setattr(systemd, "_said_full", False)
        sent: list[bool] = []
        with caplog.at_level(logging.DEBUG, logger="hookd"):
            worker = threading.Thread(target=lambda: sent.extend(notify_twice()), daemon=True)
            worker.start()
            worker.join(FAILSAFE_S)
            blocked = worker.is_alive()
            manager.setblocking(False)
            while True:  # drain: a blocked sender (the bug) gets through and its thread ends
                try:
                    manager.recv(4096)
                except BlockingIOError:
                    break
            worker.join(FAILSAFE_S)
        assert not blocked, "notify() blocked on a full NOTIFY_SOCKET"
        assert sent == [False, False]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "full" in warnings[0] and "READY=1" in warnings[0]
        assert systemd.notify("STOPPING=1") is True
        assert manager.recv(4096) == b"STOPPING=1"


# -- 5. SIGHUP during start-up --------------------------------------------------------------------


def catches(pid: int, sig: int) -> bool:
    """Whether the process `pid` has a handler for `sig` (SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(mask >> (sig - 1) & 1)


async def test_a_sighup_during_startup_is_a_reload_once_ready(short_dir: Path, receiver: Receiver) -> None:
    """`hookd serve` as a process: 1. SIGHUP as soon as it catches the signal, long before it is ready
    (the config still to check, the database to open, the delivery worker to start); 2. an event.
    Result: it does not die of the signal; once ready it says the SIGHUP came during start-up and
    reloads (from=SIGHUP), then delivers as usual."""
    cfg = hooks_config(short_dir, receiver)
    daemon = DaemonProcess(cfg)
    starting = asyncio.create_task(daemon.start())
    try:
        await wait_until(lambda: daemon.proc is not None)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        await wait_until(lambda: catches(pid, signal.SIGHUP) or daemon.proc is None or not _alive(daemon))
        assert not any(" ready: " in line for line in daemon.log), "ready before the test could send SIGHUP"
        daemon.signal(signal.SIGHUP)
        await starting
        assert daemon.proc.returncode is None, "\n".join(daemon.log)
        await daemon.wait_for_line("config reloaded")
        assert any("SIGHUP arrived while hookd was starting" in line for line in daemon.log)
        assert any("from=SIGHUP" in line for line in daemon.log if "config reloaded" in line)
        await send_lines(short_dir / "s.sock", [event_line(id="after-start")])
        await receiver.wait_count(1, "/a")
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await daemon.stop()


def _alive(daemon: DaemonProcess) -> bool:
    return daemon.proc is not None and daemon.proc.returncode is None


# -- the watcher ----------------------------------------------------------------------------------


async def test_the_watcher_goes_on_after_a_reload_that_raised(tmp_path: Path) -> None:
    """`serve --watch`'s loop on a fake clock: 1. a change whose reload raises; 2. another change.
    Result: the second change is reloaded too (the first error did not end the watching)."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text("version: 1\n")
    clock = ManualClock()
    calls: list[int] = []

    async def on_change() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("reload failed part way")

    watching = asyncio.create_task(watch_config(cfg, on_change, clock, interval_s=1.0))
    try:
        for text, expected in (("version: 1\n# one\n", 1), ("version: 1\n# two, longer\n", 2)):
            await clock.wait_sleeping(1.0)
            cfg.write_text(text)
            clock.advance(1.0)
            await wait_until(_count_is(calls, expected))
        assert not watching.done()
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)


def _count_is(calls: list[int], n: int) -> Callable[[], bool]:
    return lambda: len(calls) == n


async def test_a_reload_of_a_config_moved_away_says_so_and_where_it_came_from(
    short_dir: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The config file is moved away; a SIGHUP-like reload. Result: refused with the absolute path
    and "no longer exists" (not the command line's "pass -c PATH"); the log line names what asked and
    that the running config is kept."""
    cfg = socket_config(short_dir, f'hooks:\n  - {{name: h, events: ["*"], url: "{receiver.url("/h")}"}}\n')
    async with running_daemon(cfg) as daemon:
        cfg.rename(short_dir / "moved.yaml")
        with caplog.at_level(logging.ERROR, logger="hookd"):
            result = await daemon.reload("SIGHUP")
    assert not result.ok
    assert f"{cfg.absolute()} no longer exists" in result.message and "pass -c" not in result.message
    refused = [r.getMessage() for r in caplog.records if "config reload refused" in r.getMessage()]
    assert len(refused) == 1 and "from=SIGHUP" in refused[0] and "keeps running" in refused[0]


async def test_a_listener_certificate_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """An http source's tls.cert_file is a FIFO nobody writes. Result: validate says it is no regular
    file, at once (opening it would block until someone writes)."""
    fifo = tmp_path / "cert.pem"
    os.mkfifo(fifo)
    (tmp_path / "key.pem").write_text("not a key")
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        "version: 1\n"
        f"storage: {{path: {tmp_path}/hookd.db}}\n"
        "sources:\n"
        "  - {name: gh, type: http, listen: 127.0.0.1:0, path: /gh, tls: {cert_file: cert.pem, key_file: key.pem}}\n"
        "hooks: []\n"
    )
    result = await asyncio.wait_for(asyncio.to_thread(check_config, cfg), 10)
    assert result.settings is None
    assert any("is not a regular file" in p.message for p in result.problems), result.problems


async def test_a_stop_waits_for_a_reload_under_way(short_dir: Path, receiver: Receiver) -> None:
    """1. A reload held just before it swaps the sources; 2. a stop asked meanwhile; 3. the reload
    goes on. Result: the stop waits for it (no source is started, nor the store written, while
    hookd is torn down): the reload applies and is audited, then the stop ends."""
    cfg = hooks_config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        entered, go_on = asyncio.Event(), asyncio.Event()
        swap = daemon._swap_sources

        async def held_swap(old: object, new: object) -> list[str]:
            entered.set()
            await go_on.wait()
            return await swap(old, new)  # type: ignore[arg-type]

        daemon._swap_sources = held_swap  # type: ignore[method-assign]
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/b")))
        reload = asyncio.create_task(daemon.reload("SIGHUP"))
        await asyncio.wait_for(entered.wait(), FAILSAFE_S)
        stop = asyncio.create_task(daemon.stop())
        for _ in range(20):
            await asyncio.sleep(0)
        assert not stop.done(), "the stop tore hookd down under a reload"
        go_on.set()
        result = await asyncio.wait_for(reload, FAILSAFE_S)
        await asyncio.wait_for(stop, FAILSAFE_S)
    assert result.ok
    assert db_rows(short_dir / "hookd.db", "SELECT action, origin FROM audit") == [("reload", "SIGHUP")]


async def test_a_rotated_admin_token_is_said_by_name_and_a_wrong_one_is_told_so(
    short_dir: Path, receiver: Receiver
) -> None:
    """admin.token from a ${file:...}; the file gets a new token; a reload. Result: the reload lists
    "admin.token changed" (never the value); the old token is then refused as a token that was
    refused, not as a missing one."""
    from tests.test_h24_metrics import fetch_json

    old, new = "old-admin-token-0123456789", "new-admin-token-0123456789"
    (short_dir / "admin-token").write_text(old)
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: main, events: ["*"], url: "{receiver.url("/a")}"}}
        admin: {{listen: 127.0.0.1:0, token: "${{file:admin-token}}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        (short_dir / "admin-token").write_text(new)
        result = await daemon.reload("SIGHUP")
        code, body = await fetch_json(f"{daemon.admin_url}/status", token=old)
    assert result.ok and result.changes == ("admin.token changed",)
    assert new not in str(result) and old not in str(result)
    assert code == 401 and "the token was refused" in str(body["error"])


async def test_the_watcher_says_once_when_the_config_stays_gone_and_when_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve --watch` on a fake clock: the file moved away for 5 s, then put back. Result: one
    warning that it is gone (not during an editor's brief rename), one line when it is back, and the
    file put back is reloaded."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text("version: 1\n")
    clock = ManualClock()
    calls: list[int] = []

    async def on_change() -> None:
        calls.append(1)

    caplog.set_level(logging.INFO, logger="hookd.watch")
    watching = asyncio.create_task(watch_config(cfg, on_change, clock, interval_s=1.0))
    try:
        cfg.rename(tmp_path / "away.yaml")
        for _ in range(6):
            await clock.wait_sleeping(1.0)
            clock.advance(1.0)
        (tmp_path / "away.yaml").write_text("version: 1\n# back\n")
        (tmp_path / "away.yaml").rename(cfg)
        await clock.wait_sleeping(1.0)
        clock.advance(1.0)
        await wait_until(_count_is(calls, 1))
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    said = [r.getMessage() for r in caplog.records if r.name == "hookd.watch"]
    assert len([m for m in said if "config file is gone" in m]) == 1
    assert len([m for m in said if "config file is back" in m]) == 1
