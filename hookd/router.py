"""Which hooks an event goes to, and why a hook did not match (pure; compiled once at start)."""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from hookd.config.model import HookConfig
from hookd.events import Event
from hookd.expressions import compile_expression, is_truthy
from hookd.logs import LogLine
from hookd.redact import Redactor
from hookd.templates import Template, compile_template

log = logging.getLogger("hookd.router")

# What evaluating a filter on one event's data can raise. Besides JMESPathError, jmespath lets plain
# Python errors through: `data.items[?price > `0`]` with a string price (TypeError), `merge()` of a
# non-object (TypeError), `ceil(to_number('1e999'))` (OverflowError), `floor(to_number('nan'))`.
_EVALUATION_ERRORS = (JMESPathError, TypeError, ValueError, ArithmeticError)


def compile_globs(globs: Sequence[str]) -> re.Pattern[str]:
    """One regex for all of a hook's event-type globs. `*` matches any run of characters, dots too."""
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))


@dataclass(frozen=True, slots=True)
class CompiledHook:
    config: HookConfig
    types: re.Pattern[str]
    filter: ParsedResult | None
    payload: Template | None  # None: send the stored envelope bytes as they are
    headers: tuple[tuple[str, Template], ...]
    safe_url: str  # the URL with credentials and secret query values redacted, for history and logs
    redactor: Redactor  # hides this config's secrets in what is recorded or printed about this hook
    # Rendering needs the parsed event (a template somewhere), not just its stored bytes.
    needs_envelope: bool
    # Headers whose configured value holds a secret: not sent on after a redirect to another origin.
    private_headers: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.config.name


def compile_hook(config: HookConfig, redactor: Redactor | None = None) -> CompiledHook:
    redactor = redactor or Redactor()
    payload = compile_template(config.payload) if config.payload is not None else None
    headers = tuple((name, compile_template(value)) for name, value in config.headers.items())
    templated = any(not isinstance(t.source, str) or "{{" in t.source for _, t in headers)
    return CompiledHook(
        config=config,
        types=compile_globs(config.events),
        filter=compile_expression(config.filter) if config.filter else None,
        payload=payload,
        headers=headers,
        safe_url=redactor.url(config.url),
        redactor=redactor,
        needs_envelope=payload is not None or templated,
        private_headers=frozenset(n for n, value in config.headers.items() if redactor.contains_secret(str(value))),
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """One hook's answer for one event, for `hookd test`: matched, or the reason it did not."""

    hook: str
    matched: bool
    reason: str  # "" when matched
    filter_value: object = None


class Router:
    def __init__(self, hooks: Sequence[HookConfig], *, secrets: Sequence[tuple[str, str]] = ()) -> None:
        self.redactor = redactor = Redactor(secrets)
        self.hooks: tuple[CompiledHook, ...] = tuple(compile_hook(h, redactor) for h in hooks)
        self.by_name: Mapping[str, CompiledHook] = {h.name: h for h in self.hooks}

    def route(self, event: Event) -> list[str]:
        """Names of the hooks this event matches, in config order."""
        matched = []
        for hook in self.hooks:
            if not hook.types.match(event.type):
                continue
            if hook.filter is not None:
                try:
                    if not is_truthy(hook.filter.search(event.envelope)):
                        continue
                except _EVALUATION_ERRORS as e:
                    # A filter that cannot be evaluated on this event is "not matched", loudly.
                    log.warning(
                        LogLine(
                            "filter failed; not delivered to this hook",
                            {"event": event.id, "hook": hook.name, "error": str(e)},
                        )
                    )
                    continue
            matched.append(hook.name)
        return matched

    def explain(self, event: Event) -> list[Verdict]:
        verdicts = []
        for hook in self.hooks:
            if not hook.types.match(event.type):
                globs = ", ".join(hook.config.events)
                verdicts.append(Verdict(hook.name, False, f"type {event.type!r} matches none of: {globs}"))
                continue
            if hook.filter is None:
                verdicts.append(Verdict(hook.name, True, ""))
                continue
            try:
                value = hook.filter.search(event.envelope)
            except _EVALUATION_ERRORS as e:
                verdicts.append(Verdict(hook.name, False, f"filter could not be evaluated: {e}"))
                continue
            if is_truthy(value):
                verdicts.append(Verdict(hook.name, True, "", value))
            else:
                verdicts.append(Verdict(hook.name, False, f"filter {hook.config.filter!r} is {value!r}", value))
        return verdicts
