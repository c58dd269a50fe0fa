"""A receiver that says "too many requests" slows the hook's whole lane, however it says it (issue 22):
a 429 without a Retry-After holds the lane until the told delivery's own next try; a Teams legacy
connector's 200 carrying the 429 in its text does the same; a Discord answer that spends the webhook's
rate-limit bucket (X-RateLimit-Remaining: 0) pauses the lane until the bucket refills, before any 429.
Daemons on a ManualClock, real receivers; the deliveries waiting behind a hold spend no attempt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Receiver, Reply, db_rows, event_line, idle, running_daemon, send_lines, wait_db
from tests.manual_clock import ManualClock
from tests.test_serve import basic_config

ROWS = "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id"


async def _three_events_held(short_dir: Path, receiver: Receiver, hook: str, *, held_s: float, path: str) -> Path:
    """Three events to `hook` (concurrency 1), whose receiver's first answer holds the lane: one request,
    nothing more while the clock stands or moves less than `held_s`, then all three delivered."""
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}", data={"id": i}) for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        # The first answer is recorded (an attempt is counted when claimed, before it is sent).
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(1,)])
        await idle(clock)
        assert len(receiver.at(path)) == 1
        clock.advance(held_s - 0.5)
        await idle(clock)
        assert len(receiver.at(path)) == 1, "the lane went on before the receiver's time was up"
        rows = db_rows(db, ROWS)
        assert [attempts for _, _, attempts in rows][1:] == [0, 0]  # waiting spends no attempt
        clock.advance(1.0)
        await wait_db(db, ROWS, lambda r: all(state == "delivered" for _, state, _ in r))
    return db


async def test_a_429_without_retry_after_holds_the_lane_until_the_next_try(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    receiver.on("/p", Reply(status=429, body=b"slow down"))
    hook = (
        f'  - {{name: p, events: ["*"], url: "{receiver.url("/p")}", concurrency: 1, '
        "retry: {initial_delay: 30s, backoff: fixed, jitter: false}}"
    )
    db = await _three_events_held(short_dir, receiver, hook, held_s=30.0, path="/p")
    assert db_rows(db, ROWS) == [("e1", "delivered", 2), ("e2", "delivered", 1), ("e3", "delivered", 1)]


async def test_a_teams_connector_throttling_in_a_200_holds_the_lane(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    throttled = b"Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429"
    receiver.on("/t", Reply(status=200, body=throttled))
    hook = (
        f'  - {{name: t, events: ["*"], url: "{receiver.url("/t")}", concurrency: 1, preset: teams, '
        'message: "order {{ data.id }}", retry: {initial_delay: 20s, backoff: fixed, jitter: false}}'
    )
    db = await _three_events_held(short_dir, receiver, hook, held_s=20.0, path="/t")
    assert db_rows(db, ROWS) == [("e1", "delivered", 2), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    [(error,)] = db_rows(db, "SELECT error FROM attempts WHERE error != ''")
    assert "Teams" in error and "throttled" in error


async def test_a_discord_answer_that_spends_the_bucket_pauses_the_lane_before_any_429(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    spent = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}
    receiver.on("/d", Reply(status=204, headers=spent, body=b""))
    receiver.default["/d"] = Reply(status=204, headers={"X-RateLimit-Remaining": "4"}, body=b"")
    hook = (
        f'  - {{name: d, events: ["*"], url: "{receiver.url("/d")}", concurrency: 1, preset: discord, '
        'message: "order {{ data.id }}"}'
    )
    db = await _three_events_held(short_dir, receiver, hook, held_s=2.5, path="/d")
    # Nothing failed: the pause came before Discord had to refuse anything.
    assert db_rows(db, ROWS) == [("e1", "delivered", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert db_rows(db, "SELECT count(*) FROM attempts WHERE status != 204") == [(0,)]


async def test_a_discord_failure_for_good_that_spends_the_bucket_holds_the_lane_too(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Discord refuses e1 for good (400, no retry) with its bucket's last request spent
    (Remaining 0, Reset-After 2.5); e2 and e3 wait behind it. 2. The clock moves 2 s, then 1 s more.

    Result: no request while the bucket refills (a failure counts against it too); then e2 and e3
    are delivered, e1 stays failed with its one attempt, and nothing met a 429."""
    monkeypatch.setattr("hookd.dispatcher.POLL_INTERVAL_S", 3600.0)
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5", "Content-Type": "application/json"}
    receiver.on("/d", Reply(status=400, headers=spent, body=b'{"message": "Invalid Form Body", "code": 50035}'))
    receiver.default["/d"] = Reply(status=204, headers={"X-RateLimit-Remaining": "4"}, body=b"")
    hook = (
        f'  - {{name: d, events: ["*"], url: "{receiver.url("/d")}", concurrency: 1, preset: discord, '
        'message: "order {{ data.id }}"}'
    )
    db = short_dir / "hookd.db"
    clock = ManualClock()
    async with running_daemon(basic_config(short_dir, receiver, hook), clock=clock):
        acks = await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}", data={"id": i}) for i in (1, 2, 3)])
        assert all(a["ok"] for a in acks)
        await wait_db(db, "SELECT state FROM deliveries WHERE event_id = 'e1'", lambda r: r == [("failed",)])
        await idle(clock)
        clock.advance(2.0)
        await idle(clock)
        assert len(receiver.at("/d")) == 1, "the lane went on before Discord's bucket refilled"
        clock.advance(1.0)
        await wait_db(db, ROWS, lambda r: [state for _, state, _ in r] == ["failed", "delivered", "delivered"])
    assert db_rows(db, ROWS) == [("e1", "failed", 1), ("e2", "delivered", 1), ("e3", "delivered", 1)]
    assert db_rows(db, "SELECT status FROM attempts ORDER BY started_at") == [(400,), (204,), (204,)]


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "1.25"}, 1.25),
        ({"x-ratelimit-remaining": "1", "x-ratelimit-reset-after": "1.25"}, None),
        ({"x-ratelimit-remaining": "0"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "soon"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "-3"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "nan"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "inf"}, None),
    ],
)
def test_discord_reads_its_bucket_only_when_it_is_spent_and_the_time_is_a_number(
    headers: dict[str, str], pause: float | None
) -> None:
    from hookd.presets import PRESETS
    from hookd.senders.base import Outcome

    sent = Outcome(status=204, ok=True, retryable=False, duration_s=0.1, response_headers=headers, kind="delivered")
    read = PRESETS["discord"].classify(sent)
    assert (read.ok, read.kind, read.retry_after_s) == (True, "delivered", pause)


