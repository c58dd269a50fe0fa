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

_ALL: tuple[Preset, ...] = (SLACK, TEAMS, DISCORD, MATTERMOST, ZAPIER, IFTTT)
# A plain dict typed as read-only: tests swap an entry with monkeypatch.setitem.
PRESETS: Mapping[str, Preset] = {p.name: p for p in _ALL}

__all__ = ["PRESETS", "Preset", "PresetError"]
