"""The Preset interface: the body a chat or automation service expects, and its reading of the answer.

A hook with `preset:` sends what the preset builds from the hook's rendered `message` and
`preset_options` (and, for presets that send event fields, the event envelope), and the daemon hands
every outcome of such a hook to the preset's `classify` before it plans the retry: a service that
answers 200 with an error in the body, or 429 with its wait in a JSON body, is read the way it means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, Protocol

from hookd.senders.base import Outcome

# What a preset option holds once rendered: text, true/false, an object, a list of objects, or any
# JSON value. Validate checks an option written without {{ }} against it, and stands a value of the
# kind in for a templated one when it tries a body.
OptionKind = Literal["text", "flag", "object", "objects", "any"]


class PresetError(ValueError):
    """A body the service would refuse (a Discord content over 2000 characters, an option of the wrong
    type): the delivery fails as a render error does, with this sentence as its reason. `option`: the
    preset_options key at fault, when one is (validate points there; otherwise at the message)."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class Preset(Protocol):
    name: str  # "slack", ...
    options: Mapping[str, OptionKind]  # the preset_options keys it takes (validate refuses others), by kind

    @property
    def escape_value(self) -> Callable[[str], str] | None:
        """How each value a `{{ }}` puts into the message or an option is escaped for the service's
        markup (Slack's &, <, > as entities), so event data shows as text and cannot ping a channel or
        disguise a link; the config author's literal markup is not escaped. None: values go in as they
        are. (A class attribute in each preset.)"""
        ...

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        """The JSON value to send, from the rendered message, the rendered options and the event
        envelope. Pure; raises PresetError for a body the service would refuse."""
        ...

    def classify(self, outcome: Outcome) -> Outcome:
        """The outcome as the service means it (ok, retryable, retry_after_s, a readable error), from
        the status, kept headers and body excerpt the sender recorded. Pure; never raises."""
        ...
