"""A lane's destinations (hookd.destinations): each host's gates on a ManualClock, and the map's bound."""

from __future__ import annotations

import pytest

from hookd import destinations
from hookd.admin import _destination_reasons
from hookd.cli.common import due_at
from hookd.config.model import BreakerConfig
from hookd.destinations import Destinations
from hookd.lane import Lane
from hookd.store.base import PARK_OFFSET_S, HookPause
from hookd.units import parse_rate
from tests.manual_clock import ManualClock


def test_each_host_has_its_own_bucket_and_breaker_and_closes_for_its_own_reasons() -> None:
    clock = ManualClock()
    dests = Destinations(parse_rate("1/min"), BreakerConfig(failures=1, cooldown_s=30.0), clock)
    a, b = dests.get("a.example"), dests.get("b.example")
    assert dests.get("a.example") is a and a.bucket is not b.bucket and a.breaker is not b.breaker
    assert a.bucket is not None and a.bucket.take(1) == 1 and a.bucket.take(1) == 0
    assert b.bucket is not None and b.bucket.take(1) == 1  # a's limit is not b's
    assert a.breaker is not None and a.breaker.failed(clock.now(), "HTTP 503") == "opened"
    assert a.closed(clock.now()) and not b.closed(clock.now())
    clock.advance(30.0)
    assert a.breaker.tick(clock.now()) == "half_open" and not a.closed(clock.now())
    a.probe = "d1"
    assert a.closed(clock.now())  # one probe at a time
    b.paused = HookPause(by="receiver", reason="410", at=clock.now())
    assert b.closed(clock.now())
    c = dests.get("c.example")
    c.held_until = clock.now() + 5
    assert c.closed(clock.now()) and not c.closed(clock.now() + 5)


def test_the_map_forgets_idle_hosts_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_DESTINATIONS, hosts with nothing to remember are forgotten; a paused one is kept."""
    monkeypatch.setattr(destinations, "MAX_DESTINATIONS", 3)
    clock = ManualClock()
    dests = Destinations(None, BreakerConfig(failures=2), clock)
    paused = dests.get("p.example")
    paused.paused = HookPause(by="receiver", reason="410", at=0.0)
    failing = dests.get("f.example")
    assert failing.breaker is not None and failing.breaker.failed(0.0, "HTTP 503") is None  # one failure counted
    dests.get("idle.example")
    dests.get("new.example")
    assert sorted(d.host for d in dests) == ["f.example", "new.example", "p.example"]


def test_the_map_stays_bounded_when_every_host_has_something_to_remember(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_DESTINATIONS, a stream of hosts that each counted a failure (nothing idle to forget) does
    not grow the map: the oldest whose gate is open are forgotten, a tenth of the bound at once; a
    paused host is kept however old."""
    monkeypatch.setattr(destinations, "MAX_DESTINATIONS", 10)
    clock = ManualClock()
    dests = Destinations(None, BreakerConfig(failures=5), clock)
    dests.get("paused.example").paused = HookPause(by="receiver", reason="410", at=0.0)
    sizes = []
    for i in range(200):
        d = dests.get(f"h{i}.example")
        assert d.breaker is not None and d.breaker.failed(0.0, "HTTP 503") is None
        sizes.append(len(dests.by_host))
    assert max(sizes) == 10
    hosts = {d.host for d in dests}
    assert "paused.example" in hosts and "h199.example" in hosts and "h0.example" not in hosts


def test_history_shows_a_parked_deliverys_own_due_time() -> None:
    assert due_at(PARK_OFFSET_S + 1_800_000_000.0) == 1_800_000_000.0
    assert due_at(1_800_000_000.0) == 1_800_000_000.0
    assert due_at(None) is None


def test_health_names_ten_destinations_of_a_hook_then_counts_the_rest() -> None:
    """25 paused destinations of one hook: health names 10 (by host) and says 15 more, not 25 lines."""
    lane = Lane("shops", 10)
    lane.destinations = Destinations(None, None, ManualClock())
    for i in range(25):
        d = lane.destinations.get(f"t{i:02}.example")
        d.paused = HookPause(by="receiver", reason="the receiver answered 410 Gone", at=0.0)
        lane.destinations.gated.add(d)
    reasons = _destination_reasons("shops", lane)
    assert len(reasons) == 11
    assert all("t0" in r or "t1" in r for r in reasons[:10])
    assert reasons[10].startswith("hook 'shops': 15 more destination(s) are paused")
