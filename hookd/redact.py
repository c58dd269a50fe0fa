"""Keep secrets out of messages, logs and the database.

Two kinds of rule: by name (a header called Authorization, a query parameter called token, a URL's
user:password) and by value (every value the config took from `${VAR}` or `${file:...}`, wherever
it turns up). A value is also found in the forms a receiver or a library may echo it in:
percent-encoded (any mix of characters, either case of hex digits, `+` for a space), JSON- or
HTML-escaped, and base64 (as in `Authorization: Basic base64(user:secret)`, whatever precedes it).
"""

from __future__ import annotations

import base64
import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hookd.logs import LogLine

REDACTED = "***"
# A substituted value shorter than this is not hidden by value: it could match ordinary text (and
# garble every message), and its base64 form would be too short to recognise. `hookd validate`
# warns about each one, naming its variable.
MIN_SECRET_CHARS = 8
_SECRET_NAME = re.compile(r"auth|token|secret|key|sig|password|passwd|cookie|session|credential", re.I)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_=-]")
_HTML_ESCAPES = {"&": ("&amp;", "&#38;"), "<": ("&lt;", "&#60;"), ">": ("&gt;", "&#62;"),
                 '"': ("&quot;", "&#34;"), "'": ("&#39;", "&#x27;", "&apos;")}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """Drop user:password and the values of secret-looking query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="*${}")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in headers.items()}


def redact_text(text: str, url: str) -> str:
    """An error message with the URL's secrets (if it appears) replaced by the redacted URL."""
    if url and url in text:
        text = text.replace(url, redact_url(url))
    parts = urlsplit(url) if url else None
    if parts and parts.password:
        text = text.replace(parts.password, REDACTED)
    return text


def _char_pattern(c: str) -> str:
    """A regex for one character of a secret in any of the forms it may be echoed in."""
    forms = {re.escape(c)}
    forms.add("".join(f"%(?i:{byte:02x})" for byte in c.encode("utf-8")))
    if c == " ":
        forms.add(r"\+")
    if c == "+":
        forms.add(" ")  # a form decoder's reading of a `+` it was not meant to decode
    if c in '"\\/':
        forms.add(re.escape("\\" + c))
    if not c.isascii() or not c.isprintable():
        forms.add(re.escape(f"\\u{ord(c):04x}") if ord(c) <= 0xFFFF else re.escape(c.encode("unicode_escape").decode()))
    forms.update(re.escape(e) for e in _HTML_ESCAPES.get(c, ()))
    return forms.pop() if len(forms) == 1 else "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


def base64_fragments(value: str) -> set[str]:
    """The base64 text that encodes `value` wherever it sits in the encoded bytes: for each of the
    three alignments, the characters of the groups made of its bytes alone (standard and URL-safe
    alphabets). One of these appears in the base64 of any text that contains `value`."""
    raw = value.encode("utf-8")
    fragments = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        first = -(-offset // 3)  # the first group that starts inside the value
        last = (offset + len(raw)) // 3  # groups before this one end inside it
        if last > first:
            fragment = encoded[first * 4 : last * 4]
            fragments.add(fragment)
            fragments.add(fragment.replace("+", "-").replace("/", "_"))
    return fragments


class Redactor:
    """Redaction that also knows the config's own secrets: every value that came from `${VAR}` or
    `${file:...}` is shown as that reference, wherever it appears (a Slack URL path, a header named
    X-Api, an error text, a response that echoes the request), on top of the name-based rules above.
    Values shorter than MIN_SECRET_CHARS are left alone (`hookd validate` warns about them)."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()) -> None:
        kept = {value: ref for value, ref in secrets if len(value) >= MIN_SECRET_CHARS}
        self.secrets: tuple[tuple[str, str], ...] = tuple(kept.items())
        self._refs: dict[str, str] = {}  # a regex group name -> the reference it stands for
        text_parts: list[str] = []
        b64_parts: list[str] = []
        # Longest first, so a value that contains another is replaced whole.
        for i, (value, ref) in enumerate(sorted(kept.items(), key=lambda item: -len(item[0]))):
            self._refs[f"s{i}"] = ref
            text_parts.append(f"(?P<s{i}>{''.join(_char_pattern(c) for c in value)})")
            fragments = sorted(base64_fragments(value), key=len, reverse=True)
            b64_parts.append(f"(?P<s{i}>{'|'.join(re.escape(f) for f in fragments)})")
        self._text = re.compile("|".join(text_parts)) if text_parts else None
        self._base64 = re.compile("|".join(b64_parts)) if b64_parts else None

    def __bool__(self) -> bool:
        return self._text is not None

    def contains_secret(self, text: str) -> bool:
        return self.text(text) != text

    def text(self, text: str) -> str:
        if not text or self._text is None or self._base64 is None:
            return text
        text = self._text.sub(self._reference, text)
        return self._hide_base64(text)

    def _reference(self, m: re.Match[str]) -> str:
        return self._refs[m.lastgroup or ""]

    def _hide_base64(self, text: str) -> str:
        """Each run of base64 characters that holds a secret becomes `<base64 with ${VAR}>`."""
        assert self._base64 is not None
        out: list[str] = []
        end = 0
        for m in self._base64.finditer(text):
            start, stop = m.span()
            if start < end:
                continue  # inside a run already hidden
            while start > end and _BASE64_RUN.match(text, start - 1):
                start -= 1
            while stop < len(text) and _BASE64_RUN.match(text, stop):
                stop += 1
            out.append(text[end:start])
            out.append(f"<base64 with {self._refs[m.lastgroup or '']}>")
            end = stop
        if not out:
            return text
        out.append(text[end:])
        return "".join(out)

    def url(self, url: str) -> str:
        return redact_url(self.text(url))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        if self._text is None:  # the common case, on every attempt recorded
            return redact_headers(headers)
        return {k: (REDACTED if is_secret_name(k) else self.text(v)) for k, v in headers.items()}

    def response_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers a receiver sent: as `headers`, and a Location is a URL (its credentials go too)."""
        out = self.headers(headers)
        for k, v in out.items():
            if k.lower() == "location" and v != REDACTED:
                out[k] = self.url(v)
        return out

    def value(self, value: object) -> object:
        """A JSON value (a rendered body, say) with every string and key redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Put on a log handler: every message and traceback it writes goes through the Redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor:
            return True
        # The message's parts are redacted one by one, not the rendered line: a LogLine stays one (its
        # fields are JSON keys) and %-style arguments stay arguments (the formatter escapes them).
        text = self.redactor.text
        if isinstance(record.msg, LogLine):
            line = record.msg.plain()
            fields = {key: text(v) if isinstance(v, str) else v for key, v in line.fields.items()}
            record.msg = LogLine(text(line.message), fields)
        else:
            record.msg = text(str(record.msg))
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted_argument(text, v) for key, v in record.args.items()}
        elif record.args:
            record.args = tuple(_redacted_argument(text, v) for v in record.args)
        for name, value in vars(record).items():
            # Fields given with `extra=` (structured log lines) are written out too.
            if name not in _RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, self.redactor.text(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor.text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        return True


def _redacted_argument(text: Callable[[str], str], value: object) -> object:
    if value is None or isinstance(value, int | float):
        return value
    return text(str(value))


def redact_log_handlers(redactor: Redactor) -> None:
    """Make every handler of hookd's logger redact with `redactor`, replacing a filter an earlier
    call put there. Call it after logging is set up (`hookd serve` does, at the daemon's start)."""
    for handler in logging.getLogger("hookd").handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(RedactingFilter(redactor))
