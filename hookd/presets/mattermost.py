"""Mattermost incoming webhooks: {"text": message} plus the overrides a webhook takes.

`username` and `icon_url` work only where the server enables overriding them for integrations;
`channel` is a channel's name (not its display name) or `@user` for a direct message. Mattermost
answers 200 `ok` in plain text, and errors as JSON with an `id` naming the error (its `message` is
translated into the server's language, so the id is what an error shows first).
"""

from __future__ import annotations

from collections.abc import Mapping

from hookd.presets import answers, values
from hookd.presets.base import OptionKind, PresetError
from hookd.senders.base import Outcome

# Keys of `props` that Mattermost sets itself or reads as something else.
_RESERVED_PROPS = frozenset(
    {
        "from_webhook",
        "override_username",
        "override_icon_url",
        "override_icon_emoji",
        "webhook_display_name",
        "card",
        "attachments",
    }
)


class Mattermost:
    name = "mattermost"
    options: Mapping[str, OptionKind] = {
        "username": "text",
        "icon_url": "text",
        "icon_emoji": "text",
        "channel": "text",
        "props": "object",
        "attachments": "objects",
    }
    escape_value = None

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        attachments = values.objects(self.name, options, "attachments")
        if not message.strip() and not attachments:
            raise PresetError(
                "the message rendered empty and no attachments were given: Mattermost refuses such "
                "a body (No text specified)"
            )
        body: dict[str, object] = {"text": message}
        for key in ("channel", "username", "icon_url", "icon_emoji"):
            values.put(body, key, values.text(self.name, options, key))
        values.put(body, "attachments", attachments)
        props = values.mapping(self.name, options, "props")
        if props is not None:
            reserved = sorted(_RESERVED_PROPS.intersection(props))
            if reserved:
                raise PresetError(
                    f"preset_options.props may not set {', '.join(reserved)}: Mattermost reserves those keys "
                    "(use the username, icon_url, icon_emoji and attachments options)",
                    option="props",
                )
            body["props"] = props
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        if outcome.ok:
            return answers.succeeded(outcome)
        answer = answers.json_object(outcome)
        if answer is not None and isinstance(answer.get("id"), str):
            message = answer.get("message")
            said = str(answer["id"]) + (f" ({message})" if isinstance(message, str) and message else "")
        else:
            said = answers.body_text(outcome)
        return answers.with_reason("Mattermost", outcome, said)


MATTERMOST = Mattermost()
