"""Hot reload: a new config runs without a restart; an invalid one, or one that needs a restart, is
refused and the running config kept; no event is lost or sent twice by a reload under load."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest

from tests.conftest import (
    DaemonProcess,
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)


def config(d: Path, receiver: Receiver, *, path: str = "/a", extra: str = "") -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: main
            events: ["*"]
            url: {receiver.url(path)}
            headers: {{X-Token: "${{TOKEN:-none}}"}}
        {extra}
        """,
    )


async def test_a_reload_swaps_hooks_and_reads_variables_again(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. An event to /a; 2. the config now says /b and TOKEN changed; reload; 3. an event.
    Result: the reload says what changed (the url and the headers, by name); the second event goes to
    /b with the new token."""
    monkeypatch.setenv("TOKEN", "first-token-1234")
    cfg = config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id="e1")])
        await receiver.wait_count(1, "/a")
        config(short_dir, receiver, path="/b")
        monkeypatch.setenv("TOKEN", "second-token-5678")
        result = await daemon.reload("test")
        assert result.ok, result.message
        assert result.changes == ("hook main changed (url, headers)",)
        await send_lines(short_dir / "s.sock", [event_line(id="e2")])
        await receiver.wait_count(1, "/b")
    assert receiver.at("/a")[0].headers["X-Token"] == "first-token-1234"
    assert receiver.at("/b")[0].headers["X-Token"] == "second-token-5678"


async def test_an_invalid_config_or_a_new_storage_path_keeps_the_running_one(
    short_dir: Path, receiver: Receiver
) -> None:
    """A reload of a config with an error, then of one with another storage.path. Result: both refused
    with a sentence (the error named; "only a restart"), and events go on to the old hook."""
    cfg = config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        text = cfg.read_text()
        cfg.write_text(text.replace('events: ["*"]', "events: 42"))
        bad = await daemon.reload("test")
        assert not bad.ok and "is invalid" in bad.message and bad.problems
        cfg.write_text(text.replace(f"{short_dir}/hookd.db", f"{short_dir}/other.db"))
        moved = await daemon.reload("test")
        assert not moved.ok and "storage.path" in moved.message and "only a restart" in moved.message
        await send_lines(short_dir / "s.sock", [event_line(id="still")])
        await receiver.wait_count(1, "/a")


async def test_a_removed_hooks_pending_deliveries_are_kept(short_dir: Path, receiver: Receiver) -> None:
    """A hook whose receiver fails (retry in an hour), removed by a reload. Result: its delivery stays
    pending in the database, never dropped; a hook added by the same reload gets the next event."""
    receiver.default["/a"] = Reply(status=500)
    cfg = socket_config(
        short_dir,
        f'hooks:\n  - {{name: main, events: ["*"], url: "{receiver.url("/a")}", retry: {{initial_delay: 1h}}}}\n',
    )
    async with running_daemon(cfg) as daemon:
        await send_lines(short_dir / "s.sock", [event_line(id="kept")])
        await wait_db(short_dir / "hookd.db", "SELECT attempts FROM deliveries", lambda rows: rows == [(1,)])
        socket_config(short_dir, f'hooks:\n  - {{name: other, events: ["*"], url: "{receiver.url("/c")}"}}\n')
        result = await daemon.reload("test")
        assert result.ok
        assert set(result.changes) == {"hook other added", "hook main removed (its pending deliveries are kept)"}
        await send_lines(short_dir / "s.sock", [event_line(id="next")])
        await receiver.wait_count(1, "/c")
    assert db_rows(short_dir / "hookd.db", "SELECT hook, state FROM deliveries WHERE event_id = 'kept'") == [
        ("main", "pending")
    ]


async def test_no_event_is_lost_or_sent_twice_by_reloads_under_load(short_dir: Path, receiver: Receiver) -> None:
    """300 events from 3 connections while the config is reloaded 6 times (its header changes each
    time). Result: the receiver got each event exactly once, and every delivery is delivered."""
    cfg = config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:

        async def produce(n: int) -> None:
            for i in range(0, 100, 10):
                await send_lines(short_dir / "s.sock", [event_line(id=f"c{n}-{i + j}") for j in range(10)])

        async def reload_often() -> None:
            for k in range(6):
                cfg.write_text(cfg.read_text().replace(f"X-Token: \"${{TOKEN:-none{k - 1 if k else ''}}}\"",
                                                       f"X-Token: \"${{TOKEN:-none{k}}}\""))  # fmt: skip
                assert (await daemon.reload("test")).ok
                await asyncio.sleep(0.01)

        await asyncio.gather(produce(1), produce(2), produce(3), reload_often())
        await receiver.wait_count(300, "/a")
        await wait_db(
            short_dir / "hookd.db",
            "SELECT count(*) FROM deliveries WHERE state = 'delivered'",
            lambda r: r[0][0] == 300,
        )
    ids = [r.headers["webhook-id"] for r in receiver.at("/a")]
    assert len(ids) == len(set(ids)) == 300


async def test_a_reload_adds_and_removes_sources(short_dir: Path, receiver: Receiver) -> None:
    """A second socket source added by a reload takes events; removed again, its socket is gone."""
    cfg = config(short_dir, receiver)
    async with running_daemon(cfg) as daemon:
        text = cfg.read_text()
        cfg.write_text(
            text.replace("sources:\n", f"sources:\n  - {{name: two, type: socket, path: {short_dir}/t.sock}}\n")
        )
        result = await daemon.reload("test")
        assert result.ok and "source two added" in result.changes
        await send_lines(short_dir / "t.sock", [event_line(id="via-two")])
        await receiver.wait_count(1, "/a")
        cfg.write_text(text)
        assert (await daemon.reload("test")).changes == ("source two removed",)
        assert not (short_dir / "t.sock").exists()


async def test_sighup_and_watch_reload_a_running_hookd_serve(short_dir: Path, receiver: Receiver) -> None:
    """`hookd serve --watch`: 1. SIGHUP after a change; 2. a config replaced by an atomic rename (as
    editors and git do). Result: each is logged as reloaded, and the daemon keeps running."""
    cfg = config(short_dir, receiver)
    daemon = DaemonProcess(cfg, "--watch")
    try:
        await daemon.start()
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/b")))
        daemon.signal(signal.SIGHUP)
        await daemon.wait_for_line("config reloaded")
        assert any(re.search(r"from=SIGHUP", line) for line in daemon.log)
        fresh = short_dir / "hookd.yaml.new"
        fresh.write_text(cfg.read_text().replace(receiver.url("/b"), receiver.url("/c")))
        os.replace(fresh, cfg)
        async with asyncio.timeout(10):
            while not any("from=watch" in line for line in daemon.log):
                await asyncio.sleep(0.05)
        await send_lines(short_dir / "s.sock", [event_line(id="after-watch")])
        await receiver.wait_count(1, "/c")
    finally:
        await daemon.stop()


async def test_hookd_reload_asks_the_daemon_and_exits_by_its_answer(short_dir: Path, receiver: Receiver) -> None:
    """`hookd reload --url ADMIN`: 0 and what changed; 1 and the errors for an invalid config (the
    daemon keeps running); 3 when no daemon answers."""
    from tests.cli_helpers import hookd, plain

    cfg = socket_config(
        short_dir,
        f"""
        admin: {{listen: 127.0.0.1:0}}
        hooks:
          - {{name: main, events: ["*"], url: "{receiver.url("/a")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/b")))
        ok = await hookd("reload", "--url", daemon.admin_url)
        assert ok.exit_code == 0, ok.output
        assert "hook main changed" in plain(ok.output)
        cfg.write_text(cfg.read_text().replace('events: ["*"]', "events: 7"))
        refused = await hookd("reload", "--url", daemon.admin_url)
        assert refused.exit_code == 1
        assert "refused:" in plain(refused.output) and "is invalid" in plain(refused.output)
        url = daemon.admin_url
    gone = await hookd("reload", "--url", url)
    assert gone.exit_code == 3


