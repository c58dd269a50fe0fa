"""A destination's breaker probe ends however its attempt ends (issue 21, attacker's finding): a probe
answered 410, a probe that never reached the receiver, and a probe taken back unsent each let the next
delivery probe, instead of leaving the destination half-open with every delivery parked until a restart.
A daemon on a ManualClock with real receivers, as in test_h21_hosts_daemon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookd import client
from hookd.breaker import Breaker
from hookd.config.model import BreakerConfig
from hookd.daemon import Daemon
from hookd.destinations import Destinations
from hookd.lane import Lane
from hookd.store.base import PARK_OFFSET_S, DueDelivery
from tests.cli_helpers import hookd
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    idle,
    running_daemon,
    send_lines,
    serving_receiver,
    socket_config,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_h21_hosts_daemon import PARKED, ROWS, events, port, shops_config


async def test_a_probe_answered_410_lets_the_next_probe_go_once_resumed(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook shops, breaker {failures: 1, cooldown: 30s}; tenant a answers 503, then 410, then 200.
    2. a1 a2 a3: a1's 503 opens a's breaker. 3. The clock moves 30 s: the probe is answered 410, which
    pauses the destination. 4. `hooks resume shops --destination localhost:A`.
    Result: after the resume the next delivery probes, is answered, the breaker closes and a1..a3 are
    all delivered (before, the 410'd probe was never ended and the rest stayed parked)."""
    a = receiver
    a.on("/shop", Reply(status=503), Reply(status=410))
    cfg = shops_config(short_dir, "            breaker: {failures: 1, cooldown: 30s}")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, a, ["a1", "a2", "a3"])))
        await opened(daemon, host_a, clock)
        clock.advance(30.0)
        await a.wait_count(2, "/shop")
        await wait_db(db, "SELECT count(*) FROM destination_state", lambda r: r == [(1,)])

        resumed = await hookd("hooks", "resume", "shops", "--destination", host_a, "-c", str(cfg))
        assert resumed.exit_code == 0, resumed.output
        assert daemon.admin_url is not None
        assert await client.refresh_hooks(daemon.admin_url, token=None, timeout_s=5.0)
        rows = await wait_db(db, ROWS.replace("?", f"'{host_a}'"), lambda r: all(s == "delivered" for _, s, _ in r))
    assert [e for e, _, _ in rows] == ["a1", "a2", "a3"]


