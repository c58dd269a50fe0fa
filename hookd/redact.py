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
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

from hookd.logs import LogLine

REDACTED = "***"
# A substituted value shorter than this is not hidden by value: it could match ordinary text (and
# garble every message), and its base64 form would be too short to recognise. `hookd validate`
# warns about each one, naming its variable.
MIN_SECRET_CHARS = 8
_SECRET_NAME = re.compile(r"auth|token|secret|key|sig|password|passwd|cookie|session|credential", re.I)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_=-]")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_=-")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# A cut-off text ending in this many characters of a secret or more has them hidden (fewer could be
# any text: a response cut after "wh" when a secret starts "whsec_").
CUT_PREFIX_CHARS = 4
_LONGEST_CHAR_FORM = 12  # `\ud83d\ude00` or `%F0%9F%98%80`: one character, twelve characters of text
_HTML_NAMES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}
_JSON_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t"}


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
        # Parameter by parameter, each kept as written (`?flag&x=1` stays so, an escape stays an
        # escape): only the value of one whose name looks secret is replaced.
        query = "&".join(_redact_parameter(p) for p in query.split("&"))
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def proxy_userinfo(url: str) -> tuple[str, str, str] | None:
    """A proxy URL as (`scheme://`, its userinfo, `@host:port...`), or None when it has no userinfo.
    The userinfo is everything between `://` and the last `@`: a password pasted into a proxy
    variable often holds `/`, `?` or `#` unescaped, where a URL parser ends the authority (and takes
    the password for a host, port and path); a proxy URL has no path for an `@` to be in."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    userinfo, _, host = rest.rpartition("@")
    return f"{scheme}://", userinfo, f"@{host}"


def redact_proxy_url(url: str) -> str:
    """A proxy URL with its userinfo (read as proxy_userinfo does) shown as ***."""
    parts = proxy_userinfo(url)
    if parts is None:
        return redact_url(url)
    scheme, _, host = parts
    return f"{scheme}{REDACTED}{host}"


def _redact_parameter(parameter: str) -> str:
    name, eq, _ = parameter.partition("=")
    return f"{name}={REDACTED}" if eq and is_secret_name(unquote_plus(name)) else parameter


# Header names seen not to look secret. A request's names are hookd's own and the config's, the same
# on every attempt: one set test then spares a regex search per header (bench/: every attempt is
# recorded with its headers). Bounded, as receivers' response headers come through here too.
_PLAIN_NAMES: set[str] = set()
_MAX_PLAIN_NAMES = 1024


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if _PLAIN_NAMES.issuperset(headers):
        # A plain dict is copied whole; another mapping by items(): a repeated name keeps its last value.
        return dict(headers) if type(headers) is dict else dict(headers.items())
    shown = {}
    for k, v in headers.items():
        if is_secret_name(k):
            v = REDACTED
        elif len(_PLAIN_NAMES) < _MAX_PLAIN_NAMES:
            _PLAIN_NAMES.add(k)
        shown[k] = v
    return shown


def redact_text(text: str, url: str) -> str:
    """An error message with the URL's secrets (if it appears) replaced by the redacted URL."""
    if url and url in text:
        text = text.replace(url, redact_url(url))
    parts = urlsplit(url) if url else None
    if parts and parts.password:
        text = text.replace(parts.password, REDACTED)
    return text


@functools.lru_cache(maxsize=4096)
def _char_pattern(c: str) -> str:
    return "(?:" + "|".join(_char_forms(c)) + ")"


