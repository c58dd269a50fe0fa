"""The published schema states issue 22's body-shaping rules, so an editor shows the mistakes `hookd validate`
reports: preset beside batch, a preset without message, message and preset_options without preset, each
preset's option keys and the kind of each option written literally, the one-event formats beside batch,
cloudevents with batch.payload, format text and form payloads. validate says each mistake once, in
lint_format's sentence (the schema's own copy of it is left out), at the line of the key at fault."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hookd.config.lint_format import PRESET_NAMES
from hookd.config.load import check_config
from hookd.presets import PRESETS, PresetError
from tests.test_h20_guard_validate import validate

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads((REPO / "configs" / "hookd.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(PUBLISHED)

HOOK = "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: http://127.0.0.1:8781/\n"
# Lines 1-5 are the hook above; a case appends its keys from line 6 on, four spaces in.


def schema_errors(text: str) -> list[str]:
    """The published schema's errors for a config (YAML is read as an editor reads it: no ${...})."""
    return [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]


def the_one_error(tmp_path: Path, text: str) -> tuple[str, Path]:
    """`hookd validate`'s only error line for `text`, which must exit 1 and say nothing else wrong."""
    code, lines, path = validate(tmp_path, text)
    errors = [line for line in lines if ": error: " in line]
    assert code == 1 and len(errors) == 1, lines
    assert "is not valid under any of the given schemas" not in errors[0]
    return errors[0], path


# --- each rule: refused by the published schema and by validate, once, in lint_format's words -----------------

RULES = [
    (
        "preset-with-batch",
        "    preset: slack\n    message: hi\n    batch: {max_events: 5}\n",
        8,
        "hooks[0] (name='h').batch: preset slack sends one message per event, and batch sends many events in one "
        "request, so the two cannot be combined",
    ),
    (
        "preset-without-message",
        "    preset: discord\n",
        6,
        "hooks[0] (name='h').preset: preset discord builds the body from message, which this hook does not set",
    ),
    (
        "message-without-preset",
        "    message: hi\n",
        6,
        "hooks[0] (name='h').message: message belongs to a preset's body, and this hook has no preset",
    ),
    (
        "options-without-preset",
        "    preset_options: {tts: true}\n",
        6,
        "hooks[0] (name='h').preset_options: preset_options belongs to a preset's body, and this hook has no preset",
    ),
    *[
        (
            f"{fmt}-with-batch",
            f"    format: {fmt}\n{payload}    batch: {{max_events: 5}}\n",
            6,
            f"hooks[0] (name='h').format: format {fmt} encodes one event per request, and batch sends many events in "
            "one JSON array, so the two cannot be combined",
        )
        for fmt, payload in (
            ("form", "    payload: {order: '{{ data.id }}'}\n"),
            ("text", "    payload: 'Order {{ data.id }}'\n"),
            ("cloudevents_binary", ""),
        )
    ],
    (
        "cloudevents-with-batch-payload",
        "    format: cloudevents\n    batch: {payload: '{{ events }}'}\n",
        7,
        "hooks[0] (name='h').batch.payload: with format cloudevents a batch is the CloudEvents batch format",
    ),
    (
        "text-payload-not-a-string",
        "    format: text\n    payload: {order: '{{ data.id }}'}\n",
        7,
        "hooks[0] (name='h').payload: format text sends a string template, and this payload is a mapping",
    ),
    (
        "text-without-payload",
        "    format: text\n",
        6,
        "hooks[0] (name='h').format: format text sends the payload rendered as text, and this hook has no payload",
    ),
    (
        "form-payload-a-list",
        "    format: form\n    payload: ['{{ data.id }}']\n",
        7,
        "hooks[0] (name='h').payload: format form sends an object's fields as key=value pairs, and this payload is "
        "a list",
    ),
    (
        "form-payload-a-number",
        "    format: form\n    payload: 5\n",
        7,
        "and this payload is a number",
    ),
    (
        "form-payload-text-not-one-template",
        "    format: form\n    payload: 'order={{ data.id }}'\n",
        7,
        "and this payload is a string",
    ),
]


