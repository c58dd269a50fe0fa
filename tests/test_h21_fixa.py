"""Fixes to issue 21's lanes (round "fixa"): a batched, ordered hook's render failure releases its key;
a gate that closes while a claim is awaited gives back what the claim brought; a clock stepped back
neither freezes a token bucket nor the hook-state poll; one answer raises one alert; a batch's
max_wait counts from when its oldest delivery was stored."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Receiver, db_rows, event_line, running_daemon, send_lines, wait_db
from tests.test_serve import basic_config


async def test_a_batched_ordered_hooks_render_failure_releases_its_key(short_dir: Path, receiver: Receiver) -> None:
    """1. Hook h batches and orders by data.order_id; its payload cannot render a1 (items is no list).
    2. a1, a2 (key A) and b1 (key B).
    Result: a1 fails alone (final, the render error), and a2, the next of its key, is delivered; b1 too."""
    hook = (
        f'  - {{name: h, events: ["*"], url: "{receiver.url("/b")}", ordering_key: data.order_id, '
        '    payload: {n: "{{ length(data.items) }}", id: "{{ id }}"}, '
        "batch: {max_events: 10, max_wait: 10ms}, retry: {schedule: [10ms], jitter: false}}"
    )
    db = short_dir / "hookd.db"
    lines = [
        event_line("o", id="a1", data={"order_id": "A", "items": 5}),
        event_line("o", id="a2", data={"order_id": "A", "items": [1]}),
        event_line("o", id="b1", data={"order_id": "B", "items": [1]}),
    ]
    async with running_daemon(basic_config(short_dir, receiver, hook)):
        await send_lines(short_dir / "s.sock", lines)
        rows = await wait_db(db, "SELECT event_id, state, attempts FROM deliveries ORDER BY event_id",
                             lambda r: all(s in ("delivered", "failed") for _, s, _ in r))  # fmt: skip
    assert rows == [("a1", "failed", 1), ("a2", "delivered", 1), ("b1", "delivered", 1)]
    assert db_rows(db, "SELECT batch_id IS NULL FROM deliveries WHERE event_id = 'a1'") == [(1,)]
    sent = [item["id"] for r in receiver.at("/b") for item in r.json()]  # type: ignore[union-attr]
    assert sorted(sent) == ["a2", "b1"]