async def test_a_probe_that_never_reached_the_receiver_lets_the_next_one_probe(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook shops with payload {n: length(data.items)}, breaker {failures: 1, cooldown: 30s}; tenant a
    answers 503, then 200. 2. a1 (items [1]) gets the 503: the breaker opens. 3. a2-bad (items 5: its
    payload cannot render) and a3 come. 4. The clock moves 30 s: a2-bad, due first, probes and fails to
    render (no verdict on the receiver).
    Result: the next delivery probes at once, is answered and closes the breaker; a1 and a3 are
    delivered, a2-bad failed for good with the render error; the receiver saw three requests."""
    a = receiver
    a.on("/shop", Reply(status=503))
    extra = '            breaker: {failures: 1, cooldown: 30s}\n            payload: {n: "{{ length(data.items) }}"}'
    cfg = shops_config(short_dir, extra)
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"

    def to_a(name: str, items: object) -> bytes:
        return event_line("order.created", id=name, data={"host": "localhost", "port": port(a), "items": items})

    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert (await send_lines(short_dir / "s.sock", [to_a("a1", [1])]))[0]["ok"]
        await opened(daemon, host_a, clock)
        acks = await send_lines(short_dir / "s.sock", [to_a("a2-bad", 5), to_a("a3", [3])])
        assert all(x["ok"] for x in acks)
        await idle(clock)
        clock.advance(30.0)
        rows = await wait_db(
            db, ROWS.replace("?", f"'{host_a}'"), lambda r: all(s in ("delivered", "failed") for _, s, _ in r)
        )
    assert [(e, s) for e, s, _ in rows] == [("a1", "delivered"), ("a2-bad", "failed"), ("a3", "delivered")]
    assert len(a.at("/shop")) == 3


async def opened(daemon: Daemon, host: str, clock: ManualClock) -> None:
    """Until `host`'s breaker of hook shops is open and the dispatcher waits on the clock."""
    dests = daemon.dispatcher.lanes["shops"].destinations
    assert dests is not None
    await wait_until(lambda: dests.get(host).breaker is not None and dests.get(host).breaker.state == "open")  # type: ignore[union-attr]
    await idle(clock)


def test_a_probe_taken_back_unsent_frees_the_probes_place() -> None:
    """A half-open destination's probe, admitted to its lane and taken back unsent (a pause, a hold)
    or with its destination's deliveries: no probe is out any more, so the next one may go."""
    clock = ManualClock()
    lane = Lane("shops", 1)
    lane.destinations = Destinations(None, BreakerConfig(failures=1, cooldown_s=30.0), clock)
    dest = lane.destinations.get("a.example")
    assert isinstance(dest.breaker, Breaker) and dest.breaker.failed(clock.now(), "HTTP 503") == "opened"
    clock.advance(30.0)
    assert dest.breaker.tick(clock.now()) == "half_open"
    probe = DueDelivery(id="d1", event_id="e1", hook="shops", attempt=1, body=b"{}", replay_of=None,
                        destination="a.example")  # fmt: skip
    for take_back in (lambda: lane.take_back(clock.now()), lambda: lane.take_back_destination(dest)):
        dest.probe = probe.id
        lane.ready.append(probe)
        assert dest.closed(clock.now())
        assert take_back() == [probe]
        assert dest.probe is None and not dest.closed(clock.now())


@pytest.fixture
async def tenant_b() -> AsyncIterator[Receiver]:
    async with serving_receiver() as rec:
        yield rec


async def test_a_rate_limited_destination_unparks_no_more_than_its_lane_can_claim(
    short_dir: Path, receiver: Receiver, tenant_b: Receiver
) -> None:
    """1. Hook shops, rate_limit 60/min per destination (burst 6), concurrency 1; tenant b holds every
    request. 2. a00..a19: six go, the rest wait parked for tokens. 3. b1 takes the hook's one slot and
    is held. 4. The clock moves a minute (six tokens for a) and the dispatcher is woken five times.
    Result: a's parked backlog stays parked but for what the lane could claim (before, every round
    unparked six more while the slot was taken, until the whole backlog was back in the claims' range);
    once b answers, a's deliveries go on at the limit."""
    a, b = receiver, tenant_b
    release = asyncio.Event()
    b.on("/shop", Reply(hold=release))
    cfg = shops_config(short_dir, "            rate_limit: 60/min")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    parked = PARKED.replace("?", f"'{host_a}'", 1).replace("?", str(PARK_OFFSET_S))
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        names = [f"a{i:02}" for i in range(20)]
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, names)))
        await a.wait_count(6, "/shop")
        await wait_db(db, parked, lambda r: r == [(14,)])
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, b, ["b1"])))
        await b.wait_count(1, "/shop")
        clock.advance(60.0)
        for _ in range(5):
            daemon.dispatcher.wake()
            await idle(clock)
        [(still,)] = db_rows(db, parked)
        assert isinstance(still, int) and still >= 12, still
        release.set()
        clock.advance(60.0)
        await a.wait_count(12, "/shop")


