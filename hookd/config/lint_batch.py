"""Validate checks of a hook's `batch:` block that the schema cannot express (its payload template is
checked by the linter's template pass, like the hook's own)."""

from __future__ import annotations

from collections.abc import Callable

from hookd.config.located import PathKey
from hookd.errors import Severity
from hookd.units import parse_size
from hookd.urls import is_templated

Add = Callable[[PathKey, str, Severity], None]


def lint_batch(hook: dict[str, object], path: PathKey, add: Add) -> None:
    """Problems of `hook`'s batch block (at `path`, the hook's), reported through `add`."""
    batch = hook.get("batch")
    if not isinstance(batch, dict):
        return
    size = batch.get("max_size")
    if isinstance(size, str):  # a number of bytes under 1 is the schema's to report: one error, not two
        try:
            if parse_size(size) < 1:
                add((*path, "batch", "max_size"), "0 bytes leave no room for any event; write a size like 1MB", "error")
        except (TypeError, ValueError):
            pass  # the schema reports it
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
