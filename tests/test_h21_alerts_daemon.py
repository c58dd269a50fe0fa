"""Alerts through a real daemon: a delivery that fails for good becomes a `hookd.delivery.failed` event
of the source `hookd`, which a hook listening for `hookd.*` delivers to a second real receiver; a
catch-all `*` hook never gets it, and an alert hook that fails raises no alert about itself."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    serving_receiver,
    wait_db,
    wait_until,
)
from tests.test_serve import basic_config, fast_retry

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def alert_bodies(receiver: Receiver, path: str) -> list[dict[str, object]]:
    return [r.json() for r in receiver.at(path)]  # type: ignore[misc]


async def test_a_delivery_failed_for_good_is_delivered_as_an_alert_to_a_second_receiver(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook orders (events ["order.*"], two attempts) whose receiver always answers 500; hook all
       (events ["*"]) and hook ops (events ["hookd.*"]) on a second real receiver.
    2. One order.created event over the socket.
    Result: once orders' delivery is failed, ops gets one request: the envelope of a
    hookd.delivery.failed event (uuid7 id, source hookd, a time) whose data names the hook, the
    delivery and event ids, the event type, 2 attempts, the last status 500 and the error history
    recorded; `webhook-id` is the alert's id. Hook all got the order event only. The alert is stored
    as an event of the source hookd, with its delivery to ops delivered."""
    receiver.default["/orders"] = Reply(status=500)
    async with serving_receiver() as ops:
        hooks = (
            f'  - {{name: orders, events: ["order.*"], url: "{receiver.url("/orders")}", retry: {fast_retry(2)}}}\n'
            f'          - {{name: all, events: ["*"], url: "{ops.url("/all")}"}}\n'
            f'          - {{name: ops, events: ["hookd.*"], url: "{ops.url("/ops")}"}}'
        )
        db = short_dir / "hookd.db"
        async with running_daemon(basic_config(short_dir, receiver, hooks)):
            (ack,) = await send_lines(short_dir / "s.sock", [event_line("order.created", id="o1", data={"n": 1})])
            assert ack["ok"]
            await ops.wait_count(1, "/ops")
            await wait_db(db, "SELECT state FROM deliveries WHERE hook = 'ops'", lambda r: r == [("delivered",)])
            await ops.wait_count(1, "/all")
        [(delivery_id, attempts, error)] = db_rows(
            db, "SELECT id, attempts, last_error FROM deliveries WHERE hook = 'orders' AND state = 'failed'"
        )
    [body] = alert_bodies(ops, "/ops")
    assert set(body) == {"id", "type", "time", "source", "data"}
    assert body["type"] == "hookd.delivery.failed"
    assert body["source"] == "hookd"
    assert isinstance(body["id"], str) and UUID7.fullmatch(body["id"])
    assert isinstance(body["time"], str) and RFC3339_MS.fullmatch(body["time"])
    assert body["data"] == {
        "hook": "orders",
        "delivery_id": delivery_id,
        "event_id": "o1",
        "event_type": "order.created",
        "attempts": 2,
        "last_status": 500,
        "error": error,
        "suppressed": 0,
    }
    assert attempts == 2 and error == "HTTP 500"
    assert ops.at("/ops")[0].headers["webhook-id"] == body["id"]
    assert [r.json()["id"] for r in ops.at("/all")] == ["o1"]  # type: ignore[index]
    assert db_rows(db, "SELECT type, source FROM events WHERE id = ?", (body["id"],)) == [
        ("hookd.delivery.failed", "hookd")
    ]
    assert db_rows(db, "SELECT hook FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.source = 'hookd'") == [
        ("ops",)
    ]


