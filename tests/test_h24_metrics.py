"""GET /metrics, /livez and /readyz on the admin listener of a real daemon, with a real receiver.

/metrics is read with prometheus-client's own parser, and its counters are checked against what the
receiver saw and what the database holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from hookd.admin import AdminServer
from hookd.config.load import load_config
from hookd.daemon import Daemon
from hookd.metrics import exposition
from hookd.sources.base import HTTP_REJECTION_KINDS, REJECTION_KINDS
from tests.conftest import (
    Receiver,
    Reply,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
    wait_until,
)
from tests.manual_clock import ManualClock
from tests.test_admin import TOKEN, admin_config
from tests.test_h23_http_source import client, github_config, source_url

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

HOOKS = ("good", "bad", "flaky", "gone")


def metrics_config(d: Path, receiver: Receiver) -> Path:
    """Socket source `app`. Hooks: `good` takes every event; `bad` the order.* ones, final after one
    attempt; `flaky` the user.* ones, retried after 10 ms; `gone` the ping.* ones."""
    return socket_config(
        d,
        f"""
        hooks:
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
          - name: bad
            events: ["order.*"]
            url: {receiver.url("/bad")}
            retry: {{max_attempts: 1}}
          - name: flaky
            events: ["user.*"]
            url: {receiver.url("/flaky")}
            retry: {{max_attempts: 3, initial_delay: 10ms, max_delay: 10ms, jitter: false}}
          - name: gone
            events: ["ping.*"]
            url: {receiver.url("/gone")}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )


async def fetch(url: str, *, token: str | None = None) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def fetch_json(url: str, *, token: str | None = None) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with session.get(url, headers=headers) as response:
            return response.status, await response.json()


