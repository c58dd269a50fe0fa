"""Discord Execute Webhook: {"content": message} plus embeds and the webhook's overrides.

`allowed_mentions` defaults to {"parse": []}: the message is built from event data, and with it no
@everyone, @here, role or user mention in that data pings anyone (the mention still shows as text).
Set the option to Discord's own allowed_mentions object to let some through.

Discord answers 204 (200 with `?wait=true`), with its rate limit in X-RateLimit-* headers on every
answer: a success that spent the bucket's last request pauses the hook until the bucket refills, and
a failure that did so is retried no sooner. A 429 carries its wait twice: `retry_after` in a JSON
body (seconds, with decimals) and a Retry-After header (whole seconds); the longer is kept, and
X-RateLimit-Reset-After stands in for a body without `retry_after`. A 404 means the webhook is gone,
and Discord asks clients to stop using it, so it is never retried.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from hookd.presets import answers, values
from hookd.presets.base import OptionKind, PresetError
from hookd.senders.base import Outcome

MAX_CONTENT_CHARS = 2000
MAX_EMBEDS = 10
MAX_BUCKET_PAUSE_S = 60.0
NO_PINGS: Mapping[str, object] = {"parse": []}
_UNKNOWN_WEBHOOK = 10015


class Discord:
    name = "discord"
    options: Mapping[str, OptionKind] = {
        "username": "text",
        "avatar_url": "text",
        "embeds": "objects",
        "tts": "flag",
        "allowed_mentions": "object",
    }
    escape_value = None

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        values.check_known(self.name, options, self.options)
        if len(message) > MAX_CONTENT_CHARS:
            raise PresetError(
                f"the message is {len(message):,} characters; Discord takes at most {MAX_CONTENT_CHARS:,} in a "
                "message: shorten the text an event brings with truncate(), like {{ truncate(data.log, `1500`) }}, "
                "or put longer text in an embed's description"
            )
        embeds = values.objects(self.name, options, "embeds", most=MAX_EMBEDS)
        if not message.strip() and not embeds:
            raise PresetError("the message rendered empty and no embeds were given: Discord refuses an empty message")
        body: dict[str, object] = {"content": message}
        values.put(body, "username", values.text(self.name, options, "username"))
        values.put(body, "avatar_url", values.text(self.name, options, "avatar_url"))
        values.put(body, "tts", values.flag(self.name, options, "tts"))
        values.put(body, "embeds", embeds)
        mentions = values.mapping(self.name, options, "allowed_mentions")
        body["allowed_mentions"] = dict(NO_PINGS if mentions is None else mentions)
        return body

    def classify(self, outcome: Outcome) -> Outcome:
        if outcome.status is None:
            return outcome
        if outcome.ok:
            return answers.succeeded(outcome, pause_s=_spent_bucket(outcome))
        answer = answers.json_object(outcome)
        said = _said(answer) if answer is not None else answers.body_text(outcome)
        if outcome.status == 429:
            told = _seconds(answer.get("retry_after")) if answer is not None else None
            if told is None:
                told = _reset_after(outcome)
            scope = "global" if answer is not None and answer.get("global") is True else "this webhook"
            return answers.failed(
                outcome,
                answers.answered("Discord", outcome, " ".join(filter(None, (said, f"(rate limited: {scope})")))),
                retryable=True,
                retry_after_s=told,
                throttled=True,
            )
        if outcome.status == 404 or (answer is not None and answer.get("code") == _UNKNOWN_WEBHOOK):
            return answers.failed(
                outcome,
                answers.explained(
                    answers.answered("Discord", outcome, said),
                    "the webhook was deleted or its URL is wrong; make a new one (Discord asks that a webhook "
                    "answering 404 is not used again)",
                ),
                retryable=False,
            )
        # A failure counts against the bucket too: one that spent its last request holds the hook's
        # other deliveries until the refill (and is retried then, if it may be), not into a 429.
        return answers.with_reason("Discord", outcome, said, retry_after_s=_spent_bucket(outcome), holds_lane=True)


def _spent_bucket(outcome: Outcome) -> float | None:
    """The seconds until the webhook's rate-limit bucket refills, when this answer spent its last
    request (X-RateLimit-Remaining: 0 and X-RateLimit-Reset-After): waiting them out is what Discord
    asks of clients instead of meeting its 429."""
    if answers.header(outcome, "x-ratelimit-remaining") != "0":
        return None
    return _reset_after(outcome)


def _reset_after(outcome: Outcome) -> float | None:
    """X-RateLimit-Reset-After as seconds (at most MAX_BUCKET_PAUSE_S), or None when it is absent or
    not a finite number of seconds ≥ 0."""
    after = answers.header(outcome, "x-ratelimit-reset-after")
    try:
        seconds = _seconds(float(after)) if after is not None else None
    except ValueError:
        return None
    # Discord's buckets refill within seconds: a longer time is not a bucket's, and believing it would
    # slow the hook to one message per max_delay without a failure to show for it.
    return None if seconds is None else min(seconds, MAX_BUCKET_PAUSE_S)


def _seconds(wait: object) -> float | None:
    """A 429's retry_after as seconds, or None when it is not a finite number of seconds ≥ 0 (the
    receiver wrote it: a NaN, a negative, or an integer too big for a float is ignored, and the
    Retry-After header, if any, decides)."""
    if not isinstance(wait, int | float) or isinstance(wait, bool):
        return None
    try:
        seconds = float(wait)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _said(answer: Mapping[str, object]) -> str:
    """Discord's error JSON as a phrase: `Invalid Form Body (code 50035)`."""
    message = answer.get("message")
    code = answer.get("code")
    text = message if isinstance(message, str) else ""
    if isinstance(code, int) and not isinstance(code, bool):
        text += f" (code {code})"
    fields = _field_errors(answer.get("errors"), "")
    if fields:
        text += ": " + "; ".join(fields[:3])
    return text.strip()


def _field_errors(errors: object, path: str) -> list[str]:
    """Discord's per-field detail, {"embeds": {"0": {"title": {"_errors": [{code, message}]}}}}, as
    `embeds.0.title: Must be 256 or fewer in length.`"""
    if not isinstance(errors, dict):
        return []
    found: list[str] = []
    for key, inner in errors.items():
        if key == "_errors" and isinstance(inner, list):
            for item in inner:
                if isinstance(item, dict):
                    said = item.get("message") or item.get("code")
                    found.append(f"{path or 'body'}: {said}")
        else:
            found.extend(_field_errors(inner, f"{path}.{key}" if path else str(key)))
    return found


DISCORD = Discord()
