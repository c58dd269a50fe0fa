"""Checks of rate limits the schema cannot express: a hook's `rate_limit_group` names a group declared
under `delivery.rate_limit_groups`, a hook does not set both keys, every declared group is used, and
no rate is zero."""

from __future__ import annotations

import re
from typing import Protocol

from hookd.config.located import PathKey
from hookd.errors import Severity
from hookd.suggest import did_you_mean

_COUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/")


class Add(Protocol):
    def __call__(self, path: PathKey, message: str, severity: Severity = "error", *, key: bool = False) -> None: ...


def lint_rate_limits(data: dict[str, object], add: Add) -> None:
    delivery = data.get("delivery")
    raw_groups = delivery.get("rate_limit_groups") if isinstance(delivery, dict) else None
    groups = raw_groups if isinstance(raw_groups, dict) else {}
    for name, rate in groups.items():
        _not_zero(rate, ("delivery", "rate_limit_groups", name), add)
    used: set[str] = set()
    hooks = data.get("hooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if not isinstance(hook, dict):
            continue
        _not_zero(hook.get("rate_limit"), ("hooks", i, "rate_limit"), add)
        group = hook.get("rate_limit_group")
        if not isinstance(group, str):
            continue  # absent, or the schema reports it
        used.add(group)
        if "rate_limit" in hook:
            add(
                ("hooks", i, "rate_limit_group"),
                "rate_limit and rate_limit_group both limit this hook; keep one: rate_limit for a limit of its "
                "own, or rate_limit_group to share the group's",
                key=True,
            )
        elif group not in groups:
            hint = did_you_mean(group, groups) or (
                f"; declare it once, like delivery: {{rate_limit_groups: {{{group}: 100/min}}}}"
            )
            add(
                ("hooks", i, "rate_limit_group"),
                f"rate limit group {group!r} is not declared under delivery.rate_limit_groups{hint}",
            )
    for name in groups:
        if name not in used:
            add(
                ("delivery", "rate_limit_groups", name),
                f"rate limit group {name!r} is not used by any hook; name it in a hook's rate_limit_group, "
                "or remove it",
                "warning",
                key=True,
            )


def _not_zero(rate: object, path: PathKey, add: Add) -> None:
    """A well-formed rate of 0 (the schema checks the form): it would hold every delivery for ever."""
    if isinstance(rate, str) and (m := _COUNT.match(rate)) is not None and float(m.group(1)) == 0:
        add(path, f"{rate!r} would never send anything; give a count above 0, like 100/min")
