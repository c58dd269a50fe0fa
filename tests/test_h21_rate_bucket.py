"""The token bucket behind `rate_limit`, on a fake clock: its burst, its refill, taking n tokens at
once, giving them back; and one bucket shared by the lanes of a rate_limit_group."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.config.load import load_config
from hookd.dispatcher import Dispatcher
from hookd.ratelimit import TokenBucket, burst_for
from hookd.router import Router
from hookd.senders.http import HttpSender
from hookd.store.sqlite import SQLiteStore
from hookd.units import parse_rate
from tests.manual_clock import ManualClock


@pytest.mark.parametrize(
    ("rate", "burst"),
    [("100/min", 10), ("600/min", 60), ("10/s", 1), ("50/s", 5), ("1000/h", 1), ("5/min", 1), ("3600/h", 6)],
)
def test_the_burst_is_a_tenth_of_the_limit_at_most_six_seconds_worth(rate: str, burst: int) -> None:
    """A tenth of the count as written, capped at 6 s of the rate, at least 1 (README, man page)."""
    assert burst_for(parse_rate(rate)) == burst


def test_a_full_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    """1. 100/min (burst 10), full at start. 2. Take 25 at once, then as the clock moves.
    Result: 10 at once; none more until 0.6 s have passed; then one per 0.6 s; never above the burst."""
    clock = ManualClock()
    bucket = TokenBucket(parse_rate("100/min"), clock)
    assert bucket.available() == 10
    assert bucket.take(25) == 10
    assert bucket.take(1) == 0
    assert bucket.next_token_at() == pytest.approx(clock.now() + 0.6)
    clock.advance(0.5)
    assert bucket.take(1) == 0
    clock.advance(0.1)
    assert bucket.take(3) == 1  # exactly at the next token's time: it is there
    for _ in range(5):
        clock.advance(0.6)
        assert bucket.take(1) == 1
        assert bucket.take(1) == 0
    clock.advance(3600.0)
    assert bucket.available() == 10  # a quiet hour refills to the burst, not to 6,000


def test_taking_n_tokens_is_one_call_and_partial_takes_what_is_there() -> None:
    """5/s (burst 1 would be the rule; 4 given here): take(3) takes 3; take(3) then takes the 1 left;
    after a second, 4 (the burst), not 5."""
    clock = ManualClock()
    bucket = TokenBucket(parse_rate("5/s"), clock, burst=4)
    assert bucket.take(3) == 3
    assert bucket.take(3) == 1
    clock.advance(1.0)
    assert bucket.take(10) == 4


def test_tokens_given_back_return_up_to_the_burst() -> None:
    """Tokens of a claim that came back short go back, never above the burst."""
    clock = ManualClock()
    bucket = TokenBucket(parse_rate("100/min"), clock)
    assert bucket.take(10) == 10
    bucket.give_back(4)
    assert bucket.available() == 4
    bucket.give_back(100)
    assert bucket.available() == 10


def test_a_slow_rate_waits_its_interval_on_the_clock() -> None:
    """1/h: the next token an hour after the one taken, to the second, however the clock got there."""
    clock = ManualClock()
    bucket = TokenBucket(parse_rate("1/h"), clock)
    assert bucket.take(1) == 1
    for _ in range(59):
        clock.advance(60.0)
    assert bucket.available() == 0
    assert bucket.next_token_at() == pytest.approx(clock.now() + 60.0)
    clock.advance(60.0)
    assert bucket.available() == 1


async def test_hooks_of_a_group_share_one_bucket_and_do_not_over_claim(tmp_path: Path) -> None:
    """1. Hooks a and b in group partner (60/min: burst 6), hook c with no limit; all want to claim.
    2. The dispatcher works out what to claim, twice.
    Result: a and b hold the same bucket object; together they are given 6 (the burst), c its full
    room; the second time a and b get nothing, until the clock moves a second (one token)."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        f"version: 1\nstorage: {{path: {tmp_path}/hookd.db}}\n"
        "delivery: {rate_limit_groups: {partner: 60/min}}\nhooks:\n"
        "  - {name: a, events: [x], url: 'http://127.0.0.1:9/a', rate_limit_group: partner}\n"
        "  - {name: b, events: [x], url: 'http://127.0.0.1:9/b', rate_limit_group: partner}\n"
        "  - {name: c, events: [x], url: 'http://127.0.0.1:9/c'}\n",
        encoding="utf-8",
    )
    settings = load_config(cfg)
    clock = ManualClock()
    store = SQLiteStore(settings.storage.path)
    sender = HttpSender(max_connections=1, user_agent="hookd-test")
    try:
        dispatcher = Dispatcher(store, sender, Router(settings.hooks).hooks, clock, concurrency=100)
        lanes = dispatcher.lanes
        assert lanes["a"].bucket is lanes["b"].bucket is not None
        assert lanes["c"].bucket is None
        first = dispatcher._limits()
        assert first.get("a", 0) + first.get("b", 0) == 6
        assert first["c"] == 20  # twice its concurrency: no rate limit, the usual reserve
        second = dispatcher._limits()
        assert "a" not in second and "b" not in second
        clock.advance(1.0)
        third = dispatcher._limits()
        assert third.get("a", 0) + third.get("b", 0) == 1
    finally:
        await sender.close()


async def test_ingest_reservation_takes_tokens_and_gives_back_what_it_did_not_use(tmp_path: Path) -> None:
    """1. Hook h with rate_limit 60/min (burst 6), nothing due (its last claim came back short).
    2. Ingest asks room for 10 fresh deliveries, then for more; its commit claims none of them (all
       duplicates, say).
    Result: 6 (the tokens), then 0; the 6 unused tokens go back after the commit."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        f"version: 1\nstorage: {{path: {tmp_path}/hookd.db}}\nhooks:\n"
        "  - {name: h, events: [x], url: 'http://127.0.0.1:9/h', rate_limit: 60/min}\n",
        encoding="utf-8",
    )
    settings = load_config(cfg)
    clock = ManualClock()
    sender = HttpSender(max_connections=1, user_agent="hookd-test")
    try:
        dispatcher = Dispatcher(
            SQLiteStore(settings.storage.path), sender, Router(settings.hooks).hooks, clock, concurrency=100
        )
        lane = dispatcher.lanes["h"]
        lane.exhausted = True
        assert dispatcher.reserve("h", 10) == 6
        assert dispatcher.reserve("h", 10) == 0
        assert lane.bucket is not None and lane.bucket.available() == 0
        dispatcher.committed((), frozenset(), {"h": 6})
        assert lane.bucket.available() == 6 and lane.reserved == 0
    finally:
        await sender.close()
