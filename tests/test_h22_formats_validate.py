"""Validate (issue 22): format, preset, message and preset_options, alone and beside payload, batch and a
configured Content-Type; each problem at file:line:column with what to do."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from hookd.config.load import check_config
from hookd.errors import Problem
from hookd.presets import PRESETS
from hookd.senders.base import Outcome
from tests.cli_helpers import hookd, plain


class FakeSlack:
    name = "slack"
    escape_value = None
    options: Mapping[str, str] = {"blocks": "objects", "channel": "text"}

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        return {"text": message, **options}

    def classify(self, outcome: Outcome) -> Outcome:
        return outcome


@pytest.fixture(autouse=True)
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "slack", FakeSlack())


def problems(tmp_path: Path, hooks: str) -> list[Problem]:
    path = tmp_path / "hookd.yaml"
    path.write_text("version: 1\nhooks:\n" + hooks.strip("\n") + "\n", encoding="utf-8")
    return list(check_config(path, env={}).problems)


def shown(found: list[Problem]) -> list[tuple[int, int, str, str]]:
    return [(p.line, p.column, p.severity, f"{p.path}: {p.message}") for p in found]


HOOK = "  - name: h\n    events: [x]\n    url: http://127.0.0.1:9/h\n"


@pytest.mark.parametrize(
    "shape",
    [
        "format: json",
        "format: form\n    payload: {order: '{{ data.id }}'}",
        "format: form\n    payload: '{{ data }}'",
        "format: form",
        "format: cloudevents",
        "format: cloudevents\n    batch: {max_events: 10}",
        "format: cloudevents_binary\n    payload: '{{ data.order }}'",
        "format: text\n    payload: 'Order {{ data.id }}'",
        "preset: slack\n    message: 'Order {{ data.id }}'\n    preset_options: {channel: '#orders', blocks: []}",
    ],
)
def test_valid_shapes(tmp_path: Path, shape: str) -> None:
    assert problems(tmp_path, f"{HOOK}    {shape}") == []


def test_preset_excludes_payload_and_format_and_needs_message(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""\
{HOOK}    preset: slack
    payload: {{a: 1}}
    format: json
""",
    )
    assert shown(found) == [
        (6, 5, "error", "hooks[0] (name='h').preset: preset slack builds the body from message, which this hook "
         "does not set; add the text to send, like message: 'Order {{ data.id }} paid'"),
        (7, 5, "error", "hooks[0] (name='h').payload: a hook with preset sends the service's body built from "
         "message, so it has no payload; remove payload, or remove preset and keep payload as the body"),
        (8, 5, "error", "hooks[0] (name='h').format: a hook with preset sends the body the service expects (JSON), "
         "so it has no format; remove format"),
    ]  # fmt: skip


