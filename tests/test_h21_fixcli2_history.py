"""`hookd history` and `history show` (issue 21, second new-user review findings 7, 9, 12): the
destination field lines up with the others, a due delivery the database cannot say more of is said to
be due and waiting, and `--limit` says more match only when they do."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from hookd.store.base import RoutedEvent
from tests.cli_helpers import hookd, plain
from tests.conftest import db_rows, open_store, socket_config
from tests.store_helpers import order_event


def config(d: Path) -> Path:
    return socket_config(
        d,
        """
        hooks:
          - {name: h, events: ["*"], url: "http://127.0.0.1:9/h"}
          - name: t
            events: ["*"]
            url: "http://{{ data.tenant }}:8791/ok"
            allow_hosts: [localhost]
        """,
    )


async def stored(d: Path, count: int, *, hook: str = "h", destination: str | None = None) -> None:
    """`count` events for `hook`, their deliveries due at 100.0 (long past), never attempted."""
    destinations = {hook: destination} if destination is not None else None
    routed = [
        RoutedEvent(event=order_event(f"e{i}"), source="sock", hooks=(hook,), destinations=destinations)
        for i in range(count)
    ]
    async with open_store(d / "hookd.db") as store:
        await store.ingest(routed, [], [], 100.0)


async def test_the_destination_lines_up_with_the_other_fields(short_dir: Path) -> None:
    """1. A delivery of hook t (templated host) to destination localhost:8791.
    2. `hookd history show ID`.
    Result: `destination` is followed by space, and its value starts in the column `created`'s does."""
    cfg = config(short_dir)
    await stored(short_dir, 1, hook="t", destination="localhost:8791")
    [(delivery,)] = db_rows(short_dir / "hookd.db", "SELECT id FROM deliveries")
    shown = await hookd("history", "show", str(delivery), "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    lines = plain(shown.output).splitlines()
    [created] = [line for line in lines if line.startswith("  created")]
    [destination] = [line for line in lines if line.startswith("  destination")]
    assert re.match(r"  destination +localhost:8791$", destination), destination
    assert destination.index("localhost") == len(created) - len(created[2:].split(maxsplit=1)[1])


async def test_a_due_delivery_is_said_to_wait_not_shown_a_bare_past_time(short_dir: Path) -> None:
    """1. A pending delivery of hook h, due at 100.0 (long past), not held by a pause or breaker (as one
    whose lane a Retry-After holds looks in the database). 2. `hookd history show ID`.
    Result: `next try` says it is due since then and waits for a free slot or a gate, naming hookd status."""
    cfg = config(short_dir)
    await stored(short_dir, 1)
    [(delivery,)] = db_rows(short_dir / "hookd.db", "SELECT id FROM deliveries")
    shown = await hookd("history", "show", str(delivery), "-c", str(cfg))
    assert shown.exit_code == 0, shown.output
    text = " ".join(plain(shown.output).split())
    assert "next try due since 1970-01-01" in text
    assert "it waits for a free slot or a gate (a Retry-After hold or a rate limit; `hookd status` shows them" in text


async def test_limit_says_more_match_only_when_they_do(short_dir: Path) -> None:
    """1. 7 deliveries. 2. `hookd history --limit 2`; `--limit 7`; `--limit 8`; `--limit 2 --json`.
    Result: (2) --limit 2 shows 2 and says more match (--limit 0 for all), suggesting no arbitrary
    figure; 7 and 8 show all 7 and say nothing of more; --json has 2 rows."""
    cfg = config(short_dir)
    await stored(short_dir, 7)
    two = await hookd("history", "--limit", "2", "-c", str(cfg))
    assert two.exit_code == 0, two.output
    text = " ".join(plain(two.output).split())
    assert "2 delivery(ies), newest first; more match: --limit 0 shows them all (or a --limit above 2)" in text
    assert "--limit 4" not in text
    for limit in ("7", "8"):
        every = await hookd("history", "--limit", limit, "-c", str(cfg))
        assert "7 delivery(ies), newest first" in plain(every.output) and "more match" not in plain(every.output)
    assert len(orjson.loads((await hookd("history", "--limit", "2", "--json", "-c", str(cfg))).stdout)) == 2


async def test_history_subcommands_take_the_config_given_before_them(tmp_path: Path) -> None:
    """`hookd history -c FILE show ID` and `hookd history -c FILE stats`: -c given before the
    subcommand is its config (it said the default hookd.yaml did not exist)."""
    config = tmp_path / "c.yaml"
    config.write_text(
        f'version: 1\nstorage: {{path: {tmp_path}/h.db}}\nhooks:\n  - {{name: h, events: ["*"], url: "https://x.example/"}}\n',
        encoding="utf-8",
    )
    for args in (("show", "abc"), ("stats",)):
        result = await hookd("history", "-c", str(config), *args)
        assert result.exit_code == 2 and f"no database at '{tmp_path}/h.db'" in result.output, result.output
