"""`hookd tail`: events as they are stored, with their matches, then their attempts, streamed from
the running daemon; filtered; a slow reader misses lines and is told; the token is required."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from hookd import client
from hookd.events import parse_event_line
from hookd.redact import Redactor
from hookd.sources.base import Accepted
from hookd.tail import MAX_FILTER_CHARS, MAX_FILTERS, MAX_READERS, QUEUE_LINES, TailHub, TailRefused
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config, wait_until


def config(d: Path, receiver: Receiver, admin: str = "{listen: 127.0.0.1:0}") -> Path:
    return socket_config(
        d,
        f"""
        admin: {admin}
        hooks:
          - {{name: orders, events: ["order.*"], url: "{receiver.url("/o")}"}}
          - {{name: invoices, events: ["invoice.*"], url: "{receiver.url("/i")}"}}
        """,
    )


async def collect(url: str, n: int, **filters: list[str]) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    stream = client.stream_tail(url, token=None, hooks=filters.get("hooks", []), types=filters.get("types", []),
                                sources=filters.get("sources", []))  # fmt: skip
    async for line in stream:
        lines.append(line)
        if len(lines) == n:
            break
    return lines


async def test_tail_streams_events_then_their_attempts_filtered_by_hook(short_dir: Path, receiver: Receiver) -> None:
    """Two readers, one for every event, one for --hook invoices; an order and an invoice arrive.
    Result: the first sees both events with the hooks they matched and both attempts; the second only
    the invoice and its attempt; each event before its attempt."""
    async with running_daemon(config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        everything = asyncio.create_task(collect(daemon.admin_url, 4))
        invoices = asyncio.create_task(collect(daemon.admin_url, 2, hooks=["invoices"]))
        await wait_until(lambda: len(daemon.tail.readers) == 2)
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="o1")])
        await send_lines(short_dir / "s.sock", [event_line("invoice.paid", id="i1")])
        all_lines = await asyncio.wait_for(everything, 10)
        invoice_lines = await asyncio.wait_for(invoices, 10)
    kinds = [(line["kind"], line.get("id") or line.get("event")) for line in all_lines]
    assert kinds.index(("event", "o1")) < kinds.index(("attempt", "o1"))
    assert kinds.index(("event", "i1")) < kinds.index(("attempt", "i1"))
    order = next(line for line in all_lines if line.get("id") == "o1")
    assert order["hooks"] == ["orders"] and order["type"] == "order.created"
    assert [(line["kind"], line.get("id") or line.get("event")) for line in invoice_lines] == [
        ("event", "i1"),
        ("attempt", "i1"),
    ]
    attempt = invoice_lines[1]
    assert attempt["status"] == 200 and attempt["state"] == "delivered" and attempt["hook"] == "invoices"


async def test_hookd_tail_json_prints_lines_and_exits_3_when_the_daemon_stops(
    short_dir: Path, receiver: Receiver
) -> None:
    """`hookd tail --json --type 'order.*'` as a process. Result: the order's event line (not the
    invoice's), then its attempt; exit 3 with a sentence once the daemon stops."""
    async with running_daemon(config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", "tail", "--url", daemon.admin_url, "--json", "--type", "order.*",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await wait_until(lambda: bool(daemon.tail.readers))
        await send_lines(short_dir / "s.sock", [event_line("invoice.paid", id="i1"), event_line(id="o2")])
        assert proc.stdout is not None
        # Both lines read before the daemon stops (a stop drops what is still queued for a reader).
        raw = [await asyncio.wait_for(proc.stdout.readline(), 10) for _ in range(2)]
    out, err = await asyncio.wait_for(proc.communicate(), 10)
    lines = [json.loads(line) for line in [*raw, *out.splitlines()] if line.strip()]
    assert [(line["kind"], line.get("id") or line.get("event")) for line in lines] == [
        ("event", "o2"),
        ("attempt", "o2"),
    ]
    assert all(datetime.fromisoformat(line["at"]).tzinfo is not None for line in lines)  # RFC 3339, UTC
    assert proc.returncode == 3
    assert b"ended the stream" in err


async def test_tail_needs_the_admin_token_when_one_is_set(short_dir: Path, receiver: Receiver) -> None:
    cfg = config(short_dir, receiver, admin="{listen: 127.0.0.1:0, token: tail-token-0123456789}")
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        refused = client.stream_tail(daemon.admin_url, token=None, hooks=[], types=[], sources=[])
        try:
            await refused.__anext__()
        except client.AdminRefused as e:
            assert "401" in str(e)
        else:
            raise AssertionError("the stream was not refused")


def test_a_slow_reader_misses_lines_and_hides_secrets() -> None:
    """More events than a reader's queue holds, unread. Result: the queue is full and the rest are
    counted as missed; the data's secret is hidden."""
    hub = TailHub(Redactor((("s3cret-value-123456", "${SECRET}"),)))
    reader = hub.subscribe([], [], [])
    for i in range(QUEUE_LINES + 25):
        event = parse_event_line(event_line(id=f"e{i}", data={"token": "s3cret-value-123456"}), max_bytes=10_000)
        hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    assert reader.queue.qsize() == QUEUE_LINES
    assert reader.missed == 25
    first = orjson.loads(reader.queue.get_nowait())
    assert first["data"] == {"token": "${SECRET}"}


def test_an_event_type_holding_a_secret_is_shown_with_its_reference() -> None:
    hub = TailHub(Redactor((("s3cret-value-123456", "${SECRET}"),)))
    reader = hub.subscribe([], [], [])
    event = parse_event_line(event_line("order.s3cret-value-123456", id="t1"), max_bytes=10_000)
    hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    assert orjson.loads(reader.queue.get_nowait())["type"] == "order.${SECRET}"


async def test_tail_warns_of_a_hook_or_source_the_config_does_not_have(short_dir: Path, receiver: Receiver) -> None:
    """`hookd tail -c FILE --hook invoces --source nope` (typos). Result: a warning for each, with the
    name it is close to; the stream runs (the daemon may run a newer config) and ends with the daemon."""
    cfg = config(short_dir, receiver, admin="{path: admin.sock}")
    async with running_daemon(cfg) as daemon:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", "tail", "-c", str(cfg), "--hook", "invoces", "--source", "nope",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await wait_until(lambda: bool(daemon.tail.readers))
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    text = " ".join(err.decode().split())
    assert "hook 'invoces' is not in" in text and "did you mean 'invoices'?" in text
    assert "source 'nope' is not in" in text


def test_the_hub_refuses_readers_and_filters_over_its_limits() -> None:
    """Result: at most MAX_READERS readers (the next is refused with 503); at most MAX_FILTERS filters
    of a kind and MAX_FILTER_CHARS characters each (400); a reader that leaves frees its place."""
    hub = TailHub(Redactor())
    readers = [hub.subscribe([], [], []) for _ in range(MAX_READERS)]
    with pytest.raises(TailRefused) as full:
        hub.subscribe([], [], [])
    assert full.value.status == 503
    hub.unsubscribe(readers[0])
    hub.subscribe([], [], [])
    hub = TailHub(Redactor())
    with pytest.raises(TailRefused) as many:
        hub.subscribe([], [f"t{i}.*" for i in range(MAX_FILTERS + 1)], [])
    with pytest.raises(TailRefused) as long:
        hub.subscribe(["h" * (MAX_FILTER_CHARS + 1)], [], [])
    assert (many.value.status, long.value.status) == (400, 400)
    assert "type filters" in str(many.value) and "hook filter" in str(long.value)


def test_readers_together_stay_within_the_hubs_byte_budget() -> None:
    """Three readers that never read, the total budget smaller than their own caps together.
    Result: the bytes queued for all never pass the total; past it, readers miss lines; a reader
    that leaves gives its bytes back."""
    hub = TailHub(Redactor(), total_queue_bytes=20_000)
    readers = [hub.subscribe([], [], []) for _ in range(3)]
    for i in range(100):
        event = parse_event_line(event_line(id=f"e{i}", data={"pad": "x" * 200}), max_bytes=10_000)
        hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    queued = sum(r.queued_bytes for r in readers)
    assert queued <= 20_000 and all(r.missed for r in readers)
    hub.unsubscribe(readers[0])
    before = [r.queue.qsize() for r in readers[1:]]
    event = parse_event_line(event_line(id="after", data={}), max_bytes=10_000)
    hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    assert [r.queue.qsize() for r in readers[1:]] == [n + 1 for n in before]  # room again


def test_an_event_id_holding_a_secret_is_shown_with_its_reference() -> None:
    hub = TailHub(Redactor((("s3cret-value-123456", "${SECRET}"),)))
    reader = hub.subscribe([], [], [])
    event = parse_event_line(event_line(id="id-s3cret-value-123456"), max_bytes=10_000)
    hub.stored("app", event, Accepted(id=event.id, duplicate=False, deliveries=0))
    assert orjson.loads(reader.queue.get_nowait())["id"] == "id-${SECRET}"


async def test_hookd_tail_says_when_every_reader_place_is_taken(short_dir: Path, receiver: Receiver) -> None:
    async with running_daemon(config(short_dir, receiver)) as daemon:
        assert daemon.admin_url is not None
        taken = [daemon.tail.subscribe([], [], []) for _ in range(MAX_READERS)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", "tail", "--url", daemon.admin_url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        for reader in taken:
            daemon.tail.unsubscribe(reader)
    assert proc.returncode == 1
    assert f"{MAX_READERS} readers already follow the stream" in " ".join(err.decode().split())


async def test_a_batched_hooks_attempt_is_shown_for_each_member(short_dir: Path, receiver: Receiver) -> None:
    """A hook that batches two events per request; a reader for --type 'order.*'. Result: after the two
    events, one attempt line per member, with its own delivery and event id and the batch's id (the
    batch id alone is no event the reader knows, and the attempt went missing)."""
    cfg = socket_config(
        short_dir,
        f"""
        admin: {{listen: 127.0.0.1:0}}
        hooks:
          - name: batched
            events: ["order.*"]
            url: "{receiver.url("/b")}"
            batch: {{max_events: 2, max_size: 1MB, max_wait: 50ms}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        reading = asyncio.create_task(collect(daemon.admin_url, 4, types=["order.*"]))
        await wait_until(lambda: bool(daemon.tail.readers))
        await send_lines(short_dir / "s.sock", [event_line(id="o1"), event_line(id="o2")])
        lines = await asyncio.wait_for(reading, 10)
    attempts = [line for line in lines if line["kind"] == "attempt"]
    assert sorted(str(a["event"]) for a in attempts) == ["o1", "o2"]
    assert len({a["delivery"] for a in attempts}) == 2 and len({a["batch"] for a in attempts}) == 1
    assert all(a["state"] == "delivered" and a["batch"] != a["delivery"] for a in attempts)
