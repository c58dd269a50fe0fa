"""IFTTT Webhooks ("Receive a web request"): {"value1", "value2", "value3"}, the three ingredients.

The applet's trigger URL is https://maker.ifttt.com/trigger/{event}/with/key/{key}; IFTTT reads only
value1..value3 from the body, as text. value1 is the rendered message, value2 and value3 the options;
a value that is not a string is sent as its JSON text. IFTTT answers 200 with a "Congratulations!"
sentence, and 401 when the key is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from hookd.presets import answers, values
from hookd.presets.base import OptionKind
from hookd.senders.base import Outcome


class Ifttt:
    name = "ifttt"
    options: Mapping[str, OptionKind] = {"value2": "any", "value3": "any"}
    escape_value = None

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        body: dict[str, object] = {"value1": message}
        for key in ("value2", "value3"):
            value = options.get(key)
            if value is not None:
                body[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        if outcome.ok:
            return answers.succeeded(outcome)
        answer = answers.json_object(outcome)
        said = _first_error(answer) if answer is not None else None
        said = said or answers.body_text(outcome)
        hint = "the key in the URL is wrong; copy it from IFTTT's Webhooks settings" if outcome.status == 401 else ""
        return answers.failed(
            outcome,
            answers.explained(answers.answered("IFTTT", outcome, said), hint),
            retryable=outcome.retryable and outcome.status != 401,
        )


def _first_error(answer: Mapping[str, object]) -> str | None:
    """The message of {"errors": [{"message": ...}]}, IFTTT's error body."""
    errors = answer.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        return message if isinstance(message, str) else None
    return None


IFTTT = Ifttt()
