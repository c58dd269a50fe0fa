"""Validate checks of how a hook shapes its body: `format`, and `preset` with `message` and
`preset_options`, alone and beside `batch` and a configured Content-Type (the templates themselves
are checked by the linter's template pass). The schema refuses payload and format beside preset.

The published schema states the rules below too, so an editor marks the same mistakes; its nodes for them
carry `"x-reported-by": "lint_format"`, and validate leaves their errors out: each mistake is said once,
in the sentence here, which names the hook's preset, format or payload kind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, get_args

from hookd.config.located import PathKey
from hookd.config.model import PayloadFormat, PresetName
from hookd.config.schema import value_kind
from hookd.config.secret_fields import chat_webhook_service
from hookd.errors import Severity
from hookd.presets import PRESETS, Preset, PresetError, values
from hookd.suggest import did_you_mean
from hookd.templates import PLACEHOLDER

PRESET_NAMES: tuple[str, ...] = get_args(PresetName)
_SERVICES = {
    "slack": "Slack",
    "teams": "Teams Workflows",
    "discord": "Discord",
    "mattermost": "Mattermost",
    "zapier": "Zapier",
    "ifttt": "IFTTT",
}
# Markup the config writes right before a {{ }}: the preset escapes the value, but not what surrounds it,
# so the event's value completes the markup (a mention that pings).
_MARKUP_BEFORE_VALUE = {
    "slack": (
        re.compile(r"<[!@#]?\{\{"),
        "a {{ }} right after < puts event data where Slack reads a mention or a link's target: a value that "
        "starts with ! or @ pings (<!channel>, <@U123>); begin the link with its fixed part, like "
        "<https://shop.example/o/{{ data.id }}|Order {{ data.id }}>, or put only a field you trust there",
    ),
    "mattermost": (
        re.compile(r"(?<![^\W_])@\{\{|<!?\{\{"),
        "an @ (or <!) right before {{ }} mentions whoever the event names, and a value of all, channel or here "
        "notifies the whole channel; put only a field you trust there, or leave the mention out",
    ),
}
# The event a preset's body is tried with at validate: presets that send event fields read these.
_STAND_IN_EVENT: dict[str, object] = {"id": "x", "type": "x", "time": "2026-01-01T00:00:00Z", "source": "x", "data": {}}
FORMATS: tuple[str, ...] = get_args(PayloadFormat)
# Formats whose body is one event's: a batch, which sends many in one JSON array, cannot use them.
_ONE_EVENT_FORMATS = frozenset({"form", "text", "cloudevents_binary"})
_FORMAT_TYPES = {
    "json": "application/json",
    "cloudevents_binary": "application/json",
    "cloudevents": "application/cloudevents+json",
    "form": "application/x-www-form-urlencoded",
    "text": "text/plain",
}


class Add(Protocol):
    def __call__(self, path: PathKey, message: str, severity: Severity = "error", *, key: bool = False) -> None: ...


def lint_format(hook: dict[str, object], path: PathKey, add: Add, *, literal_url: bool = False) -> None:
    """Problems of `hook`'s body shaping (at `path`, the hook's), reported through `add`. `literal_url`:
    the hook's url is written in the file (not brought in by a ${...} reference)."""
    preset = hook.get("preset")
    url = hook.get("url")
    if literal_url and isinstance(url, str) and url.startswith("https://"):
        service = chat_webhook_service(url) or (_SERVICES.get(preset) if isinstance(preset, str) else None)
        if service is not None:
            # Kept in the config, the URL is in git and in every copy of the file.
            variable = "TEAMS_WORKFLOW_URL" if service.startswith("Teams") else f"{service.upper()}_WEBHOOK_URL"
            article = "an" if service[0] in "AEIOU" else "a"
            add(
                (*path, "url"),
                f"{article} {service} webhook url is its own credential (its path or query holds the token), and "
                f'whoever reads this file or its git history has it: write url: "${{{variable}}}" (set in the '
                "environment, or ${file:/run/secrets/...}); hookd shows such a url as its origin and *** either way",
                "warning",
            )
    if preset is not None:
        _preset(hook, preset, path, add)
    else:
        for key in ("message", "preset_options"):
            if key in hook:
                add(
                    (*path, key),
                    f"{key} belongs to a preset's body, and this hook has no preset; add preset: (one of "
                    f"{', '.join(PRESET_NAMES)}), or remove {key} and write the body as payload",
                    key=True,
                )
    fmt = hook.get("format", "json")
    if isinstance(fmt, str) and fmt in FORMATS and preset is None:
        _format(hook, fmt, path, add)
    _content_type(hook, fmt if isinstance(fmt, str) and preset is None else "json", path, add)


