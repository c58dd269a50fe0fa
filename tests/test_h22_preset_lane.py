"""A receiver answering like Discord (429 with its wait in a JSON body `retry_after`, no Retry-After
header) slows the hook's whole lane for that wait, and no attempt is wasted: the daemon reads the answer
through the hook's preset (issue 22). A daemon on a ManualClock, a real receiver."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from tests.conftest import Receiver, Reply, db_rows, event_line, running_daemon, send_lines, wait_db, wait_until
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config

RATE_LIMITED = orjson.dumps({"message": "You are being rate limited.", "retry_after": 64.57, "global": False})


async def test_a_discord_429_with_a_json_retry_after_holds_the_lane(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook d with preset discord (concurrency 1, max_delay 1h); its receiver answers the first
    request 429 with {"retry_after": 64.57} in a JSON body, then 204. 2. Three events.
    Result: one request, then nothing while the clock stands (the two queued deliveries wait with no
    attempt counted); once 64.57 s have passed, all three go: the told one on its second attempt,
    the others on their first. The first attempt's error says Discord rate-limited this webhook."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/d", Reply(status=429, headers={"Content-Type": "application/json"}, body=RATE_LIMITED))
    receiver.default["/d"] = Reply(status=204, body=b"")
    hooks = (
        f'  - {{name: d, events: ["*"], url: "{receiver.url("/d")}", concurrency: 1, preset: discord, '
        'message: "order {{ data.id }}", retry: {max_delay: 1h, jitter: false}}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hooks), clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}", data={"id": i}) for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                      lambda r: r == [("e1", "pending", 1), ("e2", "pending", 0), ("e3", "pending", 0)])  # fmt: skip
        await wait_until(lambda: clock.waiting() > 0)
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(receiver.at("/d")) == 1
        clock.advance(60.0)
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(receiver.at("/d")) == 1  # still held: Discord said 64.57 s
        clock.advance(5.0)
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: all(state == "delivered" for _, state, _ in r))  # fmt: skip
    assert rows == [("e1", "delivered", 2), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    [(error,)] = db_rows(db, "SELECT error FROM attempts WHERE status = 429")
    assert isinstance(error, str) and "Discord" in error and "rate limited" in error
    bodies = [r.json() for r in receiver.at("/d")]
    assert all(isinstance(b, dict) and b["content"].startswith("order ") for b in bodies)


def test_a_preset_that_fails_to_read_an_answer_leaves_the_outcome_as_sent(caplog: pytest.LogCaptureFixture) -> None:
    """Reading the receiver's answer through the preset is not allowed to turn it into an internal error
    (which would send the delivery again whatever the receiver said): a reader that raises leaves the
    outcome as the sender made it, with one log line."""
    import dataclasses

    from hookd.config.model import HookConfig
    from hookd.dispatcher import _classified
    from hookd.router import compile_hook
    from hookd.senders.base import Outcome

    class Broken:
        name = "broken"

        def classify(self, outcome: Outcome) -> Outcome:
            raise RecursionError("an answer nested too deep")

    hook = compile_hook(HookConfig(name="h", events=("*",), url="https://x.example/"))
    hook = dataclasses.replace(hook, preset=Broken())  # type: ignore[arg-type]
    sent = Outcome(status=404, ok=False, retryable=False, duration_s=0.1, error="HTTP 404")
    assert _classified(hook, sent) is sent
    assert "kept as sent" in caplog.text
