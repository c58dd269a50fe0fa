"""Which hooks an event goes to, and why a hook did not match (pure; compiled once at start)."""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from jmespath.parser import ParsedResult

from hookd.config.model import HookConfig
from hookd.config.secret_fields import is_secret_header
from hookd.events import RESERVED_PREFIX, Event
from hookd.expressions import EvaluationError, compile_expression, evaluate, is_truthy
from hookd.presets import PRESETS, Preset
from hookd.redact import Redactor
from hookd.senders.endpoint import EndpointSpec, endpoint_spec
from hookd.templates import Template, compile_template
from hookd.urls import UrlTemplate, compile_url, is_templated

# A filter that cannot be evaluated on an event fails closed and loudly: nothing is sent to the hook
# (the filter could not say yes), and the event gets a failed delivery to it carrying this reason, so
# it is counted, shows in history and health, and can be replayed once the filter is fixed.
FILTER_FAILED = "filter could not be evaluated on this event"
# An ordering key that cannot be evaluated fails the same way: sending the delivery unordered could
# overtake an earlier event of the key it should have had (see ordering_key).
ORDERING_KEY_FAILED = "ordering_key could not be evaluated on this event"
_NO_FAILURES: Mapping[str, str] = MappingProxyType({})
# A key longer than this is stored as its SHA-256: equal values still get equal keys (the order is the
# same), and the index stays small when a key is a large value.
MAX_KEY_CHARS = 200


def compile_globs(globs: Sequence[str]) -> re.Pattern[str]:
    """One regex for all of a hook's event-type globs. `*` matches any run of characters, dots too.

    hookd's own events (`hookd.*`, alerts) match only globs that start with `hookd.`: a catch-all
    `*` written before alerts existed must not start receiving them. The other globs are guarded by
    a lookahead inside the same regex, so routing costs what it did."""
    own = [f"(?:{fnmatch.translate(g)})" for g in globs if g.startswith(RESERVED_PREFIX)]
    others = [f"(?:{fnmatch.translate(g)})" for g in globs if not g.startswith(RESERVED_PREFIX)]
    parts = own
    if others:
        parts = [f"(?!{re.escape(RESERVED_PREFIX)})(?:{'|'.join(others)})", *own]
    return re.compile("|".join(parts)) if parts else re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class CompiledHook:
    config: HookConfig
    types: re.Pattern[str]
    filter: ParsedResult | None
    payload: Template | None  # None: send the stored envelope bytes as they are
    headers: tuple[tuple[str, Template], ...]
    safe_url: str  # the URL (or its template) with credentials and secret query values redacted
    redactor: Redactor  # hides this config's secrets in what is recorded or printed about this hook
    # Rendering needs the parsed event (a template somewhere), not just its stored bytes.
    needs_envelope: bool
    endpoint: EndpointSpec  # how a sender talks to this hook's endpoint
    # Headers whose configured value holds a secret: not sent on after a redirect to another host.
    private_headers: frozenset[str] = frozenset()
    url: UrlTemplate | None = None  # None: the url is written out, and sent as it is
    ordering: ParsedResult | None = None  # the compiled ordering_key; None: deliveries go unordered
    # A preset's templates (hookd.rendering builds the service's body of them); None without a preset.
    message: Template | None = None
    preset_options: Template | None = None
    # The preset itself: its reading of its service's answers (classify) runs on every outcome.
    preset: Preset | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def shown_url(self, url: str) -> str:
        """`url`, which an attempt of this hook used, as history and logs show it (redacted)."""
        return self.safe_url if url == self.config.url else self.redactor.url(url)


