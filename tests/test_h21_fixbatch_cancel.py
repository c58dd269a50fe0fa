"""`hookd replay --cancel` of some deliveries of a batch waiting for its retry (issue 21, attacker's
finding: the retry went with the others only, other bytes under the same webhook-id). The others leave
the batch and go in a new one, under a new id; a batch's requests never change."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.cli_helpers import hookd
from tests.conftest import Receiver, Reply, daemon_config, db_rows, event_line, running_daemon, send_lines, wait_db
from tests.manual_clock import ManualClock


async def test_cancelling_some_of_a_batch_waiting_for_its_retry_sends_the_rest_in_a_new_batch(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook b batches {max_events: 4, max_wait: 1s}, retrying after 10 s; a ManualClock. Events
    e0-e3 are delivered in a batch. 2. `hookd replay --hook b --status delivered`; the receiver answers
    the replays' batch 500: it waits for its retry. 3. `hookd replay --cancel --event e1 --event e2`.
    4. The clock moves 10 s on.
    Result: (3) two withdrawn, which stay in the batch, cancelled; the replays of e0 and e3 leave it
    (no batch, a batch_departures row each), still retrying at the same time. (4) They go in a new
    batch of their own, under a new webhook-id, and are delivered; the batch that was answered 500 is
    never sent again, so every request under one webhook-id has the same body. The history of e0's
    replay shows both requests, the 500 of the batch it left and the 200, as its 2 attempts."""
    db = short_dir / "hookd.db"
    clock = ManualClock()
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: app, type: socket, path: {short_dir}/s.sock}}
        hooks:
          - name: b
            events: ["*"]
            url: "{receiver.url("/b")}"
            batch: {{max_events: 4, max_wait: 1s}}
            retry: {{schedule: [10s], jitter: false}}
        """,
    )
    async with running_daemon(cfg, clock=clock):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(4)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(4,)])

        receiver.on("/b", Reply(status=500))
        queued = await hookd("replay", "--hook", "b", "--status", "delivered", "-c", str(cfg))
        assert queued.exit_code == 0, queued.output
        clock.advance(1.0)  # the dispatcher's poll finds them: a full batch, sent at once
        retrying = "SELECT count(*) FROM deliveries WHERE replay_of IS NOT NULL AND state = 'pending' AND attempts = 1"
        await wait_db(db, retrying, lambda r: r == [(4,)])
        [(batch_id,)] = db_rows(db, "SELECT DISTINCT batch_id FROM deliveries WHERE replay_of IS NOT NULL")
        [(retry_at,)] = db_rows(db, "SELECT DISTINCT next_at FROM deliveries WHERE replay_of IS NOT NULL")

        cancelled = await hookd("replay", "--cancel", "--event", "e1", "--event", "e2", "-c", str(cfg))
        assert cancelled.exit_code == 0, cancelled.output
        assert "withdrew 2 queued replay(s)" in cancelled.output
        replays = (
            "SELECT event_id, state, batch_id, next_at FROM deliveries WHERE replay_of IS NOT NULL ORDER BY event_id"
        )
        assert db_rows(db, replays) == [
            ("e0", "pending", None, retry_at),
            ("e1", "cancelled", batch_id, None),
            ("e2", "cancelled", batch_id, None),
            ("e3", "pending", None, retry_at),
        ]
        assert db_rows(db, "SELECT d.event_id FROM batch_departures p JOIN deliveries d ON d.id = p.delivery_id "
                           "WHERE p.batch_id = ? ORDER BY d.event_id", (batch_id,)) == [("e0",), ("e3",)]  # fmt: skip

        clock.advance(10.0)
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(6,)])

    sent = [(r.headers["webhook-id"], [item["id"] for item in orjson.loads(r.body)], r.body) for r in receiver.at("/b")]
    assert [ids for _, ids, _ in sent] == [["e0", "e1", "e2", "e3"]] * 2 + [["e0", "e3"]]
    assert sent[1][0] == batch_id and sent[2][0] not in (batch_id, sent[0][0])
    bodies: dict[str, set[bytes]] = {}
    for webhook_id, _, body in sent:
        bodies.setdefault(webhook_id, set()).add(body)
    assert all(len(b) == 1 for b in bodies.values())
    delivered = db_rows(db, "SELECT event_id, attempts, batch_id FROM deliveries WHERE replay_of IS NOT NULL "
                            "AND state = 'delivered' ORDER BY event_id")  # fmt: skip
    assert delivered == [("e0", 2, sent[2][0]), ("e3", 2, sent[2][0])]

    [(e0,)] = db_rows(db, "SELECT id FROM deliveries WHERE replay_of IS NOT NULL AND event_id = 'e0'")
    shown = await hookd("history", "show", str(e0), "--json", "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    [delivery] = orjson.loads(shown.output)["deliveries"]
    assert sorted(a["status"] for a in delivery["attempts"]) == [200, 500]
