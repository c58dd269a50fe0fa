"""A client that connects as a socket source stops gets its connection closed, not leaked.

asyncio accepts a connection in one turn of the event loop and builds its transport in a later one.
A server closed between the two (CPython gh-109564, present in 3.11) leaves the accepted socket open
with no transport and nobody answering, until the garbage collector closes it with a ResourceWarning
("unclosed transport", "unclosed <socket.socket ... laddr=.../s.sock>"); under filterwarnings=error
that surfaced in whichever later test the collector ran in (tests/test_h19_cli_send.py, about one
run in five). The client meanwhile waits for an answer or an end that does not come.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from pathlib import Path

import pytest

from hookd.config.model import SocketSourceConfig
from hookd.sources.base import Accepted, Batch
from hookd.sources.socket import SocketSource


async def submit(batch: Batch) -> list[Accepted]:
    return [Accepted(id=e.id, duplicate=False, deliveries=0) for e in batch.events]


def connection_ended(client: socket.socket) -> bool:
    """True when the other end closed (end of file, or a reset when it was never accepted)."""
    client.setblocking(False)
    try:
        return client.recv(1) == b""
    except BlockingIOError:
        return False  # still open: nothing to read, no end
    except ConnectionResetError:
        return True


# The daemon's stop (stop_reading, then close) and the supervisor's restart of a failed source (close).
@pytest.mark.parametrize("how", ["stop", "restart"])
# Loop turns between the connect and the stop: the window is one or two of them, where depends on the path.
@pytest.mark.parametrize("turns", range(7))
async def test_a_client_connecting_as_the_source_stops_is_closed(short_dir: Path, how: str, turns: int) -> None:
    """1. A socket source runs; 2. a client connects (the kernel completes it at once, in the
    backlog); 3. after `turns` turns of the loop, the source stops. Result: once close returns, the
    client's connection has ended, and no socket is left for the garbage collector to close."""
    source = SocketSource(SocketSourceConfig(name="app", path=short_dir / "s.sock"))
    await source.start()
    running = asyncio.create_task(source.run(submit))
    await asyncio.sleep(0)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    gc.disable()  # the leaked socket is in a reference cycle: only a collection would close it
    try:
        client.connect(str(short_dir / "s.sock"))
        for _ in range(turns):
            await asyncio.sleep(0)
        if how == "stop":
            await source.stop_reading()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await source.close()
        ended = connection_ended(client)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    finally:
        gc.enable()
        client.close()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert ended
    assert source.open_connections == 0
