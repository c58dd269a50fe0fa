"""Secrets made while sending (OAuth2 tokens, JWTs): hidden by value in what the sender returns and
logs, in the process that made them, before the daemon sees anything.

The config's own secrets are hidden by the daemon (each hook's Redactor); these never reach it, so
the sender hides them itself, with a Redactor of its own (every spelling a receiver may echo them
in). A Redactor costs ~70 µs per character of its secrets to build, far too much for a JWT made per
request, so one is built only for the values a text may hold: a cheap look for each value's marks
first (the runs of it that JSON, URL and HTML escaping leave as they are, its base64, its first
characters at the end of a cut-off text), then the Redactor for those values alone. A text holding
character escapes (%XX, \\uXXXX, &#...;) is looked at with them decoded too: a receiver may escape
every character of a value, and then none of its runs is left as it was.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from hookd.redact import CUT_PREFIX_CHARS, MIN_SECRET_CHARS, REDACTED, RedactingFilter, Redactor, base64_fragments
from hookd.senders.base import Outcome, redact_outcome, relay_text

# The most recent values of each kind hidden: fetched tokens (a replaced one may still come back in a
# late answer) and values made for one request (a receiver may echo an earlier request's JWT).
KEPT_VALUES = 64
_REDACTORS_KEPT = 8
# Characters that JSON, URL (percent) and HTML escaping leave as they are; any other may be escaped.
_ESCAPED_CHARACTERS = re.compile(r"[^A-Za-z0-9._~-]+")
_MARK_CHARS = 8  # a run shorter than this could turn up in ordinary text
# How much of each mark a text is first looked for: the JWTs of one hook share more than this (their
# header), and a longer needle is found faster (about twice as fast as one of 8 characters).
_START_CHARS = 32
# One character spelled as an escape, as hookd.redact knows them: percent-encoded, JSON's \\uXXXX and
# short escapes (Python's \\UXXXXXXXX and \\xXX too), HTML's character references.
_CHARACTER_ESCAPE = re.compile(
    r"%([0-9A-Fa-f]{2})|\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})|\\x([0-9A-Fa-f]{2})|\\([\\/\"bfnrt])"
    r"|&#0*([0-9]{1,7});|&#[xX]0*([0-9A-Fa-f]{1,6});|&((?i:amp|lt|gt|quot|apos));"
)
# The same escapes of the characters a mark is made of only (A-Z a-z 0-9 - . _ ~, by their codes in
# hex and decimal): the others (a %20, an &amp;, a \\u00e9, common in any text) cannot hide a mark,
# and decoding them would cost a call each.
_MARK_HEX = r"(?:2[DdEe]|3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|5[Ff]|7[Ee])"
_MARK_DECIMAL = r"(?:4[5689]|5[0-7]|6[5-9]|[78][0-9]|9[057-9]|1[01][0-9]|12[0-26])"
_MARK_ESCAPE = re.compile(
    rf"%({_MARK_HEX})|\\(?:u00|U000000|x)({_MARK_HEX})|&#0*({_MARK_DECIMAL});|&#[xX]0*({_MARK_HEX});"
)
_SHORT = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
# An escape cut off at the end of a cut-off text.
_CUT_ESCAPE = re.compile(r"(?:%[0-9A-Fa-f]?|\\(?:[uUx][0-9A-Fa-f]*)?|&[#xX]{0,2}[0-9A-Za-z]{0,8})\Z")
_LONGEST_CHAR_FORM = 12  # as hookd.redact: `\\UXXXXXXXX` or `&#x0010FFFF;`, one character


def _unescaped_character(m: re.Match[str]) -> str:
    percent, u4, u8, x2, short, decimal, hexadecimal, named = m.groups()
    if short is not None:
        return _SHORT.get(short, short)
    if named is not None:
        return _NAMED[named.lower()]
    code = int(decimal) if decimal is not None else int(percent or u4 or u8 or x2 or hexadecimal, 16)
    # Only ASCII: a byte of a longer UTF-8 sequence is no character of its own.
    return chr(code) if code < 0x80 else m.group()


def _unescaped_mark_character(m: re.Match[str]) -> str:
    percent, escaped, decimal, hexadecimal = m.groups()
    return chr(int(decimal) if decimal is not None else int(percent or escaped or hexadecimal, 16))


def _spellings(text: str) -> list[str]:
    """`text`, and `text` with the escapes of mark characters decoded when it has any."""
    # Most texts hold none of the characters an escape starts with: a scan each, far cheaper than the regex.
    if ("%" not in text and "\\" not in text and "&" not in text) or _MARK_ESCAPE.search(text) is None:
        return [text]
    return [text, _MARK_ESCAPE.sub(_unescaped_mark_character, text)]


def _cut_spellings(text: str, longest: int) -> list[str]:
    """The end of a cut-off text that may hold the first part of a value up to `longest` characters
    long: as it is and with every character escape decoded, each also without what may be an escape
    cut off at its end (or may be the value's own `&`, `%` or `\\`)."""
    end = text[-(longest + 1) * _LONGEST_CHAR_FORM :]
    decoded = _CHARACTER_ESCAPE.sub(_unescaped_character, end)
    spellings = dict.fromkeys([end, decoded])
    return list(dict.fromkeys([*spellings, *(_CUT_ESCAPE.sub("", spelling) for spelling in spellings)]))


class _Marks:
    """What a text holding one value, in any spelling the Redactor knows, must contain once its
    character escapes are decoded."""

    __slots__ = ("head", "runs", "value")

    def __init__(self, value: str) -> None:
        self.value = value
        runs = [run for run in _ESCAPED_CHARACTERS.split(value) if len(run) >= _MARK_CHARS]
        # A value with no such run (all short pieces between escaped characters) is looked for by the
        # Redactor itself, in every text.
        self.runs: tuple[str, ...] = (*runs, *sorted(base64_fragments(value))) if runs else ("",)
        self.head = value[:CUT_PREFIX_CHARS]

    def found_in(self, texts: str) -> bool:
        return any(run in texts for run in self.runs)

    def ends(self, text: str) -> bool:
        """Whether `text` (a spelling of the end of a cut-off text) ends in the value's first
        CUT_PREFIX_CHARS characters or more, as a text cut off in the value does."""
        pos = text.find(self.head, max(0, len(text) - len(self.value)))
        while pos != -1:
            # A form decoder reads a `+` as a space.
            if self.value.startswith(text[pos:]) or self.value.startswith(text[pos:].replace(" ", "+")):
                return True
            pos = text.find(self.head, pos + 1)
        return False


class RunTimeSecrets:
    """The values one sending process made (tokens it fetched, each request's JWT), hidden in the
    outcomes it returns and the log lines it writes."""

    def __init__(self) -> None:
        self._fetched: OrderedDict[str, None] = OrderedDict()
        self._per_request: OrderedDict[str, None] = OrderedDict()
        self._marks: dict[str, _Marks] = {}  # each value kept, of either kind
        # The first characters of each mark -> (the mark, its value) of each mark that starts so: a text
        # is looked at once per distinct start (the JWTs of a hook start alike), and for a mark in full
        # only on a hit.
        self._by_start: dict[str, list[tuple[str, str]]] = {}
        self._by_head: dict[str, set[str]] = {}  # likewise the first characters of each value
        self._longest = 0  # characters of the longest value kept so far
        self._redactors: OrderedDict[tuple[str, ...], Redactor] = OrderedDict()

    def add(self, value: str) -> None:
        """Hide `value` from now on (a fetched token). Values shorter than MIN_SECRET_CHARS are not
        hidden by value, as in hookd.redact."""
        self._keep(self._fetched, value)

    def add_per_request(self, value: str) -> None:
        """Hide `value` from now on (made for one request, a JWT): among the last KEPT_VALUES such."""
        self._keep(self._per_request, value)

    def _keep(self, kept: OrderedDict[str, None], value: str) -> None:
        if len(value) < MIN_SECRET_CHARS:
            return
        if value in kept:
            kept.move_to_end(value)
            return
        kept[value] = None
        if value not in self._marks:
            marks = self._marks[value] = _Marks(value)
            for run in marks.runs:
                self._by_start.setdefault(run[:_START_CHARS], []).append((run, value))
            self._by_head.setdefault(marks.head, set()).add(value)
            self._longest = max(self._longest, len(value))
        while len(kept) > KEPT_VALUES:
            old, _ = kept.popitem(last=False)
            if old not in self._fetched and old not in self._per_request:
                self._forget(old)

    def _forget(self, value: str) -> None:
        marks = self._marks.pop(value)
        for start in {run[:_START_CHARS] for run in marks.runs}:
            kept = [entry for entry in self._by_start[start] if entry[1] != value]
            if kept:
                self._by_start[start] = kept
            else:
                del self._by_start[start]
        values = self._by_head[marks.head]
        values.discard(value)
        if not values:
            del self._by_head[marks.head]

    def outcome(self, outcome: Outcome, made: Iterable[str] = ()) -> Outcome:
        """`outcome` with every kept value, and each of `made` (this request's own), hidden."""
        texts = [
            outcome.response_excerpt,
            outcome.error,
            *outcome.response_headers.values(),
            *(h.url for h in outcome.hops),
        ]
        if outcome.relay_body is not None:  # a sync http source's caller gets it: a token echoed back too
            texts.append(relay_text(outcome.relay_body))
        made = [value for value in made if len(value) >= MIN_SECRET_CHARS]
        cut: list[str] = []
        if outcome.response_truncated:
            cut = _cut_spellings(outcome.response_excerpt, max([self._longest, *map(len, made)]))
        found = self._found(texts, cut, made)
        if not found:
            return outcome
        return redact_outcome(outcome, self._redactor(found))

    def text(self, text: str, made: Iterable[str] = ()) -> str:
        """`text` with every kept value, and each of `made`, hidden."""
        found = self._found([text], made=[value for value in made if len(value) >= MIN_SECRET_CHARS])
        return self._redactor(found).text(text) if found else text

    def hide_in_record(self, record: logging.LogRecord) -> None:
        """Hide every kept value in a log record's message, fields and traceback."""
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info and not record.exc_text:
            text += logging.Formatter().formatException(record.exc_info)
        found = self._found([text])
        if found:
            RedactingFilter(self._redactor(found)).filter(record)

    def log_filter(self) -> logging.Filter:
        """A filter for a log handler: the kept values hidden in each record it passes."""
        return _HidingFilter(self)

    def _found(self, texts: Sequence[str], cut: Sequence[str] = (), made: Sequence[str] = ()) -> list[str]:
        """The values `texts` may hold, kept or `made` (each MIN_SECRET_CHARS long or more); `cut`: the
        spellings of the end of a text cut off there, which may end in the first part of one."""
        # A NUL joins them: no mark holds one, so none is found across two texts.
        joined = "\0".join(spelling for text in texts for spelling in _spellings(text))
        found = {
            value
            for start, marks in self._by_start.items()
            if start in joined
            for mark, value in marks
            if mark in joined
        }
        found.update(value for value in made if value not in self._marks and _Marks(value).found_in(joined))
        if cut:
            ends = "\0".join(cut)
            cut_candidates = [value for head, kept in self._by_head.items() if head in ends for value in kept]
            cut_candidates += [value for value in made if value not in self._marks]
            found.update(value for value in cut_candidates if value not in found and self._ends(value, cut))
        return sorted(found)

    def _ends(self, value: str, cut: Sequence[str]) -> bool:
        marks = self._marks.get(value) or _Marks(value)
        return any(marks.ends(spelling) for spelling in cut)

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