@pytest.mark.parametrize(("keys", "line", "message"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_a_body_shaping_mistake_is_refused_by_the_schema_and_said_once_by_validate(
    tmp_path: Path, keys: str, line: int, message: str
) -> None:
    assert schema_errors(HOOK + keys), "the published schema should refuse this hook"
    error, path = the_one_error(tmp_path, HOOK + keys)
    assert error.startswith(f"{path}:{line}:") and message in error, error


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_an_option_a_preset_does_not_take_is_refused_by_the_schema_and_said_once_by_validate(
    tmp_path: Path, preset: str
) -> None:
    text = HOOK + f"    preset: {preset}\n    message: hi\n    preset_options:\n      nope: x\n"
    assert schema_errors(text) == ["Additional properties are not allowed ('nope' was unexpected)"]
    error, path = the_one_error(tmp_path, text)
    said = f"error: hooks[0] (name='h').preset_options.nope: preset {preset} has no option 'nope'"
    assert error.startswith(f"{path}:9:7: {said}"), error


def test_the_schemas_own_sentence_for_a_preset_beside_payload_is_still_the_one_said(tmp_path: Path) -> None:
    """The rule the schema had before: its x-error is the sentence, once, beside lint_format's for batch."""
    code, lines, path = validate(tmp_path, HOOK + "    preset: slack\n    message: hi\n    payload: {a: 1}\n")
    assert code == 1 and [line for line in lines if ": error: " in line] == [
        f"{path}:8:5: error: hooks[0] (name='h').payload: a hook with preset sends the service's body built from "
        "message, so it has no payload; remove payload, or remove preset and keep payload as the body"
    ], lines


# --- preset option values written literally: of the option's kind, or a template ------------------------------

KINDS = [
    (
        "flag-as-text",
        "discord",
        "tts: 'yes'",
        "preset_options.tts: must be true or false, or a {{ }} template that renders to one, not the text 'yes', "
        "which has no {{ }} and so is sent as written",
    ),
    ("flag-quoted", "slack", "mrkdwn: 'false'", "(write false without quotes)"),
    (
        "flag-a-number",
        "slack",
        "unfurl_links: 1",
        "preset_options.unfurl_links: must be true or false, or a {{ }} template that renders to one, not a number",
    ),
    (
        "object-a-list",
        "teams",
        "facts: [a, b]",
        "preset_options.facts: must be a mapping (key: value), or a {{ }} template that renders to one, not a list",
    ),
    (
        "object-as-text",
        "zapier",
        "fields: all",
        "preset_options.fields: must be a mapping (key: value), or a {{ }} "
        "template that renders to one, not the text 'all'",
    ),
    (
        "objects-a-mapping",
        "discord",
        "embeds: {title: x}",
        "preset_options.embeds: must be a list of mappings, or a {{ }} template that renders to one, not a mapping",
    ),
    (
        "objects-an-item-as-text",
        "slack",
        "blocks: [{type: divider}, divider]",
        "preset_options.blocks[1]: must be a mapping (key: value), or a {{ }} template that renders to one, not the "
        "text 'divider'",
    ),
    (
        "text-a-number",
        "mattermost",
        "channel: 42",
        "preset_options.channel: must be a string, not a number (quote it to keep it as text)",
    ),
    ("text-a-mapping", "teams", "title: {a: b}", "preset_options.title: must be a string, not a mapping"),
]


@pytest.mark.parametrize(("preset", "option", "message"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
def test_an_option_of_the_wrong_kind_is_refused_by_the_schema_in_one_sentence(
    tmp_path: Path, preset: str, option: str, message: str
) -> None:
    text = HOOK + f"    preset: {preset}\n    message: hi\n    preset_options:\n      {option}\n"
    assert schema_errors(text)
    error, path = the_one_error(tmp_path, text)
    assert error.startswith(f"{path}:9:") and message in error, error


def test_a_quoted_reference_where_true_or_false_belongs_says_it_stays_text(tmp_path: Path) -> None:
    """A quoted ${VAR} is text whatever it holds; unquoted, its true is YAML's true (the second hook)."""
    options = "    preset: discord\n    message: hi\n    preset_options:\n      tts: %s\n"
    text = HOOK + options % '"${TTS}"' + HOOK.split("hooks:\n", 1)[1].replace("name: h", "name: i") + options % "${TTS}"
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    [error] = check_config(path, env={"TTS": "true"}).errors
    assert (error.line, error.path) == (9, "hooks[0] (name='h').preset_options.tts"), error
    assert error.message == (
        "must be true or false, or a {{ }} template that renders to one, not the text ${TTS} gives (unquoted, "
        "${TTS} reads as true or false)"
    )


def test_templates_and_empty_values_are_of_every_kind(tmp_path: Path) -> None:
    """A template renders to any type, and an empty option is left out of the body: neither is refused."""
    options = {
        "slack": "{blocks: '{{ data.blocks }}', attachments: ['{{ data.a }}', {b: c}], mrkdwn: '{{ data.md }}', "
        "unfurl_links: false, thread_ts: ~}",
        "teams": "{title: 'Order {{ data.id }}', facts: '{{ data.facts }}', link_url: ~}",
        "discord": "{tts: '{{ data.tts }}', allowed_mentions: {parse: [users]}, embeds: ~}",
        "mattermost": "{props: '{{ data.props }}', channel: town-square, attachments: []}",
        "zapier": "{fields: {a: '{{ data.a }}', b: 1}}",
        "ifttt": "{value2: 5, value3: [a]}",
    }
    for preset, written in options.items():
        text = HOOK.replace("http://127.0.0.1:8781/", "'${HOOK_URL}'") + (
            f"    preset: {preset}\n    message: hi\n    preset_options: {written}\n"
        )
        assert schema_errors(text) == [], preset
        path = tmp_path / f"{preset}.yaml"
        path.write_text(text, encoding="utf-8")
        assert check_config(path, env={"HOOK_URL": "https://hooks.example/x"}).errors == (), preset


# --- the schema and the code cannot drift apart ----------------------------------------------------------------


def _option_defs() -> dict[str, dict[str, Any]]:
    """Each preset's preset_options def, as the hook's allOf picks it by the preset's name."""
    picked: dict[str, dict[str, Any]] = {}
    for rule in PUBLISHED["$defs"]["hook"]["allOf"]:
        name = rule["if"].get("properties", {}).get("preset", {}).get("const")
        if name is not None:
            ref = rule["then"]["properties"]["preset_options"]["$ref"]
            picked[name] = PUBLISHED["$defs"][ref.rsplit("/", 1)[1]]
    return picked


def test_the_schema_lists_each_presets_option_keys_as_the_code_does() -> None:
    defs = _option_defs()
    assert sorted(defs) == sorted(PRESETS) == sorted(PUBLISHED["$defs"]["hook"]["properties"]["preset"]["enum"])
    for name, preset in PRESETS.items():
        assert frozenset(defs[name]["properties"]) == frozenset(preset.options), name
        assert defs[name]["additionalProperties"] is False, name
        for option, kind in preset.options.items():
            ref = defs[name]["properties"][option].get("$ref")
            # The kind the preset declares (which validate's body trial trusts) is the schema's.
            assert ref == (None if kind == "any" else f"#/$defs/preset_{kind}"), (name, option)


def test_the_preset_options_description_lists_each_presets_keys_as_the_code_does() -> None:
    """Editors show the description on hover; its lists are the code's too."""
    said = PUBLISHED["$defs"]["hook"]["properties"]["preset_options"]["description"]
    lists = said.split("keys of its own: ", 1)[1].rstrip(".").split("; ")
    listed = {name: frozenset(keys.split(", ")) for name, keys in (item.split(" ", 1) for item in lists)}
    assert listed == {name: frozenset(preset.options) for name, preset in PRESETS.items()}


# One value of each kind, as a rendered option holds it (a template's result is any of them).
SAMPLES: dict[str, object] = {
    "text": "plain",
    "true/false": True,
    "number": 5,
    "mapping": {"k": "v"},
    "list of mappings": [{"k": "v"}],
    "list of text": ["plain"],
    "empty": None,
}
# What an option needs beside it to be sent at all (a button's title needs the button's link).
NEEDS: dict[tuple[str, str], dict[str, object]] = {("teams", "link_title"): {"link_url": "https://example.com/x"}}
EVENT = {"id": "e1", "type": "order.paid", "time": "2026-01-01T00:00:00Z", "source": "shop", "data": {}}


def _code_takes(preset: str, option: str, value: object) -> bool:
    try:
        PRESETS[preset].body("hi", {option: value, **NEEDS.get((preset, option), {})}, EVENT)
    except PresetError:
        return False
    return True


def _schema_takes(preset: str, option: str, value: object) -> bool:
    hook = {"name": "h", "events": ["*"], "url": "http://x/", "preset": preset, "message": "hi"}
    config = {"version": 1, "hooks": [{**hook, "preset_options": {option: value}}]}
    return VALIDATOR.is_valid(config)


@pytest.mark.parametrize(
    ("preset", "option"), [(name, option) for name, p in PRESETS.items() for option in sorted(p.options)]
)
def test_each_options_kind_in_the_schema_is_what_the_preset_reads(preset: str, option: str) -> None:
    """Each value written literally is taken by the schema exactly when the preset's body takes it rendered."""
    code = {kind for kind, value in SAMPLES.items() if _code_takes(preset, option, value)}
    written = {kind for kind, value in SAMPLES.items() if _schema_takes(preset, option, value)}
    assert written == code
    assert _schema_takes(preset, option, "{{ data.anything }}")  # a template may render to any of them


# --- validate and the schema agree on every mix of the body-shaping keys ---------------------------------------

MIX: dict[str, list[object]] = {
    "preset": ["slack", "zapier"],
    "message": ["hi {{ data.id }}"],
    "preset_options": [{}, {"fields": {"a": "{{ data.a }}"}}],
    "format": ["json", "form", "cloudevents", "cloudevents_binary", "text"],
    "payload": ["{{ data }}", "Order {{ data.id }}", {"a": "{{ data.id }}"}, ["{{ data.id }}"], None],
    "batch": [{}, {"payload": "{{ events }}"}],
}
ABSENT = object()


def test_validate_refuses_a_mix_of_body_keys_exactly_when_the_schema_does(tmp_path: Path) -> None:
    """Over every mix of preset, message, preset_options, format, payload and batch (each also absent): the
    schema is never stricter than validate, and refuses whatever validate refuses."""
    path = tmp_path / "hookd.yaml"
    disagree = []
    for values in itertools.product(*([ABSENT, *choices] for choices in MIX.values())):
        hook: dict[str, object] = {"name": "h", "events": ["*"], "url": "http://127.0.0.1:8781/"}
        hook.update({key: value for key, value in zip(MIX, values, strict=True) if value is not ABSENT})
        config = {"version": 1, "hooks": [hook]}
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        refused = bool(check_config(path, env={}).errors)
        if refused != (not VALIDATOR.is_valid(config)):
            disagree.append(f"{'validate' if refused else 'the schema'} alone refuses {hook}")
    assert disagree == []


# --- what is valid stays valid ---------------------------------------------------------------------------------

EXAMPLES = sorted(REPO.glob("examples/*/hookd.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_bundled_example_passes_the_published_schema(example: Path) -> None:
    """tests/test_schema.py checks the packaged schema; editors read the published one."""
    assert schema_errors(example.read_text(encoding="utf-8")) == []