def test_message_and_preset_options_need_a_preset(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    message: hi\n    preset_options: {{channel: x}}\n")
    assert [(p.line, p.column, p.path) for p in found] == [
        (6, 5, "hooks[0] (name='h').message"),
        (7, 5, "hooks[0] (name='h').preset_options"),
    ]
    assert found[0].message == (
        "message belongs to a preset's body, and this hook has no preset; add preset: (one of slack, teams, discord, "
        "mattermost, zapier, ifttt), or remove message and write the body as payload"
    )


def test_preset_options_keys_are_the_presets_own(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    preset: slack\n    message: hi\n    preset_options: {{blcks: [], x: 1}}\n")
    assert shown(found) == [
        (8, 22, "error", "hooks[0] (name='h').preset_options.blcks: preset slack has no option 'blcks'; did you mean "
         "'blocks'? (it takes blocks, channel); remove it or correct its name"),
        (8, 33, "error", "hooks[0] (name='h').preset_options.x: preset slack has no option 'x' (it takes blocks, "
         "channel); remove it or correct its name"),
    ]  # fmt: skip


def test_an_unknown_preset_or_format_has_a_did_you_mean(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    format: from\n")
    assert shown(found) == [
        (6, 13, "error", "hooks[0] (name='h').format: 'from' is not one of: json, form, cloudevents, "
         "cloudevents_binary, text; did you mean 'form'?"),
    ]  # fmt: skip
    found = problems(tmp_path, f"{HOOK}    preset: slak\n    message: hi\n")
    assert [p.message for p in found] == [
        "'slak' is not one of: slack, teams, discord, mattermost, zapier, ifttt; did you mean 'slack'?"
    ]


def test_a_preset_the_registry_lacks_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(PRESETS, "teams", raising=False)
    found = problems(tmp_path, f"{HOOK}    preset: teams\n    message: hi\n")
    assert [(p.line, p.column) for p in found] == [(6, 13)]
    assert found[0].message.startswith("preset 'teams' is not available in this hookd (it has: ")


def test_a_preset_message_is_a_checked_template(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    preset: slack\n    message: 'Order {{{{ data.id'\n")
    assert [(p.line, p.path, p.message) for p in found] == [
        (7, "hooks[0] (name='h').message", "'{{' is never closed; end the expression with '}}'")
    ]
    found = problems(tmp_path, f"{HOOK}    preset: slack\n    message: ''\n")
    assert [p.message for p in found] == ["must not be empty; write the message text, like 'Order {{ data.id }} paid'"]


@pytest.mark.parametrize("fmt", ["form", "text", "cloudevents_binary"])
def test_one_event_formats_refuse_batch(tmp_path: Path, fmt: str) -> None:
    payload = "'{{ data.id }}'" if fmt == "text" else "{a: 1}"
    found = problems(tmp_path, f"{HOOK}    format: {fmt}\n    payload: {payload}\n    batch: {{max_events: 10}}\n")
    assert shown(found) == [
        (6, 13, "error", f"hooks[0] (name='h').format: format {fmt} encodes one event per request, and batch sends "
         "many events in one JSON array, so the two cannot be combined; use format json (or cloudevents, the "
         "CloudEvents batch format) with batch, or remove batch"),
    ]  # fmt: skip


def test_a_preset_refuses_batch(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    preset: slack\n    message: hi\n    batch: {{max_events: 10}}\n")
    assert shown(found) == [
        (8, 5, "error", "hooks[0] (name='h').batch: preset slack sends one message per event, and batch sends many "
         "events in one request, so the two cannot be combined; remove batch (each event goes on its own), or "
         "remove preset and batch a payload"),
    ]  # fmt: skip


def test_a_cloudevents_batch_has_no_batch_payload(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    format: cloudevents\n    batch:\n      payload: {{n: '{{{{ count }}}}'}}\n")
    assert shown(found) == [
        (8, 7, "error", "hooks[0] (name='h').batch.payload: with format cloudevents a batch is the CloudEvents batch "
         "format, a JSON array of the events, and batch.payload would replace that array; remove batch.payload, or "
         "use format json"),
    ]  # fmt: skip


def test_text_needs_a_string_payload(tmp_path: Path) -> None:
    found = problems(tmp_path, f"{HOOK}    format: text\n")
    assert shown(found) == [
        (6, 13, "error", "hooks[0] (name='h').format: format text sends the payload rendered as text, and this hook "
         "has no payload; add one, like payload: 'Order {{ data.id }}: {{ data.total }}'"),
    ]  # fmt: skip
    found = problems(tmp_path, f"{HOOK}    format: text\n    payload: {{order: 1}}\n")
    assert shown(found) == [
        (7, 14, "error", "hooks[0] (name='h').payload: format text sends a string template, and this payload is a "
         "mapping; write it as one string, like 'Order {{ data.id }}', or use format json"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "kind"), [("[1, 2]", "a list"), ("'Order {{ data.id }}'", "a string"), ("7", "a number")]
)
def test_form_needs_a_payload_that_can_be_an_object(tmp_path: Path, payload: str, kind: str) -> None:
    found = problems(tmp_path, f"{HOOK}    format: form\n    payload: {payload}\n")
    assert shown(found) == [
        (7, 14, "error", f"hooks[0] (name='h').payload: format form sends an object's fields as key=value pairs, and "
         f"this payload is {kind}; make it an object, like {{order: '{{{{ data.id }}}}', total: "
         "'{{ data.total }}'}, or use format json"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "content_type", "warned"),
    [
        ("format: json", "text/plain", "Content-Type 'text/plain' describes it wrongly"),
        ("format: json", "application/vnd.api+json", None),
        ("format: form\n    payload: {a: 1}", "application/json", "format form sends Content-Type "
         "application/x-www-form-urlencoded, by which receivers know how to read the body"),
        ("format: form\n    payload: {a: 1}", "application/x-www-form-urlencoded; charset=utf-8", None),
        ("format: text\n    payload: hi", "text/markdown", None),
        ("format: text\n    payload: hi", "application/json", "format text sends text"),
        ("format: cloudevents", "application/json", "format cloudevents sends Content-Type "
         "application/cloudevents+json"),
        ("format: cloudevents_binary", "application/json", None),
        ("preset: slack\n    message: hi", "text/plain", "the body hookd sends is JSON"),
    ],
)  # fmt: skip
def test_a_configured_content_type_follows_the_format(
    tmp_path: Path, shape: str, content_type: str, warned: str | None
) -> None:
    found = problems(tmp_path, f"{HOOK}    {shape}\n    headers: {{Content-Type: '{content_type}'}}\n")
    if warned is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].severity == "warning" and warned in found[0].message, found
        assert found[0].path == "hooks[0] (name='h').headers.Content-Type"


async def test_hookd_validate_prints_file_line_column(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(f"version: 1\nhooks:\n{HOOK}    format: text\n    batch: {{}}\n    payload: hi\n", encoding="utf-8")
    result = await hookd("validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:6:13: error: hooks[0] (name='h').format: format text encodes one event per request" in plain(
        result.output
    )
