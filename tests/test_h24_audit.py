"""Operator actions audited (issue 24): replay, cancel, pause, resume, prune and reload each leave a row
in the audit table with when, what and from where; `hookd history audit` lists them newest first."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import orjson
import pytest

import hookd.cli.history  # registers the history commands
import hookd.cli.hooks
import hookd.cli.prune
import hookd.cli.replay
from tests.cli_helpers import hookd, plain
from tests.conftest import (
    Receiver,
    Reply,
    db_rows,
    event_line,
    running_daemon,
    send_lines,
    socket_config,
    wait_db,
)

TOKEN = "audit-secret-token-4711"
BODY_MARK = "card-number-4242"  # in an event's data: never in an audit row
AUDIT = "SELECT action, target, detail, origin FROM audit ORDER BY rowid"


def audited_config(d: Path, receiver: Receiver) -> Path:
    """Hook good (every event, 200, a secret header from ${AUDIT_TOKEN}) and hook bad (order.*, 503, one
    attempt)."""
    return socket_config(
        d,
        f"""
        hooks:
          - name: good
            events: ["*"]
            url: {receiver.url("/good")}
            headers: {{Authorization: "Bearer ${{AUDIT_TOKEN}}"}}
          - name: bad
            events: ["order.*"]
            url: {receiver.url("/bad")}
            retry: {{max_attempts: 1}}
        """,
    )


async def populated(d: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    """o1 and o2 (order.*) delivered to good, failed to bad (503). Returns the config path."""
    monkeypatch.setenv("AUDIT_TOKEN", TOKEN)
    receiver.default["/bad"] = Reply(status=503)
    cfg = audited_config(d, receiver)
    async with running_daemon(cfg):
        lines = [event_line("order.created", id=f"o{i}", data={"card": BODY_MARK}) for i in (1, 2)]
        await send_lines(d / "s.sock", lines)
        await wait_db(
            d / "hookd.db",
            "SELECT count(*) FROM deliveries WHERE state IN ('delivered', 'failed')",
            lambda r: r[0][0] == 4,
        )
    return cfg


def audit_rows(db: Path) -> list[tuple[object, ...]]:
    return db_rows(db, AUDIT)


def every_text(db: Path) -> str:
    return "\n".join(str(cell) for row in db_rows(db, "SELECT * FROM audit") for cell in row)


async def test_each_cli_action_leaves_its_row_with_the_user(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. replay --status failed --hook bad; 2. the same as a dry run; 3. replay --cancel --hook bad;
    4. replay --event o1 --hook bad; 5. hooks pause bad --reason; 6. pause again; 7. hooks resume bad;
    8. prune --older-than 1h.
    Result: one row per action but the dry run, in order, each naming the selection and its counts, with
    origin cli:USER (the OS user running the command)."""
    cfg = await populated(short_dir, receiver, monkeypatch)
    db = short_dir / "hookd.db"
    me = f"cli:{getpass.getuser()}"

    for args in (
        ("replay", "--status", "failed", "--hook", "bad"),
        ("replay", "--status", "failed", "--dry-run"),
        ("replay", "--cancel", "--hook", "bad"),
        ("replay", "--event", "o1", "--hook", "bad"),
        ("hooks", "pause", "bad", "--reason", "receiver down for maintenance"),
        ("hooks", "pause", "bad"),
        ("hooks", "resume", "bad"),
        ("prune", "--older-than", "1h"),
    ):
        result = await hookd(*args, "-c", str(cfg))
        assert result.exit_code == 0, (args, result.output)

    rows = audit_rows(db)
    assert [r[0] for r in rows] == ["replay", "cancel", "replay", "pause", "pause", "resume", "prune"]
    assert {r[3] for r in rows} == {me}
    replay, cancel, by_event, pause, again, resume, prune = rows
    assert replay[1:3] == ("hook=bad status=failed: 2 queued", "queued for the daemon")
    assert cancel[1:3] == ("hook=bad: 2 withdrawn", "withdrawn by hookd replay --cancel")
    assert by_event[1] == "event=o1 hook=bad: 1 queued"
    assert pause[1:3] == ("bad", "receiver down for maintenance")
    assert again[1:3] == ("bad", "paused already, by operator: receiver down for maintenance; nothing changed")
    assert resume[1:3] == ("bad (1 delivery(ies) waiting)", "lifted the hook's pause (by operator)")
    assert re.fullmatch(
        r"finished before \d{4}-\d\d-\d\dT[\d:.]+Z: 0 delivery\(ies\), 0 attempt\(s\), 0 event\(s\), 0 rejected",
        str(prune[1]),
    ), prune[1]
    assert prune[2] == "older than 1h"


