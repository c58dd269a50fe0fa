"""Process-wide tuning for hookd's long-running processes (the daemon and its delivery worker)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def settle_gc() -> None:
    """Call once startup is done. Keeps the cyclic collector off the objects that live as long as the
    process, and makes collections rarer: hookd's per-event objects form no cycles, reference
    counting frees them, and each collection only walks what piled up since the last one.

    Measured in bench/: in the daemon the collector took ~11% of CPU, with 30+ ms full collections
    in the ack p99; in the delivery worker it took ~4 µs of ~61 µs per request (57 with this).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
