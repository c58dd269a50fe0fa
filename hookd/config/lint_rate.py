"""Checks of rate limits the schema cannot express (it refuses rate_limit beside rate_limit_group): a
hook's `rate_limit_group` names a group declared under `delivery.rate_limit_groups`, every declared
group is used, and every rate is one hookd runs with (above 0, within bounds)."""

from __future__ import annotations

import re
from typing import Protocol

from hookd.config.located import PathKey
from hookd.config.schema import schema
from hookd.errors import Severity
from hookd.suggest import did_you_mean
from hookd.units import RATE_PATTERN, parse_rate

# The schema's own pattern for a rate: what does not match it, the schema reports (one error, not two).
_FORM = re.compile(RATE_PATTERN)


class Add(Protocol):
    def __call__(self, path: PathKey, message: str, severity: Severity = "error", *, key: bool = False) -> None: ...


def lint_rate_limits(data: dict[str, object], add: Add) -> None:
    delivery = data.get("delivery")
    raw_groups = delivery.get("rate_limit_groups") if isinstance(delivery, dict) else None
    groups = raw_groups if isinstance(raw_groups, dict) else {}
    for name, rate in groups.items():
        _rate(rate, ("delivery", "rate_limit_groups", name), add)
    used: set[str] = set()
    hooks = data.get("hooks")
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        if not isinstance(hook, dict):
            continue
        _rate(hook.get("rate_limit"), ("hooks", i, "rate_limit"), add)
        group = hook.get("rate_limit_group")
        if not isinstance(group, str):
            continue  # absent, or the schema reports it
        used.add(group)
        if "rate_limit" in hook:
            continue  # both keys: the schema says so (dependentSchemas), and which to keep
        if group not in groups:
            hint = did_you_mean(group, groups) or (
                f"; declare it once, like delivery: {{rate_limit_groups: {{{group}: 100/min}}}}"
            )
            add(
                ("hooks", i, "rate_limit_group"),
                f"rate limit group {group!r} is not declared under delivery.rate_limit_groups{hint}",
            )
    for name in groups:
        if name not in used and _is_a_name(name):  # a name the schema refuses has its error; no warning too
            add(
                ("delivery", "rate_limit_groups", name),
                f"rate limit group {name!r} is not used by any hook; name it in a hook's rate_limit_group, "
                "or remove it",
                "warning",
                key=True,
            )


def _rate(rate: object, path: PathKey, add: Add) -> None:
    """A rate of the schema's form (a count, `/`, a unit hookd takes) that hookd cannot run with: a count
    of 0 (it would hold every delivery for ever), or one outside RATE_BOUNDS (a huge one broke /status's
    JSON, a tiny one its dates). A rate not of that form (100/day, 5/S) the schema reports, with
    parse_rate's reason."""
    if isinstance(rate, str) and _FORM.match(rate) is not None:
        try:
            parse_rate(rate)
        except ValueError as e:
            add(path, str(e))


def _is_a_name(text: str) -> bool:
    """Whether `text` is a name the schema takes (its `name` def), which a hook could give."""
    defs = schema()["$defs"]
    pattern = defs["name"]["pattern"] if isinstance(defs, dict) else ""
    return re.fullmatch(pattern, text) is not None
