"""Chat and automation presets (a hook's `preset:`): the body each service documents, built from the
hook's rendered `message` and `preset_options`, and the service's reading of its own answers.

PRESETS maps a preset's name (as a config writes it) to its Preset; validate checks a hook's
`preset` and its `preset_options` keys against it, and rendering (hookd.rendering) calls `body`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from hookd.senders.base import Outcome


class PresetError(Exception):
    """A body the service would refuse (a message over its length limit, say): the message is one
    sentence saying what and how to fix it. It fails the delivery as a render error does."""


class Preset(Protocol):
    name: str  # as a config writes it: "slack", ...
    options: frozenset[str]  # the preset_options keys it takes (validate refuses others)

    def body(self, message: str, options: Mapping[str, object], event: Mapping[str, object]) -> object:
        """The JSON value to send, from the rendered message and options and the event envelope.
        Pure; raises PresetError, and nothing else, for what the event or the options can cause."""
        ...

    def classify(self, outcome: Outcome) -> Outcome:
        """The outcome as the service means it (a 200 with an error body is a failure, a JSON
        retry_after is retry_after_s). Pure."""
        ...


PRESETS: Mapping[str, Preset] = {}
