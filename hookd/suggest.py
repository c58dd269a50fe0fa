""" "Did you mean": the closest known name to a mistyped one, computed the same way everywhere."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's ratio: 0.6 catches one or two wrong letters in a short name without pairing unrelated ones.
DEFAULT_CUTOFF = 0.6


def closest(word: str, options: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str | None:
    """The option most like `word`, or None when none is close enough."""
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def did_you_mean(word: str, options: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str:
    """`; did you mean 'x'?` to append to a message, or "" when nothing is close."""
    match = closest(word, options, cutoff=cutoff)
    return f"; did you mean {match!r}?" if match is not None else ""
