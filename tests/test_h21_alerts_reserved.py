"""The `hookd.` type prefix and the source name `hookd` belong to hookd's own events (alerts):
producers' events using them are rejected with a reason (socket, tailed file, `replay --from-file`),
validate refuses a configured source named hookd, only globs starting with `hookd.` match them, and
`hookd test` routes a `hookd.*` event so users can try their alert hooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hookd.cli.replay  # noqa: F401  (registers the command)
from hookd.cli.app import app
from hookd.config.model import HookConfig
from hookd.errors import EventError
from hookd.events import event_from_object, parse_event_line
from hookd.router import Router
from tests.cli_helpers import plain
from tests.conftest import (
    Receiver,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)

runner = CliRunner()
PREFIX_REASON = "starts with 'hookd.', which is reserved for hookd's own events (alerts)"
SOURCE_REASON = "\"source\" 'hookd' is reserved for hookd's own events (alerts)"


def config_with_file(d: Path, receiver: Receiver) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - {{name: ops, events: ["hookd.*"], url: "{receiver.url("/ops")}"}}
          - {{name: all, events: ["*"], url: "{receiver.url("/all")}"}}
        """,
        tail_log=True,
    )


async def test_the_socket_and_a_tailed_file_reject_reserved_types_and_source(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A daemon with a socket and a file source and a hook listening for hookd.*.
    2. Over the socket: a hookd.delivery.failed event, an event with source hookd, a good event.
       3. The file gets a hookd.hook.paused line, then a good line.
    Result: the socket answers the first two with an error saying the prefix (the source) is
    reserved, and the third ok; the file's reserved line is a rejection at events.jsonl:1 with that
    reason; only the two good events are stored, and hook ops gets nothing."""
    db = short_dir / "hookd.db"
    log = short_dir / "events.jsonl"
    log.write_bytes(b"")
    async with running_daemon(config_with_file(short_dir, receiver)):
        replies = await send_lines(
            short_dir / "s.sock",
            [
                event_line("hookd.delivery.failed", id="forged", data={"hook": "x"}),
                event_line("order.created", id="s1", source="hookd"),
                event_line("order.created", id="ok1"),
            ],
        )
        with log.open("ab") as f:
            f.write(
                event_line("hookd.hook.paused", id="forged2") + b"\n" + event_line("user.created", id="ok2") + b"\n"
            )
        await wait_db(db, "SELECT count(*) FROM events", lambda r: r == [(2,)])
        await receiver.wait_count(2, "/all")
    assert replies[0]["ok"] is False and PREFIX_REASON in str(replies[0]["error"])
    assert 'give your event a type of your own, like "order.created"' in str(replies[0]["error"])
    assert replies[1]["ok"] is False and SOURCE_REASON in str(replies[1]["error"])
    assert replies[2]["ok"] is True
    rejected = db_rows(db, "SELECT source, position, reason FROM rejected ORDER BY id")
    assert [(s, p) for s, p, _ in rejected] == [("app", "conn 1 line 1"), ("app", "conn 1 line 2"), ("log", f"{log}:1")]
    assert PREFIX_REASON in str(rejected[2][2])
    assert db_rows(db, "SELECT id FROM events ORDER BY id") == [("ok1",), ("ok2",)]
    assert not receiver.at("/ops")


async def test_replay_from_file_refuses_reserved_events(short_dir: Path, receiver: Receiver) -> None:
    """`hookd replay --from-file` with a hookd.* line: exit 2, the line named with the reason, nothing queued."""
    cfg = config_with_file(short_dir, receiver)
    events = short_dir / "replay.jsonl"
    events.write_bytes(
        event_line("order.created", id="r1") + b"\n" + event_line("hookd.breaker.opened", id="r2") + b"\n"
    )
    result = runner.invoke(app, ["replay", "-c", str(cfg), "--from-file", str(events)], env={"HOOKD_CONFIG": None})
    assert result.exit_code == 2, result.output
    assert f"{events}:2: \"type\" 'hookd.breaker.opened' {PREFIX_REASON}" in plain(result.stderr)
    db = short_dir / "hookd.db"
    assert not db.exists() or db_rows(db, "SELECT count(*) FROM events") == [(0,)]


def test_parse_event_line_refuses_what_hookd_test_takes() -> None:
    """A producer's line with a reserved type or source is an EventError (CloudEvents too); the same
    object given to `hookd test` (event_from_object) is an event, so alert hooks can be tried."""
    for line in (
        b'{"type": "hookd.delivery.failed"}',
        b'{"type": "x", "source": "hookd"}',
        b'{"specversion": "1.0", "id": "c1", "source": "hookd", "type": "x"}',
        b'{"specversion": "1.0", "id": "c2", "source": "/shop", "type": "hookd.hook.resumed"}',
    ):
        with pytest.raises(EventError, match="reserved for hookd's own events"):
            parse_event_line(line, max_bytes=10_000)
        assert event_from_object(json.loads(line)).type
    # Neighbours of the reserved names are anyone's.
    assert parse_event_line(b'{"type": "hookd", "source": "hookd/app"}', max_bytes=100).type == "hookd"
    assert parse_event_line(b'{"type": "hookdx.a", "source": "Hookd2"}', max_bytes=100).type == "hookdx.a"


def test_only_globs_starting_with_hookd_dot_match_alert_types() -> None:
    hooks = [
        HookConfig(name="all", events=("*",), url="http://127.0.0.1:9/"),
        HookConfig(name="dots", events=("*.failed", "h*"), url="http://127.0.0.1:9/"),
        HookConfig(name="ops", events=("hookd.*",), url="http://127.0.0.1:9/"),
        HookConfig(name="breaker", events=("hookd.breaker.*", "order.*"), url="http://127.0.0.1:9/"),
    ]
    router = Router(hooks)
    alert = event_from_object({"type": "hookd.breaker.opened", "source": "hookd"})
    order = event_from_object({"type": "order.failed"})
    assert router.route(alert) == ["ops", "breaker"]
    assert router.route(order) == ["all", "dots", "breaker"]
    why = {v.hook: v.reason for v in router.explain(alert)}
    assert why["all"] == (
        "type 'hookd.breaker.opened' matches none of: * (hookd's own events match only globs that start with 'hookd.')"
    )


def test_hookd_test_routes_an_alert_to_the_hooks_listening_for_it(tmp_path: Path) -> None:
    """`hookd test --type hookd.delivery.failed --data ...` and a cases file: the alert hook matches
    and renders its payload; a catch-all hook does not match, and says why."""
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        "version: 1\nhooks:\n"
        "  - {name: all, events: ['*'], url: 'http://127.0.0.1:9/all'}\n"
        "  - name: ops\n    events: ['hookd.delivery.failed']\n    url: 'http://127.0.0.1:9/ops'\n"
        "    payload: {text: '{{ data.hook }} failed: {{ data.error }}'}\n",
        encoding="utf-8",
    )
    data = '{"hook": "orders", "error": "HTTP 500", "attempts": 12}'
    result = runner.invoke(app, ["test", "-c", str(cfg), "--type", "hookd.delivery.failed", "--data", data])
    assert result.exit_code == 0, result.output
    out = plain(result.output)
    assert "  ops: matched" in out
    assert '"text": "orders failed: HTTP 500"' in out
    assert "  all: not matched: type 'hookd.delivery.failed' matches none of: *" in out

    cases = tmp_path / "hookd.tests.yaml"
    cases.write_text(
        "cases:\n  - name: a failed delivery reaches ops only\n"
        "    event: {type: hookd.delivery.failed, source: hookd, data: {hook: orders, error: HTTP 500}}\n"
        "    expect: {match: [ops], body: {ops: {text: 'orders failed: HTTP 500'}}}\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["test", "-c", str(cfg), "--cases", str(cases)])
    assert result.exit_code == 0, result.output


def test_validate_refuses_a_source_named_hookd_and_warns_on_an_alert_glob_that_matches_none(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        "version: 1\n"
        "sources:\n"
        "  - {name: hookd, type: socket, path: /tmp/hk.sock}\n"
        "hooks:\n"
        "  - name: ops\n"
        "    events: [hookd.delivery.fialed, hookd.breaker.*]\n"
        "    url: http://127.0.0.1:9/ops\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 1, result.output
    out = plain(result.output)
    assert (
        f"{cfg}:3:12: error: sources[0] (name='hookd').name: source name 'hookd' is reserved for hookd's own events "
        "(alerts, the built-in source hookd); give this source another name, like app"
    ) in out
    assert f"{cfg}:6:14: warning: hooks[0] (name='ops').events[0]: " in out
    assert "event glob 'hookd.delivery.fialed' matches none of hookd's own event types" in out
    assert "did you mean 'hookd.delivery.failed'?" in out
    assert "hookd.breaker.*" not in out