def compile_hook(config: HookConfig, redactor: Redactor | None = None) -> CompiledHook:
    redactor = redactor or Redactor()
    payload = compile_template(config.payload) if config.payload is not None else None
    message = compile_template(config.message) if config.message is not None else None
    options = compile_template(dict(config.preset_options)) if config.preset is not None else None
    headers = tuple((name, compile_template(value)) for name, value in config.headers.items())
    templated = any(not isinstance(t.source, str) or "{{" in t.source for _, t in headers)
    url = compile_url(config.url, config.allow_hosts) if is_templated(config.url) else None
    if url is not None and redactor:
        url = dataclasses.replace(url, hide=redactor.text)
    return CompiledHook(
        config=config,
        types=compile_globs(config.events),
        filter=compile_expression(config.filter) if config.filter else None,
        payload=payload,
        headers=headers,
        safe_url=redactor.url(config.url),
        redactor=redactor,
        # Any format but json, and a preset, build the body of the event's fields.
        needs_envelope=payload is not None
        or templated
        or url is not None
        or config.format != "json"
        or config.preset is not None,
        # A credential by its name (X-Api-Key, *-Token: also when its value is too short to be known by
        # value, or written literally) or by holding a secret of the config.
        private_headers=frozenset(
            n for n, value in config.headers.items() if is_secret_header(n) or redactor.contains_secret(str(value))
        ),
        endpoint=endpoint_spec(config),
        url=url,
        ordering=compile_expression(config.ordering_key) if config.ordering_key else None,
        message=message,
        preset_options=options,
        preset=PRESETS.get(config.preset) if config.preset is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """One hook's answer for one event, for `hookd test`: matched, or the reason it did not."""

    hook: str
    matched: bool
    reason: str  # "" when matched
    filter_value: object = None
    filter_error: str = ""  # the filter could not be evaluated: the reason stored with the failed delivery


class Router:
    def __init__(self, hooks: Sequence[HookConfig], *, secrets: Sequence[tuple[str, str]] = ()) -> None:
        self.redactor = redactor = Redactor(secrets)
        self.hooks: tuple[CompiledHook, ...] = tuple(compile_hook(h, redactor) for h in hooks)
        self.by_name: Mapping[str, CompiledHook] = {h.name: h for h in self.hooks}
        # Hooks with an ordering_key: events matching none of them need no key (ordering_keys).
        self.ordered: frozenset[str] = frozenset(h.name for h in self.hooks if h.ordering is not None)
        # Hooks whose url host is templated: their deliveries carry a destination (destinations).
        self.templated: frozenset[str] = frozenset(
            h.name for h in self.hooks if h.url is not None and h.url.templated_host
        )

    @property
    def endpoints(self) -> dict[str, EndpointSpec]:
        """Every hook's endpoint profile, by hook name: what each sender of this config is given."""
        return {h.name: h.endpoint for h in self.hooks}

    def route(self, event: Event) -> list[str]:
        """Names of the hooks this event matches, in config order."""
        return self.routing(event)[0]

    def routing(self, event: Event) -> tuple[list[str], Mapping[str, str]]:
        """The hooks this event matches, in config order, and the hooks whose filter could not be
        evaluated on it, each with the reason (see FILTER_FAILED). Never raises for an event."""
        matched = []
        failed: dict[str, str] | None = None
        for hook in self.hooks:
            if not hook.types.match(event.type):
                continue
            if hook.filter is not None:
                try:
                    if not is_truthy(evaluate(hook.filter, event.scope)):
                        continue
                except EvaluationError as e:
                    if failed is None:
                        failed = {}
                    failed[hook.name] = filter_failure(hook, e)
                    continue
            matched.append(hook.name)
        return matched, failed if failed is not None else _NO_FAILURES

    def explain(self, event: Event) -> list[Verdict]:
        """One verdict per hook, in config order; agrees with `routing` (the same evaluation)."""
        verdicts = []
        for hook in self.hooks:
            if not hook.types.match(event.type):
                globs = ", ".join(hook.config.events)
                own = ""
                if event.type.startswith(RESERVED_PREFIX):
                    own = f" (hookd's own events match only globs that start with {RESERVED_PREFIX!r})"
                verdicts.append(Verdict(hook.name, False, f"type {event.type!r} matches none of: {globs}{own}"))
                continue
            if hook.filter is None:
                verdicts.append(Verdict(hook.name, True, ""))
                continue
            try:
                value = evaluate(hook.filter, event.scope)
            except EvaluationError as e:
                failure = filter_failure(hook, e)
                verdicts.append(Verdict(hook.name, False, failure, filter_error=failure))
                continue
            if is_truthy(value):
                verdicts.append(Verdict(hook.name, True, "", value))
            else:
                verdicts.append(Verdict(hook.name, False, f"filter {hook.config.filter!r} is {value!r}", value))
        if self.ordered:  # a matched hook whose ordering key fails gets a failed delivery, as in routing
            _, failed, _ = self.ordering_keys(event, [v.hook for v in verdicts if v.matched], _NO_FAILURES)
            verdicts = [
                Verdict(v.hook, False, failed[v.hook], v.filter_value, filter_error=failed[v.hook])
                if v.hook in failed
                else v
                for v in verdicts
            ]
        return verdicts

    def ordering_keys(
        self, event: Event, matched: list[str], failed: Mapping[str, str]
    ) -> tuple[list[str], Mapping[str, str], dict[str, str] | None]:
        """`routing`'s answer with each matched ordered hook's key for this event: (matched, failed,
        keys). A hook whose key cannot be evaluated moves from matched to failed (ORDERING_KEY_FAILED);
        one whose key is null goes unordered (not in keys). Call it only when the event matched a hook
        in `ordered`."""
        keys: dict[str, str] = {}
        failures: dict[str, str] | None = None
        for name in matched:
            hook = self.by_name[name]
            if hook.ordering is None:
                continue
            try:
                key = ordering_key(evaluate(hook.ordering, event.scope))
            except EvaluationError as e:
                failures = failures if failures is not None else dict(failed)
                failures[name] = hook.redactor.text(
                    f"{ORDERING_KEY_FAILED}: {e}; nothing was sent. Make ordering_key handle events like this "
                    "one, then replay the delivery (a replay of it goes unordered)"
                )
                continue
            if key is not None:
                keys[name] = key
        if failures is not None:
            matched = [h for h in matched if h not in failures]
            failed = failures
        return matched, failed, keys or None

    def destinations(self, event: Event, matched: Sequence[str]) -> dict[str, str] | None:
        """The destination host of each matched hook in `templated` for this event, or None when there is
        none. A host that cannot be rendered gives none: that delivery fails when its request is made."""
        out: dict[str, str] = {}
        for name in matched:
            if name not in self.templated:
                continue
            hook = self.by_name[name]
            assert hook.url is not None
            try:
                out[name] = hook.url.destination(event.scope, hook.redactor.text)
            except Exception:  # the render error is the attempt's to report, with its reason
                continue
        return out or None


def ordering_key(value: object) -> str | None:
    """The stored form of a key: a string as it is, another value as compact JSON with sorted keys
    (so "1" and 1 share a key: a few more deliveries in order, never fewer) and integral numbers
    written as integers (7.0 is 7), a long one as its SHA-256; None for null (unordered)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(_integral(value), sort_keys=True, separators=(",", ":"))
    if len(text) > MAX_KEY_CHARS or (not text.isascii() and _unstorable(text)):
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def _integral(value: object) -> object:
    """`value` with every integral float as its int, nested ones too: producers write 7, 7.0 or 7e0 for
    the same number, and JSON numbers have one value whatever the spelling, so they share a key."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def _unstorable(text: str) -> bool:
    """Whether `text` holds a lone surrogate, which SQLite cannot store as text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def filter_failure(hook: CompiledHook, e: EvaluationError) -> str:
    """The reason recorded on the failed delivery when the hook's filter fails on an event."""
    return hook.redactor.text(
        f"{FILTER_FAILED}: {e}; nothing was sent. Make the filter handle events like this one, then "
        "replay the delivery if the event should go to this hook"
    )
