"""Zapier catch hooks ("Webhooks by Zapier", Catch Hook): one flat JSON object.

A Zap's later steps pick fields by name, so the body is flat: the rendered `message`, the event's
id, type, time and source, and its data with nested keys joined by `__` under `data`
(data.order.id is `data__order__id`); a list stays a list, as Zapier reads it into line items.
`fields` (an object) adds fields of its own, flattened the same way, and wins over an event field
of the same name. Zapier answers 200 with {"status": "success"}: the hook was received, and the Zap
runs later.
"""

from __future__ import annotations

from collections.abc import Mapping

from hookd.presets import answers, values
from hookd.presets.base import PresetError
from hookd.senders.base import Outcome

SEPARATOR = "__"
_EVENT_FIELDS = ("id", "type", "time", "source")


class Zapier:
    name = "zapier"
    options = frozenset({"fields"})

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        body: dict[str, object] = {"message": message}
        for key in _EVENT_FIELDS:
            body[key] = event.get(key)
        flatten(body, "data", event.get("data"), what="the event's data")
        fields = values.mapping(self.name, options, "fields")
        if fields is not None:
            added: dict[str, object] = {}
            for key, value in fields.items():
                flatten(added, str(key), value, what="zapier preset_options.fields")
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


def flatten(into: dict[str, object], key: str, value: object, *, what: str) -> None:
    """Put `value` in `into` under `key`, an object's members as `key__member` (recursively); an
    empty object stays as {}. Two paths that flatten to the same name are an error, not a silent
    overwrite."""
    if isinstance(value, dict) and value:
        for member, inner in value.items():
            flatten(into, f"{key}{SEPARATOR}{member}", inner, what=what)
        return
    if key in into:
        raise PresetError(
            f"{what} has two fields that flatten to {key!r} (a key containing {SEPARATOR!r} and a nested "
            "object); rename one"
        )
    into[key] = value


ZAPIER = Zapier()
