"""`replay --from-file` routes with the daemon's routing: an event whose filter cannot be evaluated is
not left out silently, it is named with the reason (the daemon records it as a failed delivery)."""

from __future__ import annotations

from pathlib import Path

import orjson

import hookd.cli.replay
from tests.cli_helpers import hookd, plain
from tests.conftest import daemon_config, db_rows, event_line, new_database


async def test_an_event_the_filter_fails_on_is_named_not_dropped(tmp_path: Path) -> None:
    """1. A hook filters on length(data.items); the file holds one event where items is a list and
    one where it is a number. 2. replay --from-file, as text and as JSON.
    Result: the first is queued; the second is named with the filter's error."""
    cfg = daemon_config(
        tmp_path,
        """
        hooks:
          - name: items
            events: ["order.*"]
            filter: "length(data.items) > `0`"
            url: http://127.0.0.1:9/items
        """,
    )
    await new_database(tmp_path / "hookd.db")  # the database a daemon would have made on its first start
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        event_line("order.created", id="ok", data={"items": [1]})
        + b"\n"
        + event_line("order.created", id="odd", data={"items": 5})
        + b"\n"
    )

    dry = await hookd("replay", "-c", str(cfg), "--from-file", str(events), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "event 'odd' left out for hook 'items': filter could not be evaluated on this event" in plain(dry.stderr)

    result = await hookd("replay", "-c", str(cfg), "--from-file", str(events), "--json")
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert doc["queued"] == 1
    [failure] = doc["filter_failures"]
    assert (failure["event_id"], failure["hook"]) == ("odd", "items")
    assert "length()" in failure["error"]
    assert db_rows(tmp_path / "hookd.db", "SELECT event_id, hook, state FROM deliveries") == [
        ("ok", "items", "pending")
    ]