@functools.lru_cache(maxsize=4096)
def _char_forms(c: str) -> tuple[str, ...]:
    """Regexes for one character of a secret in each spelling a text format has for it, each starting
    with a literal character (so a regex of alternatives made of them can skip ahead to one):
    raw; JSON's \\uXXXX in either case of hex (a surrogate pair beyond the BMP; .NET escapes `+`, Go
    `&`, and any encoder may escape any character) and its short escapes; %XX of its UTF-8 bytes in
    either case; an HTML character reference (decimal, hex, named)."""
    code = ord(c)
    escapes = []  # after a backslash
    if code <= 0xFFFF:
        escapes.append(f"u(?i:{code:04x})")
    else:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        escapes.append(rf"u(?i:{high:04x})\\u(?i:{low:04x})")
        escapes.append(f"U(?i:{code:08x})")  # as Python's repr and unicode_escape write it
    if code < 0x100 and not c.isprintable():
        escapes.append(f"x(?i:{code:02x})")
    if c in _JSON_SHORT_ESCAPES:
        escapes.append(re.escape(_JSON_SHORT_ESCAPES[c]))
    references = [f"#0*{code};", f"#[xX]0*(?i:{code:x});"]  # after an ampersand
    if c in _HTML_NAMES:
        references.append(f"(?i:{_HTML_NAMES[c]});")
    hex_bytes = "%".join(f"{byte:02x}" for byte in _utf8(c))
    forms = [re.escape(c), rf"\\(?:{'|'.join(escapes)})", f"&(?:{'|'.join(references)})", f"%(?i:{hex_bytes})"]
    if c == " ":
        forms.append(r"\+")
    if c == "+":
        forms.append(" ")  # a form decoder's reading of a `+` it was not meant to decode
    return tuple(forms)


def _utf8(c: str) -> bytes:
    try:
        return c.encode("utf-8", "surrogateescape")  # a byte that was not UTF-8 in the environment
    except UnicodeEncodeError:
        return c.encode("utf-8", "surrogatepass")


def base64_fragments(value: str) -> set[str]:
    """The base64 text that encodes `value` wherever it sits in the encoded bytes: for each of the
    three alignments, the characters of the groups made of its bytes alone (standard and URL-safe
    alphabets). One of these appears in the base64 of any text that contains `value`."""
    raw = b"".join(_utf8(c) for c in value)
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


def _percent_decoded(value: str) -> str | None:
    """`value` with its %XX escapes decoded, or None if it has none (or they are not UTF-8)."""
    if not _PERCENT_ESCAPE.search(value):
        return None
    try:
        decoded = unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None
    return decoded if decoded != value else None


class _CutSecret:
    """One secret, for finding its first part at the end of a cut-off text."""

    def __init__(self, value: str, ref: str) -> None:
        self.ref = ref
        self._chars = [re.compile(_char_pattern(c)) for c in value]
        self._head = re.compile("".join(_char_pattern(c) for c in value[:CUT_PREFIX_CHARS]))
        # The tail can be no longer than the whole value with every character in its longest form.
        self._reach = len(value) * _LONGEST_CHAR_FORM
        self._fragments = sorted(base64_fragments(value), key=len, reverse=True)

    def tail_start(self, text: str) -> int | None:
        """Where the text's tail that is a first part of this secret starts, if it has one."""
        pos = max(0, len(text) - self._reach)
        while (m := self._head.search(text, pos)) is not None:
            if self._runs_to_end(text, m.end(), CUT_PREFIX_CHARS):
                return m.start()
            pos = m.start() + 1
        return None

    def _runs_to_end(self, text: str, pos: int, i: int) -> bool:
        """Whether text[pos:] is the secret's characters from the i-th on, the last perhaps cut mid-escape."""
        while pos < len(text):
            if i == len(self._chars):
                return False  # the whole value, and more: not a cut-off one
            m = self._chars[i].match(text, pos)
            if m is None:
                # The last character cut inside its escape, or inside its UTF-8 bytes (decoded as U+FFFD).
                return text[pos:] == "\ufffd" or (len(text) - pos < _LONGEST_CHAR_FORM and text[pos] in "\\%&")
            pos, i = m.end(), i + 1
        return True

    def base64_tail(self, run: str) -> bool:
        """Whether a trailing run of base64 characters ends in the first part of this secret's base64."""
        for fragment in self._fragments:
            head = fragment[:CUT_PREFIX_CHARS]
            pos = run.find(head, max(0, len(run) - len(fragment)))
            while pos != -1:
                if fragment.startswith(run[pos:]):
                    return True
                pos = run.find(head, pos + 1)
        return False