async def test_render_and_filter_failures_alert_with_the_redacted_reason(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Hook tpl whose header template, holding a ${SECRET}, cannot be evaluated on the event; hook
       flt whose filter cannot be evaluated on it; hook ops listening for hookd.delivery.*.
    2. One event whose data.items is a number.
    Result: two alerts: tpl's (1 attempt, no status, the render error as history has it, the secret
    hidden) and flt's (0 attempts: failed at ingest without one, the filter's reason), each naming
    its failed delivery."""
    secret = "s3cr3t-token-value-42"
    monkeypatch.setenv("ALERT_TEST_SECRET", secret)
    hooks = (
        f"  - name: tpl\n"
        f'            events: ["*"]\n'
        f'            url: "{receiver.url("/tpl")}"\n'
        "            headers: {X-Note: \"{{ join('${ALERT_TEST_SECRET}', data.items) }}\"}\n"
        f"          - name: flt\n"
        f'            events: ["*"]\n'
        f'            url: "{receiver.url("/flt")}"\n'
        f'            filter: "length(data.items) > `0`"\n'
        f'          - {{name: ops, events: ["hookd.delivery.*"], url: "{receiver.url("/ops")}"}}'
    )
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hooks)):
        (ack,) = await send_lines(short_dir / "s.sock", [event_line("order.created", id="e1", data={"items": 5})])
        assert ack["ok"]
        await receiver.wait_count(2, "/ops")
    alerts = {b["data"]["hook"]: b["data"] for b in alert_bodies(receiver, "/ops")}  # type: ignore[index]
    failed = dict(db_rows(db, "SELECT hook, id FROM deliveries WHERE state = 'failed'"))  # type: ignore[arg-type]
    errors = dict(db_rows(db, "SELECT hook, last_error FROM deliveries WHERE state = 'failed'"))  # type: ignore[arg-type]
    assert set(alerts) == {"tpl", "flt"}
    assert alerts["tpl"]["delivery_id"] == failed["tpl"]
    assert alerts["tpl"]["attempts"] == 1 and alerts["tpl"]["last_status"] is None
    assert alerts["tpl"]["error"] == errors["tpl"] and "cannot render the request" in str(errors["tpl"])
    assert alerts["flt"]["delivery_id"] == failed["flt"]
    assert alerts["flt"]["attempts"] == 0 and alerts["flt"]["last_status"] is None
    assert alerts["flt"]["error"] == errors["flt"] and "filter could not be evaluated" in str(errors["flt"])
    for r in receiver.at("/ops"):
        assert secret.encode() not in r.body
    assert not receiver.at("/tpl") and not receiver.at("/flt")


async def test_an_alert_hook_that_fails_for_good_raises_no_alert_about_itself(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook orders fails for good (400); hook ops (hookd.*) fails for good too (400); hook audit
       (hookd.*) takes everything.
    2. One event; the daemon is stopped once ops's delivery of the alert has failed (a stop commits
       every alert queued).
    Result: one alert in all (about orders), failed at ops and delivered to audit: ops failing on it
    raised none, so nothing loops."""
    receiver.default["/orders"] = Reply(status=400)
    receiver.default["/ops"] = Reply(status=400)
    hooks = (
        f'  - {{name: orders, events: ["order.*"], url: "{receiver.url("/orders")}"}}\n'
        f'          - {{name: ops, events: ["hookd.*"], url: "{receiver.url("/ops")}"}}\n'
        f'          - {{name: audit, events: ["hookd.*"], url: "{receiver.url("/audit")}"}}'
    )
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hooks)) as daemon:
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="o1")])
        await wait_db(db, "SELECT hook, state FROM deliveries WHERE hook != 'orders' ORDER BY hook",
                      lambda r: r == [("audit", "delivered"), ("ops", "failed")])  # fmt: skip
        await wait_until(lambda: daemon.dispatcher.failed_total == 2)
    assert db_rows(db, "SELECT type FROM events WHERE source = 'hookd'") == [("hookd.delivery.failed",)]
    assert db_rows(db, "SELECT hook, state FROM deliveries WHERE hook != 'orders' ORDER BY hook") == [
        ("audit", "delivered"),
        ("ops", "failed"),
    ]
    assert [orjson.loads(r.body)["data"]["hook"] for r in receiver.at("/audit")] == ["orders"]
    assert daemon.alerts.emitted_total == 1


async def test_without_a_hook_listening_no_alert_is_made_or_stored(short_dir: Path, receiver: Receiver) -> None:
    """1. Only hook orders (events ["*"]), which fails for good. 2. One event.
    Result: the delivery fails as before; no hookd event is stored and the dispatcher has no callback
    (a config without alert hooks pays nothing)."""
    receiver.default["/orders"] = Reply(status=400)
    hooks = f'  - {{name: orders, events: ["*"], url: "{receiver.url("/orders")}"}}'
    db = short_dir / "hookd.db"
    async with running_daemon(basic_config(short_dir, receiver, hooks)) as daemon:
        assert daemon.dispatcher.on_failed is None and daemon.ingest.on_failed is None
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="o1")])
        await wait_db(db, "SELECT state FROM deliveries", lambda r: r == [("failed",)])
    assert db_rows(db, "SELECT count(*) FROM events") == [(1,)]
    assert daemon.alerts.emitted_total == 0
