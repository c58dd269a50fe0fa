"""The daemon's lifecycle as a stack: stop undoes what start did, in reverse, and a cleanup that
raises never keeps the store from closing or the database lock from being released."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.senders.worker import WorkerSender
from hookd.store.lock import lock_database
from tests.conftest import Receiver, socket_config


class FailingClose(WorkerSender):
    """A delivery worker whose close raises (a bug in a cleanup step)."""

    async def close(self) -> None:
        await super().close()
        raise RuntimeError("close failed")


def config(d: Path, receiver: Receiver) -> Path:
    return socket_config(d, f'hooks:\n  - {{name: h, events: ["*"], url: "{receiver.url("/x")}"}}\n')


async def test_a_cleanup_that_raises_still_closes_the_store_and_releases_the_lock(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A daemon whose delivery worker raises as it closes; 2. stop. Result: stop says so (the error
    reaches the caller), and the store is closed and the lock released: another daemon can take it."""
    loaded = load_config(config(short_dir, receiver))
    sender = FailingClose(max_connections=4, user_agent="t")
    daemon = Daemon(loaded, sender=sender)
    await daemon.start()
    with pytest.raises(RuntimeError, match="close failed"):
        await daemon.stop()
    assert not daemon.store.is_open
    lock_database(loaded.storage.path).close()  # free again
    await daemon.stop()  # a second stop does nothing


async def test_a_start_that_fails_half_way_undoes_what_it_did(short_dir: Path, receiver: Receiver) -> None:
    """A socket source whose path is a directory: start fails after the store opened and the worker
    started. Result: StartupError, and the store is closed, the worker gone and the lock released."""
    from hookd.errors import StartupError

    (short_dir / "s.sock").mkdir()
    loaded = load_config(config(short_dir, receiver))
    daemon = Daemon(loaded)
    with pytest.raises(StartupError):
        await daemon.start()
    assert not daemon.store.is_open
    assert isinstance(daemon.sender, WorkerSender) and daemon.sender.pid is None
    lock_database(loaded.storage.path).close()


async def test_under_systemd_hookd_says_ready_then_stopping(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hookd serve` with NOTIFY_SOCKET naming a datagram socket (as systemd's Type=notify gives it).
    Result: READY=1 once it serves, STOPPING=1 when SIGTERM starts the stop."""
    import asyncio
    import signal
    import socket

    from tests.conftest import DaemonProcess

    path = short_dir / "notify.sock"
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(path))
    manager.setblocking(False)
    loop = asyncio.get_running_loop()
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    daemon = DaemonProcess(config(short_dir, receiver))
    try:
        await daemon.start()
        async with asyncio.timeout(10):
            ready = await loop.sock_recv(manager, 4096)
        assert ready.split(b"\n")[0] == b"READY=1"
        daemon.signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            stopping = await loop.sock_recv(manager, 4096)
        assert stopping.split(b"\n")[0] == b"STOPPING=1"
        assert await daemon.wait() == 0
    finally:
        await daemon.stop()
        manager.close()


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    from hookd import systemd

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