def _preset(hook: dict[str, object], preset: object, path: PathKey, add: Add) -> None:
    if not isinstance(preset, str) or preset not in PRESET_NAMES:
        return  # the schema reports it
    found = PRESETS.get(preset)
    if found is None:
        available = ", ".join(sorted(PRESETS)) or "none"
        add((*path, "preset"), f"preset {preset!r} is not available in this hookd (it has: {available})")
    if "message" not in hook:
        add(
            (*path, "preset"),
            f"preset {preset} builds the body from message, which this hook does not set; add the text to send, "
            "like message: 'Order {{ data.id }} paid'",
            key=True,
        )
    if "batch" in hook:
        add(
            (*path, "batch"),
            f"preset {preset} sends one message per event, and batch sends many events in one request, so the two "
            "cannot be combined; remove batch (each event goes on its own), or remove preset and batch a payload",
            key=True,
        )
    if preset in _MARKUP_BEFORE_VALUE:
        pattern, said = _MARKUP_BEFORE_VALUE[preset]
        for key in ("message", "preset_options"):
            for where, text in _strings(hook.get(key), (*path, key)):
                if pattern.search(text):
                    add(where, said, "warning")
    options = hook.get("preset_options")
    if found is not None and isinstance(options, dict):
        takes = sorted(found.options)
        unknown = False
        for name in options:
            if name in found.options:
                continue
            unknown = True
            hint = did_you_mean(str(name), takes)
            if preset == "ifttt" and name == "value1":
                hint = "; message is what goes out as value1, so write that text there"
            listed = f"it takes {', '.join(takes)}" if takes else "it takes none"
            add(
                (*path, "preset_options", name),
                f"preset {preset} has no option {str(name)!r}{hint} ({listed}); remove it or correct its name",
                key=True,
            )
        if not unknown:
            _try_body(found, hook.get("message"), options, path, add)
    elif found is not None and options is None:
        _try_body(found, hook.get("message"), {}, path, add)


def _try_body(preset: Preset, message: object, options: dict[str, object], path: PathKey, add: Add) -> None:
    """Build the preset's body from what is written out, standing in a value of each templated option's
    kind and a short text for a templated message: what the service would refuse whatever the event
    (an option of the wrong type, a button without its link, a Discord message too long) is an error
    now, not a failed delivery later."""
    if not isinstance(message, str):
        return  # the schema reports it
    tried: dict[str, object] = {}
    for name, value in options.items():
        kind = preset.options[name]
        # A value of the wrong kind is the schema's to say (once); it is tried as one of the right kind.
        known = not _templated(value) and values.fits(preset.name, kind, name, value)
        tried[name] = value if known else values.stand_in(kind)
    try:
        preset.body(message if "{{" not in message else "x", tried, _STAND_IN_EVENT)
    except PresetError as e:
        where = (*path, "preset_options", e.option) if e.option in options else (*path, "message")
        add(where, f"preset {preset.name}: {e}")


def _strings(value: object, path: PathKey) -> Iterator[tuple[PathKey, str]]:
    """Each string in a written value, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _strings(inner, (*path, i))


def _templated(value: object) -> bool:
    """Whether a written value holds a {{ }} anywhere (so is only known once rendered)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_templated(k) or _templated(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _format(hook: dict[str, object], fmt: str, path: PathKey, add: Add) -> None:
    at = (*path, "format")
    batch = hook.get("batch")
    if fmt in _ONE_EVENT_FORMATS and "batch" in hook:
        add(
            at,
            f"format {fmt} encodes one event per request, and batch sends many events in one JSON array, so the two "
            "cannot be combined; use format json (or cloudevents, the CloudEvents batch format) with batch, or remove "
            "batch",
        )
    if fmt == "cloudevents" and isinstance(batch, dict) and "payload" in batch:
        add(
            (*path, "batch", "payload"),
            "with format cloudevents a batch is the CloudEvents batch format, a JSON array of the events, and "
            "batch.payload would replace that array; remove batch.payload, or use format json",
            key=True,
        )
    payload = hook.get("payload")
    if fmt == "text":
        if "payload" not in hook:
            add(
                at,
                "format text sends the payload rendered as text, and this hook has no payload; add one, like "
                "payload: 'Order {{ data.id }}: {{ data.total }}'",
            )
        elif not isinstance(payload, str):
            add(
                (*path, "payload"),
                f"format text sends a string template, and this payload is {value_kind(payload)}; write it as one "
                "string, like 'Order {{ data.id }}', or use format json",
            )
    elif fmt == "form" and "payload" in hook and not _can_be_object(payload):
        add(
            (*path, "payload"),
            f"format form sends an object's fields as key=value pairs, and this payload is {value_kind(payload)}; make "
            "it an object, like {order: '{{ data.id }}', total: '{{ data.total }}'}, or use format json",
        )


def _can_be_object(payload: object) -> bool:
    """Whether the template can render to an object: a mapping, or a string that is one `{{ expr }}`."""
    return isinstance(payload, dict) or (isinstance(payload, str) and PLACEHOLDER.fullmatch(payload) is not None)


def _content_type(hook: dict[str, object], fmt: str, path: PathKey, add: Add) -> None:
    """A configured Content-Type that describes the body this format sends wrongly: a warning."""
    headers = hook.get("headers")
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if not isinstance(name, str) or name.lower() != "content-type":
            continue
        if not isinstance(value, str) or "{{" in value or fmt not in _FORMAT_TYPES:
            continue
        media = value.split(";", 1)[0].strip().lower()
        sent = _FORMAT_TYPES[fmt]
        if fmt in ("json", "cloudevents_binary"):
            if media == "application/json" or media.endswith("+json"):
                continue
            what = "JSON" if fmt == "json" else "the event's data as JSON"
            why = (
                f"the body hookd sends is {what}, so Content-Type {value!r} describes it wrongly and receivers may "
                f"refuse or misread it; remove it (hookd sends {sent}) or use a JSON type"
            )
            if fmt == "json" and "preset" not in hook:
                why += ", or set the format the receiver reads (format: form or text)"
        elif fmt == "text":
            if media.startswith("text/"):
                continue
            why = (
                f"format text sends text, so Content-Type {value!r} describes it wrongly; remove it (hookd sends "
                f"{sent})"
            )
        else:
            if media == sent:
                continue
            why = (
                f"format {fmt} sends Content-Type {sent}, by which receivers know how to read the body, so "
                f"{value!r} describes it wrongly; remove it"
            )
        add((*path, "headers", name), why, "warning", key=True)
