"""`hookd validate` warnings for configs that load but cannot work as meant, and --no-environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.suggest import closest, did_you_mean
from tests.cli_helpers import plain

runner = CliRunner()
_ENV = {"ORDERS_URL": None, "ORDERS_TOKEN": None, "HOOKD_CONFIG": None}


def validate(tmp_path: Path, text: str, *args: str) -> tuple[int, list[str], Path]:
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", *args, str(path)], env=_ENV)
    return result.exit_code, plain(result.stdout).splitlines(), path


HOOK = """\
version: 1
hooks:
  - name: orders
    events: ["order.*"]
    url: http://127.0.0.1:9/orders
"""


def test_fields_no_event_has_are_warned_with_did_you_mean(tmp_path: Path) -> None:
    """1. A filter on `total` and templates on `order_id` and `Data.total`, beside paths that do exist
    (data.x, type, a CloudEvents attribute, fields inside a filter projection). Result: one warning per
    missing field, at its column, suggesting the path meant; exit 0 (1 with --strict)."""
    text = HOOK + (
        "    filter: \"total > `100` && type == 'order.created' && subject != 'x' && data.items[?sku == 'a']\"\n"
        '    payload: {id: "{{ order_id }}", total: "{{ Data.total }}", fine: "{{ data.x }}"}\n'
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 0, lines
    hook = "hooks[0] (name='orders')"
    fields = (
        "(only id, type, time, source and data, plus a CloudEvent's attributes and, for an http source's events, "
        "request)"
    )
    assert lines == [
        f"{path}:6:14: warning: {hook}.filter: total is always null: events have no field 'total' {fields}; "
        "did you mean data.total?",
        f"{path}:7:19: warning: {hook}.payload.id: in {{{{ order_id }}}}: order_id is always null: events have no "
        f"field 'order_id' {fields}; did you mean data.order_id?",
        f"{path}:7:44: warning: {hook}.payload.total: in {{{{ Data.total }}}}: Data.total is always null: events "
        f"have no field 'Data' {fields}; did you mean data.total?",
        f"ok {path}: 1 hook(s), 0 source(s), 3 warning(s)",
    ]
    strict, _, _ = validate(tmp_path, text, "--strict")
    assert strict == 1


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        ("webhook-id", "fixed", "hookd sets webhook-id to the event id"),
        ("Webhook-Timestamp", "1", "Webhook-Timestamp is hookd's own header"),
        ("webhook-signature", "v1,x", "webhook-signature is the Standard Webhooks signature header"),
        ("hookd-attempt", "1", "Use another name, like X-attempt"),
        ("User-Agent", "curl/8", "hookd sends User-Agent: hookd/VERSION"),
        ("Content-Type", "text/plain", "Content-Type 'text/plain' describes it wrongly"),
    ],
)
def test_headers_that_replace_hookds_own_are_warned(tmp_path: Path, header: str, value: str, says: str) -> None:
    code, lines, path = validate(tmp_path, HOOK + f"    headers: {{{header}: '{value}'}}\n")
    assert code == 0, lines
    [warning, ok] = lines
    assert warning.startswith(f"{path}:6:15: warning: hooks[0] (name='orders').headers.{header}: ")
    assert says in warning
    assert ok.endswith("1 warning(s)")


def test_json_content_types_and_other_headers_are_fine(tmp_path: Path) -> None:
    text = HOOK + "    headers: {Content-Type: 'application/cloudevents+json; charset=utf-8', X-Webhook-Id: a}\n"
    code, lines, path = validate(tmp_path, text)
    assert (code, lines) == (0, [f"ok {path}: 1 hook(s), 0 source(s)"])


def test_retry_delays_of_zero_are_warned(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, HOOK + "    retry: {initial_delay: 0s, max_delay: 0}\n")
    assert code == 0, lines
    message = (
        "a delay of 0 sends each retry at once, so a failing receiver gets every attempt within a moment and they "
        "are used up before it can recover; use at least 1s"
    )
    assert lines == [
        f"{path}:6:28: warning: hooks[0] (name='orders').retry.initial_delay: {message}",
        f"{path}:6:43: warning: hooks[0] (name='orders').retry.max_delay: {message}",
        f"ok {path}: 1 hook(s), 0 source(s), 2 warning(s)",
    ]


ENV_CONFIG = """\
version: 1
hooks:
  - name: orders
    events: ["order.*"]
    url: ${ORDERS_URL}
    timeout: ${ORDERS_TIMEOUT:-5s}
    headers: {Authorization: "Bearer ${ORDERS_TOKEN}", X-Key: "${file:/nonexistent/hookd/key}"}
    retry: {max_attempts: 3, backoff: fixed}
"""


def test_no_environment_checks_the_file_without_its_secrets(tmp_path: Path) -> None:
    """1. A config whose URL and token come from unset variables and a missing secret file.
    Result: without the flag, three errors; with --no-environment, ok, and a note naming each
    reference left unchecked; other mistakes are still errors."""
    code, lines, path = validate(tmp_path, ENV_CONFIG)
    assert code == 1 and lines[-1] == "3 error(s) in 1 file(s)"
    code, lines, path = validate(tmp_path, ENV_CONFIG, "--no-environment")
    assert code == 0, lines
    assert lines == [
        f"ok {path}: 1 hook(s), 0 source(s)",
        f"note: {path}: not checked (--no-environment): ${{ORDERS_TOKEN}}, ${{ORDERS_URL}}, "
        "${file:/nonexistent/hookd/key} are unset or missing here, so the values they give were not validated",
    ]
    code, lines, path = validate(tmp_path, ENV_CONFIG.replace("fixed", "fxied"), "--no-environment")
    assert code == 1
    assert "did you mean 'fixed'?" in lines[0]
    result = runner.invoke(app, ["validate", "--no-environment", "--format", "json", str(path)], env=_ENV)
    [report] = json.loads(result.stdout)["files"]
    assert report["unchecked"] == ["${ORDERS_TOKEN}", "${ORDERS_URL}", "${file:/nonexistent/hookd/key}"]


def test_did_you_mean() -> None:
    assert closest("Data", ["id", "type", "data"]) == "data"
    assert closest("tpye", ["id", "type", "data"]) == "type"
    assert closest("total", ["id", "type", "data"]) is None
    assert did_you_mean("Data", ["id", "type", "data"]) == "; did you mean 'data'?"


def test_no_environment_is_a_notice_in_github_format(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, ENV_CONFIG, "--no-environment", "--format", "github")
    assert code == 0
    assert lines == [
        f"::notice file={path},title=hookd validate::not checked (--no-environment): ${{ORDERS_TOKEN}}, "
        "${ORDERS_URL}, ${file:/nonexistent/hookd/key} are unset or missing here, so the values they give were "
        "not validated"
    ]