async def test_history_audit_lists_them_newest_first_as_a_table_and_as_json(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause, then a resume, by a user named in LOGNAME. Result: --json lists the resume first with
    at/action/target/detail/origin; --limit 1 keeps the resume only; the table has a row each; --since
    a time after them finds none and says so (exit 0)."""
    cfg = await populated(short_dir, receiver, monkeypatch)
    monkeypatch.setenv("LOGNAME", "ops-alice")  # getpass.getuser reads it first
    assert (await hookd("hooks", "pause", "good", "-c", str(cfg))).exit_code == 0
    assert (await hookd("hooks", "resume", "good", "-c", str(cfg))).exit_code == 0

    as_json = await hookd("history", "audit", "-c", str(cfg), "--json")
    limited = await hookd("history", "-c", str(cfg), "audit", "--limit", "1", "--json")
    table = await hookd("history", "audit", "-c", str(cfg))
    later = await hookd("history", "audit", "-c", str(cfg), "--since", "2999-01-01T00:00:00Z")

    assert as_json.exit_code == 0, as_json.output
    shown = orjson.loads(as_json.stdout)
    assert set(shown) == {"since", "actions"}
    assert [a["action"] for a in shown["actions"]] == ["resume", "pause"]
    resume = shown["actions"][0]
    assert set(resume) == {"at", "action", "target", "detail", "origin"}
    assert resume["origin"] == "cli:ops-alice"
    assert resume["target"] == "good (0 delivery(ies) waiting)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", resume["at"]), resume["at"]
    assert [a["action"] for a in orjson.loads(limited.stdout)["actions"]] == ["resume"]
    out = plain(table.stdout)
    assert table.exit_code == 0, table.output
    assert re.search(r"^time +action +target +origin +detail$", out, re.M), out
    assert re.search(r" resume +good \(0 delivery\(ies\) waiting\) +cli:ops-alice +lifted the hook's pause", out), out
    assert re.search(r" pause +good +cli:ops-alice +paused with hookd hooks pause", out), out
    assert later.exit_code == 0 and plain(later.stdout).startswith("no operator actions since "), later.output


async def test_reloads_are_recorded_with_what_asked_applied_or_refused(short_dir: Path, receiver: Receiver) -> None:
    """1. A reload by SIGHUP of a changed hook; 2. by admin of a config with an error; 3. by watch of one
    with another storage.path. Result: three reload rows with those origins: applied (the change named),
    refused as invalid, refused as needing a restart."""
    cfg = socket_config(short_dir, f'hooks:\n  - {{name: main, events: ["*"], url: "{receiver.url("/a")}"}}\n')
    text = cfg.read_text()
    async with running_daemon(cfg) as daemon:
        cfg.write_text(text.replace("/a", "/b"))
        assert (await daemon.reload("SIGHUP")).ok
        cfg.write_text(text.replace('events: ["*"]', "events: 42"))
        assert not (await daemon.reload("admin")).ok
        cfg.write_text(text.replace(f"{short_dir}/hookd.db", f"{short_dir}/other.db"))
        assert not (await daemon.reload("watch")).ok

    rows = audit_rows(short_dir / "hookd.db")
    assert [(r[0], r[3]) for r in rows] == [("reload", "SIGHUP"), ("reload", "admin"), ("reload", "watch")]
    applied, invalid, moved = rows
    assert re.fullmatch(rf"{re.escape(str(cfg))} \([0-9a-f]{{12}}\)", str(applied[1])), applied[1]
    assert applied[2] == "applied: hook main changed (url)"
    assert invalid[1] == str(cfg)
    assert str(invalid[2]).startswith("refused: ") and "is invalid (1 error(s)" in str(invalid[2])
    assert str(moved[2]).startswith("refused: storage.path (") and "only a restart takes" in str(moved[2])


async def test_no_secret_nor_event_body_is_in_a_row(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause whose reason quotes the config's secret, replays of events carrying card data, a cancel,
    a resume and a prune. Result: the secret is hidden in the reason; neither it nor the event data is
    anywhere in the audit table, nor in `history audit --json`."""
    cfg = await populated(short_dir, receiver, monkeypatch)
    for args in (
        ("hooks", "pause", "good", "--reason", f"token {TOKEN} leaked, rotating"),
        ("replay", "--status", "delivered"),
        ("replay", "--cancel"),
        ("hooks", "resume", "good"),
        ("prune", "--older-than", "30d"),
    ):
        result = await hookd(*args, "-c", str(cfg))
        assert result.exit_code == 0, (args, result.output)

    stored = every_text(short_dir / "hookd.db")
    shown = (await hookd("history", "audit", "-c", str(cfg), "--json")).stdout
    for text in (stored, shown):
        assert TOKEN not in text and BODY_MARK not in text
    assert "token ${AUDIT_TOKEN} leaked, rotating" in stored
    assert [r[0] for r in audit_rows(short_dir / "hookd.db")] == ["pause", "replay", "cancel", "resume", "prune"]


async def test_a_replay_from_a_file_names_the_file_not_its_events(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """replay --from-file of two events (one new). Result: the row names the file and counts its events
    and the replays queued; no event data."""
    cfg = await populated(short_dir, receiver, monkeypatch)
    events = short_dir / "again.jsonl"
    lines = [event_line("order.created", id=i, data={"card": BODY_MARK}).decode() for i in ("o1", "n1")]
    events.write_text("\n".join(lines) + "\n")

    result = await hookd("replay", "-c", str(cfg), "--from-file", str(events))

    assert result.exit_code == 0, result.output
    [(action, target, detail, _)] = audit_rows(short_dir / "hookd.db")
    assert (action, detail) == ("replay", "queued for the daemon")
    assert re.fullmatch(r"file again\.jsonl \(2 event\(s\)\): \d+ queued", str(target)), target
    assert BODY_MARK not in every_text(short_dir / "hookd.db")