def parse(text: str) -> Samples:
    """Every sample of the exposition, by name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def checks(body: dict[str, object]) -> dict[str, dict[str, object]]:
    items = body["checks"]
    assert isinstance(items, list)
    return {str(c["name"]): c for c in items}


async def test_metrics_count_what_the_receiver_saw(short_dir: Path, receiver: Receiver) -> None:
    """1. `bad` answers 400, `flaky` 503 once then 200, `gone` 410 (the receiver pauses the hook).
    2. Over the socket: two user events, one order, one ping, and a line that is no event; the
    receiver answers every attempt. 3. Once `gone` is paused, one more ping. 4. GET /metrics.

    Result: the text is Prometheus' (its content type, read by prometheus-client's parser); events
    received and rejected per source, outcomes as the receiver answered them, each hook's queue
    depths (failed for `bad`, paused for `gone`), in flight, lane states (`gone` paused), the worker
    and readiness; every label value is a source or hook name or a fixed word, never an id or a URL."""
    receiver.default["/bad"] = Reply(status=400)
    receiver.on("/flaky", Reply(status=503))
    receiver.default["/gone"] = Reply(status=410)
    db = short_dir / "hookd.db"
    async with running_daemon(metrics_config(short_dir, receiver)) as daemon:
        replies = await send_lines(
            short_dir / "s.sock",
            [
                event_line("user.created", id="u1"),
                event_line("user.created", id="u2"),
                event_line("order.created", id="o1"),
                event_line("ping.sent", id="p1"),
                b"this is not json",
            ],
        )
        assert [r["ok"] for r in replies] == [True, True, True, True, False]
        await wait_until(lambda: daemon.dispatcher.lanes["gone"].paused is not None)
        await send_lines(short_dir / "s.sock", [event_line("ping.sent", id="p2")])
        # good: 5 delivered; bad: 1 failed; flaky: 2 delivered (one after a retry); gone: 2 waiting.
        await wait_db(
            db,
            "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed') "
            "OR (hook = 'gone' AND state = 'pending')",
            lambda r: r[0][0] == 10,
        )
        code, text, headers = await fetch(f"{daemon.admin_url}/metrics")

    assert code == 200 and headers["Content-Type"] == CONTENT_TYPE_LATEST
    samples = parse(text)
    answered = {path: [r for r in receiver.requests if r.path == path] for path in ("/good", "/bad", "/flaky", "/gone")}
    assert (len(answered["/good"]), len(answered["/bad"]), len(answered["/flaky"]), len(answered["/gone"])) == (
        5,
        1,
        3,
        1,
    )

    assert value(samples, "hookd_events_received_total", source="app") == 5
    assert value(samples, "hookd_events_rejected_total", source="app", reason="invalid_event") == 1
    assert value(samples, "hookd_events_rejected_total", source="app", reason="too_large") == 0
    assert value(samples, "hookd_events_duplicate_total") == 0
    assert value(samples, "hookd_source_up", source="app") == 1
    # As the receiver answered: every 2xx delivered, the 400 failed for good, the 503 retried; the 410
    # paused its hook, and the delivery waits for the resume (counted as to retry).
    ok = len(answered["/good"]) + len(answered["/flaky"]) - 1
    assert value(samples, "hookd_deliveries_total", outcome="delivered") == ok == 7
    assert value(samples, "hookd_deliveries_total", outcome="failed") == len(answered["/bad"]) == 1
    assert value(samples, "hookd_deliveries_total", outcome="retried") == 2  # flaky's 503, gone's 410
    # Per hook, every outcome shows from start: 0 until it happens.
    assert value(samples, "hookd_hook_deliveries_total", hook="good", outcome="delivered") == 5
    assert value(samples, "hookd_hook_deliveries_total", hook="good", outcome="failed") == 0
    assert value(samples, "hookd_hook_deliveries_total", hook="good", outcome="retried") == 0

    depth = {
        (hook, state): value(samples, "hookd_queue_depth", hook=hook, state=state)
        for hook in HOOKS
        for state in ("pending", "retrying", "paused", "failed")
    }
    assert {k: v for k, v in depth.items() if v} == {("bad", "failed"): 1, ("gone", "paused"): 2}
    assert all(value(samples, "hookd_in_flight", hook=hook) == 0 for hook in HOOKS)
    lane_states = {
        (hook, state): value(samples, "hookd_lane_state", hook=hook, state=state)
        for hook in HOOKS
        for state in ("paused", "breaker_open", "breaker_half_open", "held", "rate_limited")
    }
    assert {k for k, v in lane_states.items() if v} == {("gone", "paused")}
    assert value(samples, "hookd_hook_evaluation_errors_total", hook="good", kind="filter") == 0

    assert value(samples, "hookd_up") == 1 and value(samples, "hookd_ready") == 1
    assert value(samples, "hookd_store_readable") == 1
    assert value(samples, "hookd_worker_up") == 1 and value(samples, "hookd_worker_restarts_total") == 0
    assert ("process_cpu_seconds_total", ()) in samples  # prometheus-client's process collector

    words = {
        "app", *HOOKS, "delivered", "failed", "retried", "pending", "retrying", "paused",
        "breaker_open", "breaker_half_open", "held", "rate_limited", "filter", "template", "ordering_key",
        "applied", "invalid", "needs_restart", *REJECTION_KINDS,
    }  # fmt: skip
    for name, labels in samples:
        if name.startswith("hookd_") and name != "hookd_info":
            # A histogram's `le` is a bucket's bound, a number: bounded too.
            assert {v for k, v in labels if k != "le"} <= words, (name, labels)
    assert "u1" not in text and receiver.url() not in text


async def test_metrics_need_the_token_probes_do_not(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon whose admin listener has a token. 2. GET each endpoint without it, then with it.

    Result: /metrics (as /status) is 401 without the token and 200 with it; /healthz, /livez and
    /readyz answer without it; the token is in no answer."""
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg) as daemon:
        base = str(daemon.admin_url)
        code, text, headers = await fetch(f"{base}/metrics")
        assert code == 401 and headers["WWW-Authenticate"] == 'Bearer realm="hookd"'
        assert (await fetch(f"{base}/metrics", token="wrong-token-0123456789abc"))[0] == 401
        code, scraped, _ = await fetch(f"{base}/metrics", token=TOKEN)
        assert code == 200 and value(parse(scraped), "hookd_ready") == 1
        assert (await fetch_json(f"{base}/healthz"))[0] == 200
        assert await fetch_json(f"{base}/livez") == (200, {"status": "alive"})
        code, ready = await fetch_json(f"{base}/readyz")
    assert code == 200 and ready["status"] == "ready"
    assert TOKEN not in text + scraped + str(ready)


