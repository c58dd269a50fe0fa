"""Reading a service's answer from an Outcome as the sender recorded it (pure).

The sender keeps the status, a few headers (lower-case names) and the start of the body; a preset
reads those and returns the outcome with what the service meant: ok or not, retryable or not, the
wait it asked for, and an error naming the service and its own words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hookd import jsonvalue
from hookd.senders.base import Outcome, OutcomeKind
from hookd.senders.http import REFUSED_RENEWED

_SHOWN_CHARS = 200  # of the body, in an error: enough for a service's error code and sentence


def header(outcome: Outcome, name: str) -> str | None:
    """A kept response header, by any spelling of its name."""
    wanted = name.lower()
    for key, value in outcome.response_headers.items():
        if key.lower() == wanted:
            return value
    return None


def body_text(outcome: Outcome) -> str:
    """The body excerpt on one line, cut to a length an error can show ("" for an empty body)."""
    flat = " ".join(outcome.response_excerpt.split())
    return flat if len(flat) <= _SHOWN_CHARS else flat[: _SHOWN_CHARS - 1] + "…"


def json_object(outcome: Outcome) -> Mapping[str, object] | None:
    """The body as a JSON object, when it is one (a cut-off excerpt is not); None for any body that
    cannot be read, however it is written. The receiver chose these bytes: a body nested deeper than
    hookd's nesting limit (jsonvalue.MAX_DEPTH) is not read, so nothing that walks the answer later can
    run out of stack, and a number that overflows a double is refused."""
    if outcome.response_truncated or not outcome.response_excerpt.lstrip().startswith("{"):
        return None
    try:
        value = jsonvalue.loads(outcome.response_excerpt)
    except (ValueError, RecursionError):  # JsonValueError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def answered(service: str, outcome: Outcome, said: str) -> str:
    """ "Slack answered 404 channel_not_found": the service, the status and what it said."""
    return f"{service} answered {outcome.status}" + (f" {said}" if said else "")


def failed(
    outcome: Outcome, error: str, *, retryable: bool, retry_after_s: float | None = None, throttled: bool = False
) -> Outcome:
    """The outcome as a failure with this reason. A retryable one keeps the wait the sender read
    from Retry-After unless a longer one is given; a final one asks for no wait. `throttled`: the
    service said it was sent too much (kind rate_limited, which holds the hook's lane)."""
    if not retryable:
        wait = None
    elif retry_after_s is None:
        wait = outcome.retry_after_s
    else:
        wait = max(retry_after_s, outcome.retry_after_s or 0.0)
    # An answer read as a failure is no longer "delivered" (a Slack 200 that is not `ok`): what keys
    # off the kind (breakers, metrics) sees what classify decided. Other kinds already say why.
    kind: OutcomeKind = "http_status" if outcome.kind == "delivered" else outcome.kind
    if throttled:
        kind = "rate_limited"
    if outcome.error.endswith(REFUSED_RENEWED) and not error.endswith(REFUSED_RENEWED):
        error += REFUSED_RENEWED  # the sender's note on a token fetched anew stays true
    return replace(outcome, ok=False, retryable=retryable, error=error, retry_after_s=wait, kind=kind)


def succeeded(outcome: Outcome, *, pause_s: float | None = None) -> Outcome:
    """The outcome as a success: the service received the message (kind "delivered"). `pause_s`: the
    service asked for this long before the next message (its rate-limit bucket is empty)."""
    return replace(outcome, ok=True, retryable=False, error="", retry_after_s=pause_s, kind="delivered")


def explained(error: str, hint: str) -> str:
    """`error: hint`, without a full stop of the service's before the colon."""
    return f"{error.rstrip('.')}: {hint}" if hint else error


def with_reason(
    service: str,
    outcome: Outcome,
    said: str,
    hint: str = "",
    *,
    retry_after_s: float | None = None,
    holds_lane: bool = False,
) -> Outcome:
    """A failure as the sender classified it (retryable or not by its status), its reason in the
    service's words instead of the bare status. `retry_after_s`: a wait the service asked for in its
    own way, kept as `failed` keeps one; `holds_lane`: that wait is for every request to the hook."""
    error = explained(answered(service, outcome, said), hint)
    read = failed(outcome, error, retryable=outcome.retryable, retry_after_s=retry_after_s)
    if not holds_lane or retry_after_s is None:
        return read
    # Kept on a final failure too: the hook's other deliveries wait it out, though this one is done.
    return replace(read, holds_lane=True, retry_after_s=read.retry_after_s if read.retryable else retry_after_s)
