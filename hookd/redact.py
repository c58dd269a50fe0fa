"""Keep secrets out of messages, logs and the database."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
_SECRET_NAME = re.compile(r"auth|token|secret|key|sig|password|passwd|cookie|session|credential", re.I)


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
        query = urlencode([(k, REDACTED if is_secret_name(k) else v) for k, v in pairs], safe="*")
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


class Redactor:
    """Redaction that also knows the config's own secrets: every value that came from `${VAR}` or
    `${file:...}` is shown as that reference, wherever it appears (a Slack URL path, a header named
    X-Api, an error text), on top of the name-based rules above."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()) -> None:
        # Longest first, so a value that contains another is replaced whole.
        self._secrets = sorted(secrets, key=lambda item: -len(item[0]))

    def text(self, text: str) -> str:
        if not text:
            return text
        for value, reference in self._secrets:
            if value in text:
                text = text.replace(value, reference)
        return text

    def url(self, url: str) -> str:
        return redact_url(self.text(url))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        if not self._secrets:  # the common case, on every attempt recorded
            return redact_headers(headers)
        return {k: (REDACTED if is_secret_name(k) else self.text(v)) for k, v in headers.items()}
