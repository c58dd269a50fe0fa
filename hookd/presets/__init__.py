"""Chat and automation presets (a hook's `preset:`), one module per service, registered by name."""

from __future__ import annotations

from collections.abc import Mapping

from hookd.presets.base import Preset, PresetError
from hookd.presets.discord import DISCORD
from hookd.presets.ifttt import IFTTT
from hookd.presets.mattermost import MATTERMOST
from hookd.presets.slack import SLACK
from hookd.presets.teams import TEAMS
from hookd.presets.zapier import ZAPIER
from hookd.senders.base import Outcome, OutcomeKind

_ALL: tuple[Preset, ...] = (SLACK, TEAMS, DISCORD, MATTERMOST, ZAPIER, IFTTT)
# A plain dict typed as read-only: tests swap an entry with monkeypatch.setitem.
PRESETS: Mapping[str, Preset] = {p.name: p for p in _ALL}

# The outcomes that are the service's answer to read. The others (a redirect not followed, a proxy's
# refusal, no answer at all) carry the sender's own explanation, which a preset has nothing to add to.
_ANSWERS: frozenset[OutcomeKind] = frozenset({"delivered", "http_status", "rate_limited"})


def read_answer(preset: Preset, outcome: Outcome) -> Outcome:
    """`outcome` as `preset` reads its service's answer (the daemon, and `hookd test --send`)."""
    return preset.classify(outcome) if outcome.kind in _ANSWERS else outcome


__all__ = ["PRESETS", "Preset", "PresetError", "read_answer"]
