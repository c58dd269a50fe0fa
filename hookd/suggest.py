""" "Did you mean" for a name the user mistyped (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name`, if one is close enough to be a likely typo; else None.
    A candidate that differs only in case always counts."""
    options = list(candidates)
    for option in options:
        if option.lower() == name.lower():
            return option
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return close[0] if close else None