async def test_a_secret_in_a_templated_host_stays_out_of_the_destination(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook shops with url `http://${ZONE}:{{ data.port }}/shop` (ZONE set in the environment, a
    config secret like any `${VAR}`), allow_hosts [${ZONE}]; the receiver answers 410. 2. One event.
    Result: the destination the 410 pauses is kept, stored, told to alert hooks and listed as
    `${ZONE}:PORT`: the value of ZONE is in none of them (it is in the request hookd sends, as it must).
    `hooks resume --destination localhost:PORT` (the real host) resumes that destination."""
    monkeypatch.setenv("ZONE", "localhost")
    a = receiver
    a.on("/shop", Reply(status=410))
    cfg = socket_config(
        short_dir,
        """
        hooks:
          - name: shops
            events: ["*"]
            url: "http://${ZONE}:{{ data.port }}/shop"
            allow_hosts: ["${ZONE}"]
            allow_destinations: [127.0.0.0/8]
        admin: {listen: "127.0.0.1:0"}
        """,
    )
    db = short_dir / "hookd.db"
    shown = f"${{ZONE}}:{port(a)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        told: list[tuple[str, str, str, str]] = []
        daemon.dispatcher.on_destination_event = lambda kind, hook, reason, host: told.append(
            (kind, hook, reason, host)
        )
        line = event_line("order.created", id="e1", data={"port": port(a)})
        assert (await send_lines(short_dir / "s.sock", [line]))[0]["ok"]
        await wait_db(db, "SELECT destination FROM destination_state", lambda r: r == [(shown,)])
        assert told and all(host == shown for _, _, _, host in told)
        listing = await hookd("hooks", "list", "-c", str(cfg), "--json")
        # The operator may name it by its real host: it is the same destination.
        resumed = await hookd("hooks", "resume", "shops", "--destination", f"localhost:{port(a)}", "-c", str(cfg))
        assert resumed.exit_code == 0, resumed.output
        assert "localhost" not in resumed.output
        daemon.dispatcher.refresh_hook_states()
        await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("delivered",)])
    assert db_rows(db, "SELECT DISTINCT destination FROM deliveries") == [(shown,)]
    assert shown in listing.output and "localhost" not in listing.output


async def test_a_half_open_destination_out_of_tokens_probes_when_one_comes(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook shops, rate_limit 1/min (burst 1) and breaker {failures: 1, cooldown: 10s}; tenant a
    answers 500, then 200. 2. a1 a2 a3: a1 takes the token and fails, the breaker opens. 3. The clock
    moves 10 s: half-open, but no token (the next in 50 s): the delivery unparked to probe goes back
    parked. 4. 50 s more. 5. A minute more, three times.
    Result: (4) a probe goes once the token comes, is answered, and the breaker closes (before, the
    destination stayed half-open with nothing out and everything parked until a restart); (5) the last
    go on the next tokens: all three delivered, four requests in all."""
    a = receiver
    a.on("/shop", Reply(status=500))
    cfg = shops_config(short_dir, "            rate_limit: 1/min\n            breaker: {failures: 1, cooldown: 10s}")
    db = short_dir / "hookd.db"
    host_a = f"localhost:{port(a)}"
    clock = ManualClock()
    async with running_daemon(cfg, clock=clock) as daemon:
        assert all(x["ok"] for x in await send_lines(short_dir / "s.sock", events(a, a, ["a1", "a2", "a3"])))
        await opened(daemon, host_a, clock)
        clock.advance(10.0)
        await idle(clock)
        assert len(a.at("/shop")) == 1
        clock.advance(50.0)
        await a.wait_count(2, "/shop")
        for _ in range(3):  # one token a minute: the other two go on the next ones
            await idle(clock)
            clock.advance(60.0)
        rows = await wait_db(db, ROWS.replace("?", f"'{host_a}'"), lambda r: all(s == "delivered" for _, s, _ in r))
    assert [e for e, _, _ in rows] == ["a1", "a2", "a3"]
    assert len(a.at("/shop")) == 4


async def test_hooks_pause_never_shows_a_secret_of_allow_hosts(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hook whose allow_hosts holds ${ZONE}: pausing a host outside them says which hosts it may send
    to with ${ZONE} as written, not its value; a host naming another reference is refused; the host
    as hooks list shows it (acme.${ZONE}) and its real name both pause the same destination."""
    monkeypatch.setenv("ZONE", "tenantzone-s3cr3tvalue.example")
    cfg = socket_config(
        short_dir,
        """
        hooks:
          - name: shops
            events: ["*"]
            url: "https://{{ data.t }}.${ZONE}/hook"
            allow_hosts: ["*.${ZONE}"]
        """,
    )
    outside = await hookd("hooks", "pause", "shops", "--destination", "zzz.example", "-c", str(cfg))
    assert outside.exit_code == 2 and "(*.${ZONE})" in outside.output and "s3cr3t" not in outside.output
    other = await hookd("hooks", "pause", "shops", "--destination", "acme.${NOPE}", "-c", str(cfg))
    assert other.exit_code == 2 and "no secret of this config" in other.output
    shown = await hookd("hooks", "pause", "shops", "--destination", "acme.${ZONE}", "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    real = await hookd(
        "hooks", "pause", "shops", "--destination", "ACME.tenantzone-s3cr3tvalue.example", "-c", str(cfg)
    )
    assert real.exit_code == 0 and "s3cr3t" not in real.output
    assert db_rows(short_dir / "hookd.db", "SELECT destination FROM destination_state") == [("acme.${ZONE}",)]
