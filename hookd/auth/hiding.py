"""Secrets made while sending (OAuth2 tokens, JWTs): hidden by value in what the sender returns and
logs, in the process that made them, before the daemon sees anything.

The config's own secrets are hidden by the daemon (each hook's Redactor); these never reach it, so
the sender hides them itself, with a Redactor of its own (every spelling a receiver may echo them
in). A Redactor costs ~70 µs per character of its secrets to build, far too much for a JWT made per
request, so one is built only for the values a text may hold: a cheap look for each value's marks
first (the runs of it that JSON, URL and HTML escaping leave as they are, its base64, its first
characters at the end of a cut-off text), then the Redactor for those values alone.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from hookd.redact import CUT_PREFIX_CHARS, MIN_SECRET_CHARS, REDACTED, RedactingFilter, Redactor, base64_fragments
from hookd.senders.base import Outcome, redact_outcome

KEPT_VALUES = 64  # the most recent values hidden: a replaced token may still come back in a late answer
_REDACTORS_KEPT = 8
# Characters that JSON, URL (percent) and HTML escaping leave as they are; any other may be escaped.
_ESCAPED_CHARACTERS = re.compile(r"[^A-Za-z0-9._~-]+")
_MARK_CHARS = 8  # a run shorter than this could turn up in ordinary text
_LONGEST_CHAR_FORM = 12  # as hookd.redact: how far a cut-off value's first characters may reach back


class _Marks:
    """What a text holding one value, in any spelling the Redactor knows but one escaping every
    letter and digit, must contain."""

    __slots__ = ("head", "reach", "runs")

    def __init__(self, value: str) -> None:
        runs = [run for run in _ESCAPED_CHARACTERS.split(value) if len(run) >= _MARK_CHARS]
        # A value with no such run (all short pieces between escaped characters) is looked for by the
        # Redactor itself, in every text.
        self.runs: tuple[str, ...] = (*runs, *sorted(base64_fragments(value))) if runs else ("",)
        self.head = value[:CUT_PREFIX_CHARS]
        self.reach = len(value) * _LONGEST_CHAR_FORM

    def found_in(self, text: str, cut: bool) -> bool:
        if any(run in text for run in self.runs):
            return True
        return cut and self.head in text[-self.reach :]


class RunTimeSecrets:
    """The values one sending process made (tokens it fetched, each request's JWT), hidden in the
    outcomes it returns and the log lines it writes."""

    def __init__(self) -> None:
        self._kept: OrderedDict[str, _Marks] = OrderedDict()
        self._redactors: OrderedDict[tuple[str, ...], Redactor] = OrderedDict()

    def add(self, value: str) -> None:
        """Hide `value` from now on (a fetched token). Values shorter than MIN_SECRET_CHARS are not
        hidden by value, as in hookd.redact."""
        if len(value) < MIN_SECRET_CHARS:
            return
        marks = self._kept.pop(value) if value in self._kept else _Marks(value)
        self._kept[value] = marks
        while len(self._kept) > KEPT_VALUES:
            self._kept.popitem(last=False)

    def outcome(self, outcome: Outcome, made: Iterable[str] = ()) -> Outcome:
        """`outcome` with every kept value, and each of `made` (this request's own), hidden."""
        texts = [outcome.error, *outcome.response_headers.values(), *(hop.url for hop in outcome.hops)]
        found = [
            value
            for value, marks in self._candidates(made)
            if marks.found_in(outcome.response_excerpt, outcome.response_truncated)
            or any(marks.found_in(text, False) for text in texts)
        ]
        if not found:
            return outcome
        return redact_outcome(outcome, self._redactor(found))

    def text(self, text: str) -> str:
        """`text` with every kept value hidden."""
        found = self._found(text)
        return self._redactor(found).text(text) if found else text

    def hide_in_record(self, record: logging.LogRecord) -> None:
        """Hide every kept value in a log record's message, fields and traceback."""
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info and not record.exc_text:
            text += logging.Formatter().formatException(record.exc_info)
        found = self._found(text)
        if found:
            RedactingFilter(self._redactor(found)).filter(record)

    def log_filter(self) -> logging.Filter:
        """A filter for a log handler: the kept values hidden in each record it passes."""
        return _HidingFilter(self)

    def _found(self, text: str) -> list[str]:
        return [value for value, marks in self._kept.items() if marks.found_in(text, False)]

    def _candidates(self, made: Iterable[str]) -> Iterator[tuple[str, _Marks]]:
        yield from self._kept.items()
        for value in made:
            if len(value) >= MIN_SECRET_CHARS and value not in self._kept:
                yield value, _Marks(value)

    def _redactor(self, values: list[str]) -> Redactor:
        key = tuple(sorted(values))
        redactor = self._redactors.pop(key, None) or Redactor((value, REDACTED) for value in key)
        self._redactors[key] = redactor
        while len(self._redactors) > _REDACTORS_KEPT:
            self._redactors.popitem(last=False)
        return redactor


class _HidingFilter(logging.Filter):
    def __init__(self, secrets: RunTimeSecrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        self.secrets.hide_in_record(record)
        return True
