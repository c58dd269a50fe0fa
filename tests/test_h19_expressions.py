"""A backtick literal that is not JSON (`paid`) is JMESPath's deprecated spelling of a string: validate
warns with the fix, and every path that compiles or evaluates it (router, templates, hookd test) reads
it as the string without a warning escaping (found by the config property test)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.load import check_config

CONFIG = """\
version: 1
hooks:
  - name: paid
    events: ["*"]
    url: http://127.0.0.1:9/x
    filter: "data.status == `paid`"
    payload: {state: "{{ `done` }}"}
"""


def test_validate_warns_about_a_non_json_backtick_literal(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(CONFIG)
    result = check_config(path)
    assert result.settings is not None
    messages = [(p.line, p.severity, p.message) for p in result.problems]
    assert messages == [
        (
            6,
            "warning",
            "`paid` is not a JSON literal, so JMESPath reads it as the string "
            "'paid' (a deprecated form); write 'paid' in single quotes",
        ),
        (
            7,
            "warning",
            "in {{ `done` }}: `done` is not a JSON literal, so JMESPath "
            "reads it as the string 'done' (a deprecated form); write 'done' in single quotes",
        ),
    ]


def test_hookd_test_evaluates_the_deprecated_literal_as_a_string(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(CONFIG)
    event = tmp_path / "event.json"
    event.write_text('{"type": "order.paid", "data": {"status": "paid"}}')
    result = CliRunner().invoke(app, ["test", "-c", str(path), str(event), "--json"])
    assert result.exit_code == 0, result.output
    assert '"matched": true' in result.output.replace(" ", "").replace('"matched":true', '"matched": true')
    assert '"done"' in result.output