def test_a_discord_bucket_pause_is_at_most_a_minute() -> None:
    """Discord's buckets refill within seconds: a Reset-After of 1e300 would slow the hook to one message
    per max_delay with nothing failing to show for it."""
    from hookd.presets import PRESETS
    from hookd.senders.base import Outcome

    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset-after": "1e300"}
    sent = Outcome(status=204, ok=True, retryable=False, duration_s=0.1, response_headers=headers, kind="delivered")
    assert PRESETS["discord"].classify(sent).retry_after_s == 60.0


@pytest.mark.parametrize("name", ["slack", "teams", "discord", "mattermost", "zapier", "ifttt"])
def test_a_preset_leaves_the_senders_own_explanation(name: str) -> None:
    """A redirect not followed, a proxy's refusal: the sender said why, and a preset reading the status
    as its service's answer would say less."""
    from hookd.presets import PRESETS, read_answer
    from hookd.senders.base import Outcome
    from hookd.senders.http import REFUSED_RENEWED

    said = "HTTP 302 redirect to https://x.example/*** not followed; point the hook at the final URL"
    redirect = Outcome(status=302, ok=False, retryable=False, duration_s=0.1, kind="redirect", error=said)
    assert read_answer(PRESETS[name], redirect) is redirect
    renewed = Outcome(status=401, ok=False, retryable=False, duration_s=0.1, error="HTTP 401" + REFUSED_RENEWED)
    assert read_answer(PRESETS[name], renewed).error.endswith(REFUSED_RENEWED)