class Redactor:
    """Redaction that also knows the config's own secrets: every value that came from `${VAR}` or
    `${file:...}` is shown as that reference, wherever it appears (a Slack URL path, a header named
    X-Api, an error text, a response that echoes the request), on top of the name-based rules above.
    Values shorter than MIN_SECRET_CHARS are left alone (`hookd validate` warns about them)."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()) -> None:
        kept = {value: ref for value, ref in secrets if len(value) >= MIN_SECRET_CHARS}
        self._refs: dict[str, str] = {}  # a regex group name -> the reference it stands for
        known = dict(kept)
        for value, ref in kept.items():
            # A value holding percent-escapes (an Azure SAS `sig=AbC%2Bdef%2F...`) turns up decoded too,
            # wholly or in part: a receiver echoes the parameter it parsed, a URL library tidies it.
            decoded = _percent_decoded(value)
            if decoded and len(decoded) >= MIN_SECRET_CHARS:
                known.setdefault(decoded, ref)
        # Longest first, so a value that contains another is replaced whole.
        self._known = tuple(sorted(known.items(), key=lambda item: -len(item[0])))
        text_parts: list[str] = []
        b64_parts: list[str] = []
        b64_alternatives: list[str] = []
        for i, (value, ref) in enumerate(self._known):
            self._refs[f"s{i}"] = ref
            text_parts.append(f"(?P<s{i}>{''.join(_char_pattern(c) for c in value)})")
            fragments = sorted(base64_fragments(value), key=len, reverse=True)
            alternatives = "|".join(re.escape(f) for f in fragments)
            b64_parts.append(f"(?P<s{i}>{alternatives})")
            b64_alternatives.append(alternatives)
        self._text = re.compile("|".join(text_parts)) if text_parts else None
        # The first two characters of any secret, in a regex that is only alternatives starting with a
        # literal character: re skips ahead to those, so text without a secret costs about a scan.
        gate = {form + _char_pattern(value[1]) for value, _ in self._known for form in _char_forms(value[0])}
        self._gate = re.compile("|".join(sorted(gate))) if gate else None
        self._base64 = re.compile("|".join(b64_parts)) if b64_parts else None
        # The same fragments without named groups: a scan about five times cheaper, so text holding no
        # secret's base64 (nearly every response) is not run through the grouped pattern.
        self._base64_gate = re.compile("|".join(b64_alternatives)) if b64_alternatives else None
        self._cut: tuple[_CutSecret, ...] | None = None  # built on the first cut-off text

    def __bool__(self) -> bool:
        return self._text is not None

    def contains_secret(self, text: str) -> bool:
        return self.text(text) != text

    def text(self, text: str, *, cut: bool = False) -> str:
        """`text` with each secret shown as its reference. `cut`: the text is the start of a longer one
        (a response excerpt), so it may end in the first part of a secret, which is hidden too."""
        if not text or self._text is None or self._base64 is None:
            return text
        if self._gate is not None and self._gate.search(text) is not None:
            text = self._text.sub(self._reference, text)
        if self._base64_gate is not None and self._base64_gate.search(text) is not None:
            text = self._hide_base64(text)
        return self._hide_cut_tail(text) if cut else text

    def _hide_cut_tail(self, text: str) -> str:
        """Hide the end of a cut-off text when it is the first CUT_PREFIX_CHARS or more characters of a
        secret (in any form, or inside base64): the rest of the secret was cut off, so whole-value
        matching misses it, and what is left would give most of it away."""
        if self._cut is None:
            self._cut = tuple(_CutSecret(value, ref) for value, ref in self._known)
        for secret in self._cut:
            start = secret.tail_start(text)
            if start is not None:
                return text[:start] + secret.ref
        start = len(text)
        while start > 0 and text[start - 1] in _BASE64_CHARS:
            start -= 1
        if start < len(text):
            for secret in self._cut:
                if secret.base64_tail(text[start:]):
                    return text[:start] + f"<base64 with {secret.ref}>"
        return text

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
