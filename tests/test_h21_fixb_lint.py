"""Validate on a batch's payload, retry.schedule and batch.max_size: a batch's payload is checked over
what it is rendered on ({events, count}), a 0 in a schedule warns as initial_delay: 0 does, a schedule
over its limit is one short error naming the limit, and max_size: 0 is one error."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hookd.cli.app import app
from tests.cli_helpers import plain

runner = CliRunner()
HEAD = "version: 1\nhooks:\n  - name: h\n    events: [x]\n    url: http://127.0.0.1:9/h\n"
WHERE = "hooks[0] (name='h')"


def validate(tmp_path: Path, extra: str) -> tuple[int, list[str], Path]:
    path = tmp_path / "hookd.yaml"
    path.write_text(HEAD + extra, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    return result.exit_code, plain(result.output).splitlines(), path


def test_the_readmes_batch_payload_is_clean_and_event_fields_warn(tmp_path: Path) -> None:
    """The README's own example (items: events, n: count) has nothing to warn about; a field of one
    event at the top of a batch's payload is always null, and the warning says what to write."""
    code, lines, path = validate(tmp_path, "    batch: {payload: {items: '{{ events }}', n: '{{ count }}'}}\n")
    assert (code, lines) == (0, [f"ok {path}: 1 hook(s), 0 source(s)"])
    code, lines, path = validate(
        tmp_path,
        "    batch:\n"
        "      payload: {ids: '{{ data.id }}', n: '{{ cuont }}', first: '{{ events[0].id }}', t: '{{ total }}'}\n",
    )
    assert code == 0, lines
    batch = "is always null: a batch's payload sees only events (the batch's payloads, oldest first) and count"
    assert lines[:3] == [
        f"{path}:7:22: warning: {WHERE}.batch.payload.ids: in {{{{ data.id }}}}: data.id {batch}; did you mean "
        "events[].data.id?",
        f"{path}:7:42: warning: {WHERE}.batch.payload.n: in {{{{ cuont }}}}: cuont {batch}; did you mean count?",
        f"{path}:7:89: warning: {WHERE}.batch.payload.t: in {{{{ total }}}}: total {batch}; did you mean "
        "events[].data.total?",
    ], lines
    assert len(lines) == 4  # events[0].id is fine


def test_a_hooks_own_payload_is_still_checked_over_one_event(tmp_path: Path) -> None:
    code, lines, _ = validate(tmp_path, "    payload: {n: '{{ count }}'}\n    batch: {max_events: 5}\n")
    assert code == 0
    assert any("payload.n: in {{ count }}: count is always null: events have no field 'count'" in x for x in lines)


def test_a_zero_in_a_schedule_warns_at_the_item(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, "    retry: {schedule: [1s, 0s, 5m, 0]}\n")
    assert code == 0, lines
    warning = (
        "a delay of 0 sends this retry at once, right after the failure before it, so a failing receiver gets both "
        "within a moment; use at least 1s"
    )
    assert lines[:2] == [
        f"{path}:6:28: warning: {WHERE}.retry.schedule[1]: {warning}",
        f"{path}:6:36: warning: {WHERE}.retry.schedule[3]: {warning}",
    ], lines


def test_a_schedule_over_the_limit_is_one_short_error(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, f"    retry: {{schedule: [{', '.join(['1m'] * 120)}]}}\n")
    assert code == 1
    assert lines == [
        f"{path}:6:23: error: {WHERE}.retry.schedule: has 120 items, over the limit of 99; remove some",
        "1 error(s) in 1 file(s)",
    ]


def test_max_size_zero_is_one_error_that_allows_a_plain_number(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, "    batch: {max_size: 0}\n")
    assert code == 1
    assert lines == [
        f"{path}:6:23: error: {WHERE}.batch.max_size: 0 is not valid: write a number of bytes, 1 or more, or a size "
        "with a unit, like 512KB, 10MB or 1GiB",
        "1 error(s) in 1 file(s)",
    ]
    code, lines, path = validate(tmp_path, "    batch: {max_size: 0KB}\n")
    assert code == 1
    assert lines == [
        f"{path}:6:23: error: {WHERE}.batch.max_size: 0 bytes leave no room for any event; write a size like 1MB",
        "1 error(s) in 1 file(s)",
    ]
