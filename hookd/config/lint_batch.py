"""Validate checks of a hook's `batch:` block that the schema cannot express (its payload template is
checked by the linter's template pass, like the hook's own)."""

from __future__ import annotations

from collections.abc import Callable

from hookd.config.located import PathKey
from hookd.config.model import MAX_BATCH_BYTES, MAX_BATCH_WAIT_S
from hookd.errors import Severity
from hookd.units import format_duration, format_size, parse_duration, parse_size
from hookd.urls import is_templated

Add = Callable[[PathKey, str, Severity], None]

# The schema's x-error for the same bounds written as a number (a test holds them equal).
MAX_SIZE_FIX = (
    f"a batch is at most {format_size(MAX_BATCH_BYTES)} ({MAX_BATCH_BYTES} bytes): write a size up to that, under "
    "the receiver's body limit, like 1MB"
)
MAX_WAIT_FIX = (
    f"a batch waits at most {format_duration(MAX_BATCH_WAIT_S)} ({MAX_BATCH_WAIT_S:.0f} seconds) for more "
    "deliveries: write a shorter wait, like 2s (0 sends what is due at once, without waiting)"
)


def lint_batch(hook: dict[str, object], path: PathKey, add: Add) -> None:
    """Problems of `hook`'s batch block (at `path`, the hook's), reported through `add`."""
    batch = hook.get("batch")
    if not isinstance(batch, dict):
        return
    size = batch.get("max_size")
    if isinstance(size, str):  # a number of bytes out of bounds is the schema's to report: one error, not two
        try:
            size_bytes = parse_size(size)
        except (TypeError, ValueError):
            size_bytes = None  # the schema reports it
        if size_bytes is not None and size_bytes < 1:
            add((*path, "batch", "max_size"), "0 bytes leave no room for any event; write a size like 1MB", "error")
        elif size_bytes is not None and size_bytes > MAX_BATCH_BYTES:
            add((*path, "batch", "max_size"), f"{size!r} is too large; {MAX_SIZE_FIX}", "error")
    wait = batch.get("max_wait")
    if isinstance(wait, str):  # likewise a number of seconds
        try:
            wait_s = parse_duration(wait)
        except (TypeError, ValueError):
            wait_s = None  # the schema reports it
        if wait_s is not None and wait_s > MAX_BATCH_WAIT_S:
            add((*path, "batch", "max_wait"), f"{wait!r} is too long; {MAX_WAIT_FIX}", "error")
    # One request carries many events, so what the request is sent to and with cannot come from one of them.
    url = hook.get("url")
    if isinstance(url, str) and is_templated(url):
        add(
            (*path, "url"),
            "a batched hook sends many events in one request, so its url cannot depend on an event ({{ }}); "
            "write the url out, or remove batch",
            "error",
        )
    headers = hook.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            if isinstance(value, str) and "{{" in value:
                add(
                    (*path, "headers", name),
                    f"a batched hook sends many events in one request, so header {name} cannot depend on an event "
                    "({{ }}); write the value out, or remove batch",
                    "error",
                )