async def test_readyz_before_and_after_ready(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon built but not started, its admin listener alone. 2. GET /livez, /readyz, /healthz,
    /metrics. 3. A started daemon on the same config: GET /readyz.

    Result: before, /livez is 200 while /readyz is 503 (not started, the database not open) as
    /healthz is, and /metrics says up, not ready, the database not readable (no queue depths);
    after, /readyz is 200 with every check passing and saying what it checked."""
    cfg = admin_config(short_dir, receiver)
    daemon = Daemon(load_config(cfg))
    admin = AdminServer(daemon)
    await admin.start()
    try:
        assert await fetch_json(f"{admin.url}/livez") == (200, {"status": "alive"})
        assert (await fetch_json(f"{admin.url}/healthz"))[0] == 503
        code, before = await fetch_json(f"{admin.url}/readyz")
        scraped = parse((await fetch(f"{admin.url}/metrics"))[1])  # no database yet
    finally:
        await admin.close()
    assert value(scraped, "hookd_up") == 1 and value(scraped, "hookd_ready") == 0
    assert value(scraped, "hookd_store_readable") == 0
    assert not [name for name, _ in scraped if name == "hookd_queue_depth"]
    assert code == 503 and before["status"] == "not ready"
    failed = {name for name, c in checks(before).items() if not c["ok"]}
    assert failed == {"started", "store_writable", "sources_listening"}
    assert checks(before)["store_writable"]["detail"] == "the database is not open: the daemon is starting or stopping"

    async with running_daemon(cfg) as running:
        code, after = await fetch_json(f"{running.admin_url}/readyz")
    assert code == 200 and after["status"] == "ready"
    by_name = checks(after)
    assert list(by_name) == ["started", "config_loaded", "store_writable", "sources_listening", "delivery_worker"]
    assert all(c["ok"] for c in by_name.values())
    assert by_name["sources_listening"]["detail"] == "2 source(s) listening"
    assert str(by_name["config_loaded"]["detail"]).startswith("hookd.yaml (sha256 ")
    assert str(by_name["delivery_worker"]["detail"]).startswith("the delivery worker process runs (pid ")


async def test_readyz_names_a_failing_source(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon with a token tails events.jsonl (one line) on a ManualClock. 2. The path becomes a
    symlink to /dev/zero; a poll; the supervisor waits to retry. 3. GET /readyz without, then with the
    token, and /metrics. 4. A regular file takes the path back; the retry comes. 5. GET /readyz.

    Result: (3) 503, the check `sources_listening` fails naming `log`; its reason (which names the
    path) only with the token; hookd_source_up{source="log"} is 0. (5) 200 again."""
    log = short_dir / "events.jsonl"
    log.write_bytes(event_line("user.created", id="f1") + b"\n")
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg, clock=clock) as daemon:
        base = str(daemon.admin_url)
        await wait_db(db, "SELECT id FROM events", lambda r: r == [("f1",)])
        await clock.wait_sleeping(0.25)  # the file source's poll
        log.rename(short_dir / "events.jsonl.1")
        os.symlink("/dev/zero", log)
        clock.advance(0.25)
        await clock.wait_sleeping(1.0)  # the supervisor's first retry wait: it has seen the failure
        code, anonymous = await fetch_json(f"{base}/readyz")
        detailed_code, detailed = await fetch_json(f"{base}/readyz", token=TOKEN)
        _, text, _ = await fetch(f"{base}/metrics", token=TOKEN)

        log.unlink()
        log.write_bytes(event_line("user.created", id="f2") + b"\n")
        clock.advance(1.0)
        await wait_db(db, "SELECT id FROM events ORDER BY id", lambda r: r == [("f1",), ("f2",)])
        recovered_code, recovered = await fetch_json(f"{base}/readyz")

    assert (code, detailed_code) == (503, 503)
    sources = checks(anonymous)["sources_listening"]
    assert sources["ok"] is False
    assert sources["detail"] == (
        "source(s) 'log' not working (`hookd status` says why); hookd tries again with a backoff"
    )
    assert [name for name, c in checks(anonymous).items() if not c["ok"]] == ["sources_listening"]
    reason = str(checks(detailed)["sources_listening"]["detail"])
    assert reason.startswith(f"source 'log' is not working: {str(log)!r} is a character device")
    samples = parse(text)
    assert value(samples, "hookd_source_up", source="log") == 0
    assert value(samples, "hookd_source_up", source="app") == 1
    assert recovered_code == 200 and recovered["status"] == "ready"


