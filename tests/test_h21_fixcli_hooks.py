"""`hookd hooks pause|resume|list` (issue 21, new-user review findings 6, 7, 9): resuming a hook whose
circuit breaker is open says so, pause and list work before the first `hookd serve`, and a destination
is named the ways its url names it, and paused by an operator."""

from __future__ import annotations

from pathlib import Path

import orjson

from hookd.store.base import BreakerRecord
from tests.cli_helpers import hookd, plain
from tests.conftest import open_store, socket_config


def words(text: str) -> str:
    return " ".join(plain(text).split())


def brk_config(d: Path) -> Path:
    return socket_config(
        d,
        """
        hooks:
          - {name: brk, events: ["*"], url: "http://127.0.0.1:9/brk", breaker: {failures: 2, cooldown: 30s}}
        """,
    )


async def test_resuming_a_hook_whose_breaker_is_open_says_so(short_dir: Path) -> None:
    """1. Hook brk is not paused; its circuit breaker is open (stored by the daemon: since 1000, probe
    at 1030, reason `2 failures in a row`). 2. `hookd hooks resume brk` (and --json).
    Result: (2) exit 0, nothing changed; the message says the breaker is open, since when and why, and
    when it probes; --json has the breaker."""
    cfg = brk_config(short_dir)
    async with open_store(short_dir / "hookd.db") as store:
        breaker = BreakerRecord(state="open", reason="2 failures in a row: HTTP 503", since=1000.0, retry_at=1030.0)
        await store.set_breaker("brk", breaker, 1000.0)

    resumed = await hookd("hooks", "resume", "brk", "-c", str(cfg))
    assert resumed.exit_code == 0, resumed.output
    text = words(resumed.output)
    assert "brk is not paused; nothing changed: its circuit breaker is open since" in text
    assert "(2 failures in a row: HTTP 503)" in text and "it probes with one delivery at" in text
    as_json = orjson.loads((await hookd("hooks", "resume", "brk", "-c", str(cfg), "--json")).output)
    assert as_json["changed"] is False
    assert as_json["breaker"]["state"] == "open" and as_json["breaker"]["probe_at"].startswith("1970-01-01T00:17:10")