async def test_metrics_count_reloads_and_deliveries_per_hook_across_them(short_dir: Path, receiver: Receiver) -> None:
    """A delivery, a reload, another delivery, a refused reload. Result: /metrics counts both
    deliveries for the hook (the count goes on across the reload), one applied and one invalid reload."""
    from tests.test_h24_metrics import fetch, parse, value

    cfg = socket_config(
        short_dir,
        f"""
        admin: {{listen: 127.0.0.1:0}}
        hooks:
          - {{name: main, events: ["*"], url: "{receiver.url("/a")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        await send_lines(short_dir / "s.sock", [event_line(id="m1")])
        await receiver.wait_count(1, "/a")
        cfg.write_text(cfg.read_text().replace(receiver.url("/a"), receiver.url("/a") + "?v=2"))
        assert (await daemon.reload("test")).ok
        await send_lines(short_dir / "s.sock", [event_line(id="m2")])
        await receiver.wait_count(2, "/a")
        await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM attempts", lambda rows: rows[0][0] == 2)
        cfg.write_text("version: [")
        assert not (await daemon.reload("test")).ok
        _, text, _ = await fetch(f"{daemon.admin_url}/metrics")
    samples = parse(text)
    assert value(samples, "hookd_hook_deliveries_total", hook="main", outcome="delivered") == 2
    assert value(samples, "hookd_deliveries_total", outcome="delivered") == 2  # the sum, across the reload
    assert value(samples, "hookd_config_reloads_total", result="applied") == 1
    assert value(samples, "hookd_config_reloads_total", result="invalid") == 1


async def test_metrics_have_attempt_and_commit_duration_histograms(short_dir: Path, receiver: Receiver) -> None:
    """Three deliveries. Result: the hook's attempt histogram counts three, its +Inf bucket the same,
    and the store commit histogram counts at least one commit."""
    from tests.test_h24_metrics import fetch, parse, value

    cfg = socket_config(
        short_dir,
        f"""
        admin: {{listen: 127.0.0.1:0}}
        hooks:
          - {{name: main, events: ["*"], url: "{receiver.url("/a")}"}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        await send_lines(short_dir / "s.sock", [event_line(id=f"h{i}") for i in range(3)])
        await wait_db(short_dir / "hookd.db", "SELECT count(*) FROM attempts", lambda rows: rows[0][0] == 3)
        _, text, _ = await fetch(f"{daemon.admin_url}/metrics")
    samples = parse(text)
    assert value(samples, "hookd_attempt_duration_seconds_count", hook="main") == 3
    assert value(samples, "hookd_attempt_duration_seconds_bucket", hook="main", le="+Inf") == 3
    assert value(samples, "hookd_store_commit_duration_seconds_count") >= 1
