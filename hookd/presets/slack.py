"""Slack incoming webhooks: {"text": message} plus Block Kit and the message fields a webhook honours.

An app's incoming webhook posts to the channel chosen when it was installed, as the app: it cannot
change the channel, username or icon (only legacy custom integrations could), so this preset offers
none of them. With `blocks`, Slack shows the blocks and uses `text` as the notification's fallback.
Slack answers in plain text: 200 `ok`, or a status with an error code such as `channel_not_found`.

Slack reads `<...>` as a link or mention (`<!channel>`, `<@U123>`, `<https://a|shown text>`) and asks
that &, < and > in text be sent as &amp;, &lt; and &gt;. Each value a `{{ }}` puts into the message
or an option is escaped so (escape_value), so an event cannot ping a channel or show a link under
another address's text; the markup written in the config itself is sent as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hookd.presets import answers, values
from hookd.presets.base import OptionKind, PresetError
from hookd.senders.base import Outcome

# Answers that will not change however often the message is sent again: the channel is gone, the
# webhook was removed or its app uninstalled, the workspace is disabled.
_FINAL_HINTS = {
    "channel_not_found": "the webhook's channel no longer exists; make a new webhook",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or make a new webhook",
    "no_service": "the webhook was removed or its app uninstalled; make a new webhook",
    "no_service_id": "the webhook URL is incomplete; copy it again from the app's settings",
    "no_team": "the webhook's workspace is gone; make a new webhook",
    "team_disabled": "the webhook's workspace is disabled",
    "no_active_hooks": "the webhook is turned off in the app's settings",
    "invalid_token": "the webhook URL is no longer valid; copy it again from the app's settings",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "invalid_blocks": "Slack refused the blocks; check them in Block Kit Builder",
    "invalid_payload": "Slack could not read the body",
}


def escape(text: str) -> str:
    """Slack's escaping of text: &, < and > as &amp;, &lt; and &gt; (& first, so no entity is doubled).
    A value that is one URL and nothing else (no space, no <, > or |) is left as it is: it can form
    no markup, and a block's image_url or a button's url must keep its query's & as written."""
    if _URL_ONLY.fullmatch(text):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_URL_ONLY = re.compile(r"https?://[^\s<>|]+")


class Slack:
    name = "slack"
    options: Mapping[str, OptionKind] = {
        "blocks": "objects",
        "attachments": "objects",
        "thread_ts": "text",
        "unfurl_links": "flag",
        "unfurl_media": "flag",
        "mrkdwn": "flag",
    }
    escape_value = staticmethod(escape)

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        body: dict[str, object] = {"text": message}
        blocks = values.objects(self.name, options, "blocks", most=50)
        attachments = values.objects(self.name, options, "attachments")
        if not message and not blocks and not attachments:
            raise PresetError(
                "the message rendered empty and no blocks or attachments were given: Slack refuses "
                "such a body (400 missing_text_or_fallback_or_attachments)"
            )
        values.put(body, "blocks", blocks)
        values.put(body, "attachments", attachments)
        values.put(body, "thread_ts", values.text(self.name, options, "thread_ts"))
        for key in ("unfurl_links", "unfurl_media", "mrkdwn"):
            values.put(body, key, values.flag(self.name, options, key))
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        said = answers.body_text(outcome)
        if outcome.status == 200:
            if said == "ok":
                return answers.succeeded(outcome)
            # Slack's rule: only 200 `ok` is a success; anything else is an error, read from the body.
            return answers.failed(outcome, answers.answered("Slack", outcome, said or "(empty body)"), retryable=False)
        if outcome.status == 429:
            return answers.failed(
                outcome,
                answers.answered("Slack", outcome, "(rate limited: about one message a second per channel)"),
                retryable=True,
                throttled=True,
            )
        return answers.with_reason("Slack", outcome, said, _FINAL_HINTS.get(said, "") if not outcome.retryable else "")


SLACK = Slack()