async def test_metrics_show_a_hook_waiting_for_its_rate_limit(short_dir: Path, receiver: Receiver) -> None:
    """1. A daemon on a ManualClock (no token comes back); hook `limited` has rate_limit 60/min (a
    burst of 6). 2. Eight events. 3. Once 6 are delivered, GET /metrics.

    Result: `limited` is rate_limited (no other state), with 2 deliveries pending and none in flight."""
    cfg = socket_config(
        short_dir,
        f"""
        hooks:
          - {{name: limited, events: ["*"], url: "{receiver.url("/limited")}", rate_limit: 60/min}}
        admin: {{listen: "127.0.0.1:0"}}
        """,
    )
    async with running_daemon(cfg, clock=ManualClock()) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(8)])
        await wait_db(
            short_dir / "hookd.db",
            "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state",
            lambda r: r == [("delivered", 6), ("pending", 2)],
        )
        _, text, _ = await fetch(f"{daemon.admin_url}/metrics")
    samples = parse(text)
    states = ("paused", "breaker_open", "breaker_half_open", "held", "rate_limited")
    assert {s for s in states if value(samples, "hookd_lane_state", hook="limited", state=s)} == {"rate_limited"}
    assert value(samples, "hookd_queue_depth", hook="limited", state="pending") == 2
    assert value(samples, "hookd_in_flight", hook="limited") == 0
    assert value(samples, "hookd_deliveries_total", outcome="delivered") == len(receiver.at("/limited")) == 6


async def test_http_refusals_are_counted_by_reason(tmp_path: Path, receiver: Receiver) -> None:
    """1. At an http source verifying GitHub's signature: an unsigned request, a wrong method, a
    compressed body, then a request for a path no source has. 2. A scrape.

    Result: the source's refusals are counted under their reason words (401 unauthorized, 405
    method_not_allowed, 415 unsupported_media_type), every other reason of an http source shows 0
    from start, and the listener's own 404 counts under `http HOST:PORT`, not_found."""
    async with running_daemon(github_config(tmp_path, receiver)) as daemon, client() as http:
        url = source_url(daemon, "/hooks/acme/github")
        async with http.post(url, data=b"{}", headers={"Content-Type": "application/json"}) as r:
            assert r.status == 401
        async with http.put(url, data=b"{}") as r:
            assert r.status == 405
        async with http.post(url, data=b"{}", headers={"Content-Encoding": "gzip"}) as r:
            assert r.status == 415
        other = url.replace("/hooks/acme/github", "/nowhere")
        async with http.post(other, data=b"{}") as r:
            assert r.status == 404
        await wait_until(lambda: daemon.ingest.rejected_total == 4)
        samples = parse(exposition(daemon, None).decode())
    listener = "http 127.0.0.1:0"  # as the listener is configured (`listen`), not as it was bound
    counted = {labels: v for (name, labels), v in samples.items() if name == "hookd_events_rejected_total" and v}
    assert counted == {
        (("reason", "unauthorized"), ("source", "github")): 1,
        (("reason", "method_not_allowed"), ("source", "github")): 1,
        (("reason", "unsupported_media_type"), ("source", "github")): 1,
        (("reason", "not_found"), ("source", listener)): 1,
    }
    shown = {dict(labels)["reason"] for (name, labels) in samples if name == "hookd_events_rejected_total"}
    assert shown == set(HTTP_REJECTION_KINDS.values())
    assert shown <= REJECTION_KINDS
