"""Mattermost incoming webhooks: {"text": message} plus the overrides a webhook takes.

`username` and `icon_url` work only where the server enables overriding them for integrations;
`channel` is a channel's name (not its display name) or `@user` for a direct message. Mattermost
answers 200 `ok` in plain text, and errors as JSON with an `id` naming the error (its `message` is
translated into the server's language, so the id is what an error shows first).

Mattermost notifies whoever a message mentions (`@user`, `@channel`, `@all`, `@here`, a group), and
reads Slack's `<!channel>` as `@channel`; it has no escape for either. So each value a `{{ }}` puts
into the message or an option gets a zero-width space after an `@` that starts a word, after a `<`
before `!` or at its end, and before a `!` that starts it (escape_value): the text reads the same, a
mention in event data notifies no one, and an address like ann@shop.example is left as it is.
Mentions written in the config are sent as written, and so is what the config puts around a value:
`@{{ data.user }}` mentions whoever the event names (validate warns).
"""

from __future__ import annotations

import re
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


# An @ not after a letter or digit (so not the one in an address), and the < of Slack's <!channel>.
# A value that ends in < or starts with ! is half of a <!channel> the next or previous value completes.
_MENTION_START = re.compile(r"(?<![^\W_])@|<(?=!|\Z)|\A(?=!)")
_NO_BREAK = "\u200b"


def escape(text: str) -> str:
    """A zero-width space after each mention's start, so Mattermost reads no mention in the value."""
    return _MENTION_START.sub(lambda m: m.group(0) + _NO_BREAK, text)


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
    escape_value = staticmethod(escape)

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
