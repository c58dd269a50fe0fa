"""Zapier catch hooks ("Webhooks by Zapier", Catch Hook): one flat JSON object.

A Zap's later steps pick fields by name, so the body is flat: the rendered `message`, the event's
id, type, time and source, and its data with nested keys joined by `__` under `data`
(data.order.id is `data__order__id`); a list stays a list, as Zapier reads it into line items.
`fields` (an object) adds fields of its own, flattened the same way, and wins over an event field
of the same name. Zapier answers 200 with {"status": "success"}: the hook was received, and the Zap
runs later.

Flattening copies a parent's name into every field under it, so a long key over many members would
make a body far larger than the event (a 1 MB event, gigabytes). The body is bounded as it is built:
at most MAX_FIELDS fields and MAX_NAME_CHARS characters of field names altogether; past either, the
delivery fails with a sentence (values are each sent once, as the event holds them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hookd.presets import answers, values
from hookd.presets.base import OptionKind, PresetError
from hookd.senders.base import Outcome

SEPARATOR = "__"
MAX_FIELDS = 10_000
MAX_NAME_CHARS = 1_000_000
_EVENT_FIELDS = ("id", "type", "time", "source")


class Zapier:
    name = "zapier"
    options: Mapping[str, OptionKind] = {"fields": "object"}
    escape_value = None

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        body: dict[str, object] = {"message": message}
        for key in _EVENT_FIELDS:
            body[key] = event.get(key)
        budget = Budget()
        flatten(body, "data", event.get("data"), what="the event's data", budget=budget)
        fields = values.mapping(self.name, options, "fields")
        if fields is not None:
            added: dict[str, object] = {}
            try:
                for key, value in fields.items():
                    flatten(added, str(key), value, what="preset_options.fields", budget=budget)
            except PresetError as e:
                raise PresetError(str(e), option="fields") from None
            body.update(added)
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        if outcome.ok:
            answer = answers.json_object(outcome)
            status = answer.get("status") if answer is not None else None
            if status is None or status == "success":
                return answers.succeeded(outcome)
            # Zapier's advice: send again whatever was not a success.
            return answers.failed(
                outcome, answers.answered("Zapier", outcome, answers.body_text(outcome)), retryable=True
            )
        hint = "Zapier is rate limiting this account's hooks" if outcome.status == 429 else ""
        return answers.with_reason("Zapier", outcome, answers.body_text(outcome), hint)


@dataclass(slots=True)
class Budget:
    """What one body has used of its bounds so far (shared by the event's data and `fields`)."""

    fields: int = 0
    name_chars: int = 0

    def take(self, key: str, what: str) -> None:
        """Count one more field named `key`; raise PresetError once the body would pass a bound."""
        self.fields += 1
        self.name_chars += len(key)
        if self.fields > MAX_FIELDS:
            raise PresetError(
                f"{what} flattens to more than {MAX_FIELDS:,} fields, more than the zapier preset sends; send the "
                "Zap a smaller event, or use a hook without the preset whose payload picks the fields the Zap needs"
            )
        if self.name_chars > MAX_NAME_CHARS:
            raise PresetError(
                f"{what} flattens to field names of more than {MAX_NAME_CHARS:,} characters altogether (every "
                f"field repeats the names above it, joined by {SEPARATOR!r}), more than the zapier preset sends; use "
                "shorter keys, or a hook without the preset whose payload picks the fields the Zap needs"
            )


def flatten(into: dict[str, object], key: str, value: object, *, what: str, budget: Budget) -> None:
    """Put `value` in `into` under `key`, an object's members as `key__member` (recursively); an
    empty object stays as {}. Two paths that flatten to the same name are an error, not a silent
    overwrite. Each field is counted against `budget` as it is added, so a body past the bounds is
    refused before it is built."""
    if isinstance(value, dict) and value:
        for member, inner in value.items():
            flatten(into, f"{key}{SEPARATOR}{member}", inner, what=what, budget=budget)
        return
    budget.take(key, what)
    if key in into:
        raise PresetError(
            f"{what} has two fields that flatten to {key!r} (a key containing {SEPARATOR!r} and a nested "
            "object); rename one"
        )
    into[key] = value


ZAPIER = Zapier()
