"""`hookd test`: events through the config in process, with why each hook matched or not (pure).

Routing is the router's, rendering is `render_request`, sending is the HttpSender: the same code
the daemon runs, with no store in between. A filter that is false is taken apart at its top-level
`||`, `&&`, comparisons and `!`, so the answer names the part that failed and the values it saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl

from hookd import __version__, jsonvalue
from hookd.batching import Batcher
from hookd.config.model import HookConfig
from hookd.data_option import parse_data_option
from hookd.errors import EventError, HookdError
from hookd.events import Event, event_from_object
from hookd.expressions import EVALUATION_ERRORS, compile_jmespath, is_truthy, search, tokenize
from hookd.ids import uuid7
from hookd.presets import PRESETS, read_answer
from hookd.redact import Redactor
from hookd.rendering import RequestRenderError, render_failure, render_payload, render_request
from hookd.router import Router
from hookd.senders.base import OutboundRequest, Outcome, Sender, redact_outcome
from hookd.senders.endpoint import EndpointSpec, shown_headers
from hookd.senders.http import HttpSender
from hookd.store.base import InboundRecord
from hookd.suggest import closest

STDIN = "-"
# Formats whose body is shown as the text it is, not as JSON.
TEXT_FORMATS = frozenset({"form", "text"})


class InputError(HookdError):
    """Events could not be read: `where` is file:line:column (or the option), `reason` says why."""

    exit_code = 2

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class UnknownHookError(HookdError):
    exit_code = 2

    def __init__(self, name: str, known: Sequence[str]) -> None:
        close = closest(name, known)
        hint = f"did you mean {close!r}?" if close else f"the config has: {', '.join(known) or 'no hooks'}"
        super().__init__(f"no hook named {name!r} in the config; {hint}")
        self.name = name


# -- events in ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputEvent:
    event: Event
    where: str  # file:line, or the options it came from


def load_events(path: Path, *, now: float | None = None) -> list[InputEvent]:
    """Events from a file of JSON Lines, one JSON object, or a JSON array of objects."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(str(path), "the events file does not exist") from None
    except IsADirectoryError:
        raise InputError(str(path), "is a directory; pass a file of events (JSON or JSON Lines)") from None
    except OSError as e:
        raise InputError(str(path), f"cannot read the events file: {e.strerror}") from None
    return parse_events(raw, str(path), now=now)


def parse_events(raw: bytes, source: str, *, now: float | None = None) -> list[InputEvent]:
    """Events from JSON Lines, one JSON object, or a JSON array of objects; errors name source:line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(f"{source}:{line}", f"not UTF-8 text (byte 0x{raw[e.start]:02x}); save it as UTF-8") from None
    events = []
    for line, value in _json_values(text, source):
        try:
            events.append(InputEvent(event_from_object(value, now=now), f"{source}:{line}"))
        except EventError as e:
            raise InputError(f"{source}:{line}", str(e)) from None
    if not events:
        raise InputError(source, "no events in it; write one JSON object per line, or a JSON array of objects")
    return events


def inline_event(event_type: str, data: str | None, *, now: float | None = None) -> InputEvent:
    """The event given as --type and --data (JSON)."""
    value: dict[str, object] = {"type": event_type}
    if data is not None:
        try:
            value["data"] = parse_data_option(data)
        except ValueError as e:
            raise InputError("--data", str(e)) from None
    try:
        return InputEvent(event_from_object(value, now=now), "--type/--data")
    except EventError as e:
        raise InputError("--type", str(e)) from None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _decode_at(text: str, pos: int, source: str, *, one_line: bool) -> tuple[object, int]:
    try:
        return jsonvalue.raw_decode(text, pos, unique_keys=True)
    except json.JSONDecodeError as e:
        line, column = e.lineno, e.colno
        if one_line and line > _line_of(text, pos):
            # JSON Lines: the value on this line is cut short; say so here, not on the next line.
            line = _line_of(text, pos)
            end = text.find("\n", pos)
            column = (end if end >= 0 else len(text)) - (text.rfind("\n", 0, pos) + 1) + 1
            raise InputError(f"{source}:{line}:{column}", "invalid JSON: the line ends before the value does") from None
        raise InputError(f"{source}:{line}:{column}", f"invalid JSON: {e.msg}") from None
    except jsonvalue.JsonValueError as e:  # NaN, too deep, a number that overflows, a key given twice
        raise InputError(f"{source}:{_line_of(text, pos)}", str(e)) from None


def _json_values(text: str, source: str) -> Iterator[tuple[int, object]]:
    """(line, value) for each event: the items of one top-level array, else each top-level value."""
    pos = _skip_space(text, 0)
    if text.startswith("[", pos):
        pos = _skip_space(text, pos + 1)
        if text.startswith("]", pos):
            pos = _skip_space(text, pos + 1)
        else:
            while True:
                value, end = _decode_at(text, pos, source, one_line=False)
                yield _line_of(text, pos), value
                pos = _skip_space(text, end)
                if text.startswith(",", pos):
                    pos = _skip_space(text, pos + 1)
                    continue
                if text.startswith("]", pos):
                    pos = _skip_space(text, pos + 1)
                    break
                line = _line_of(text, pos)
                raise InputError(f"{source}:{line}", "invalid JSON: expected ',' or ']' after an event in the array")
        if pos < len(text):
            line = _line_of(text, pos)
            raise InputError(f"{source}:{line}", "text after the array of events; give one array, or JSON Lines")
        return
    single_lines = 0  # values so far that each sat on one line: then this is JSON Lines
    while pos < len(text):
        value, end = _decode_at(text, pos, source, one_line=single_lines > 0)
        line = _line_of(text, pos)
        yield line, value
        single_lines += 1 if _line_of(text, end) == line else 0
        pos = _skip_space(text, end)


# -- why a filter is false ------------------------------------------------------------------------

PartKind = Literal["comparison", "not", "value"]
_OPENERS = frozenset({"lparen", "lbracket", "filter", "lbrace"})
_CLOSERS = frozenset({"rparen", "rbracket", "rbrace"})
_COMPARATOR_WIDTH = {"eq": 2, "ne": 2, "lte": 2, "gte": 2, "lt": 1, "gt": 1}


@dataclass(frozen=True, slots=True, kw_only=True)
class FilterPart:
    """One part of a false filter: its text, its value, and the values of its non-literal operands."""

    expression: str
    value: object = None
    kind: PartKind = "value"
    operands: tuple[tuple[str, object], ...] = ()
    error: str = ""

    def describe(self) -> str:
        if self.error:
            return f"{self.expression} could not be evaluated: {self.error}"
        text = f"{self.expression} is {json_text(self.value)}"
        if self.operands:
            text += " (" + ", ".join(f"{expr} = {json_text(v)}" for expr, v in self.operands) + ")"
        if self.kind == "comparison" and self.value is None:
            text += "; <, <=, > and >= on a missing or non-number value give null"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "expression": self.expression,
            "value": self.value,
            "operands": dict(self.operands),
            "error": self.error,
        }


def json_text(value: object) -> str:
    try:
        return jsonvalue.dumps(value).decode()
    except jsonvalue.JsonValueError:
        return repr(value)


def explain_false(expression: str, subject: Mapping[str, object]) -> tuple[FilterPart, ...]:
    """The parts that make `expression` falsy on `subject`: every false operand of a top-level
    `&&`, every alternative of a `||` (recursively), with operand values of comparisons and `!`.

    Falls back to the whole expression and its value when it cannot be taken apart safely.
    """
    try:
        parts = _false_parts(expression.strip(), subject)
    except EVALUATION_ERRORS:  # JMESPathError covers a piece that does not compile on its own
        parts = []
    if parts:
        return tuple(parts)
    try:
        return (FilterPart(expression=expression, value=search(compile_jmespath(expression), subject)),)
    except EVALUATION_ERRORS as e:
        return (FilterPart(expression=expression, error=str(e)),)


def _top_level(tokens: list[dict[str, object]]) -> list[tuple[int, dict[str, object]]]:
    """(index, token) of tokens outside any brackets, parentheses or braces."""
    depth = 0
    out = []
    for i, tok in enumerate(tokens):
        kind = tok["type"]
        if kind in _CLOSERS:
            depth -= 1
        if depth == 0:
            out.append((i, tok))
        if kind in _OPENERS:
            depth += 1
    return out


def _start(tok: dict[str, object]) -> int:
    start = tok["start"]
    assert isinstance(start, int)
    return start


def _fold(parts: list[object], node_type: str) -> object:
    """The AST jmespath builds for p1 op p2 op p3: left-associative, ((p1 op p2) op p3)."""
    tree = parts[0]
    for part in parts[1:]:
        tree = {"type": node_type, "children": [tree, part]}
    return tree


def _false_parts(text: str, subject: Mapping[str, object]) -> list[FilterPart]:
    parsed = compile_jmespath(text).parsed
    tokens = [t for t in tokenize(text) if t["type"] != "eof"]
    top = _top_level(tokens)
    if tokens and tokens[0]["type"] == "lparen" and top[-1][0] == len(tokens) - 1 and len(top) == 2:
        return _false_parts(text[1 : _start(tokens[-1])].strip(), subject)  # (whole thing) in parentheses
    for op, node_type in (("or", "or_expression"), ("and", "and_expression")):
        cuts = [_start(tok) for _, tok in top if tok["type"] == op]
        if not cuts:
            continue
        starts, ends = [0, *(c + 2 for c in cuts)], [*cuts, len(text)]  # && and || are two characters
        pieces = [text[a:b].strip() for a, b in zip(starts, ends, strict=True)]
        if _fold([compile_jmespath(p).parsed for p in pieces], node_type) != parsed:
            return [_leaf(text, parsed, top, subject)]
        out: list[FilterPart] = []
        for piece in pieces:
            try:
                value = search(compile_jmespath(piece), subject)
            except EVALUATION_ERRORS as e:
                if not out:  # after a false operand of &&, jmespath never evaluated this one
                    out.append(FilterPart(expression=piece, error=str(e)))
                continue
            if not is_truthy(value):
                out.extend(_false_parts(piece, subject))
        return out
    return [_leaf(text, parsed, top, subject)]


def _leaf(
    text: str, parsed: Mapping[str, object], top: list[tuple[int, dict[str, object]]], subject: Mapping[str, object]
) -> FilterPart:
    value = search(compile_jmespath(text), subject)
    children = parsed.get("children")
    operands: list[tuple[str, object]] = []
    kind: PartKind = "value"
    comparators = [tok for _, tok in top if tok["type"] in _COMPARATOR_WIDTH]
    if parsed.get("type") == "comparator" and len(comparators) == 1 and isinstance(children, list):
        at = _start(comparators[0])
        sides = [text[:at].strip(), text[at + _COMPARATOR_WIDTH[str(comparators[0]["type"])] :].strip()]
        if [compile_jmespath(s).parsed for s in sides] == children:
            kind = "comparison"
            operands = [(s, search(compile_jmespath(s), subject)) for s, node in zip(sides, children, strict=True)
                        if node.get("type") != "literal"]  # fmt: skip
    elif parsed.get("type") == "not_expression" and top and top[0][1]["type"] == "not" and isinstance(children, list):
        inner = text[_start(top[0][1]) + 1 :].strip()
        if inner.startswith("(") and inner.endswith(")") and compile_jmespath(inner[1:-1]).parsed == children[0]:
            inner = inner[1:-1].strip()  # !(a.b): show a.b = value
        if [compile_jmespath(inner).parsed] == children:
            kind = "not"
            operands = [(inner, search(compile_jmespath(inner), subject))]
    return FilterPart(expression=text, value=value, kind=kind, operands=tuple(operands))


# -- the dry run ----------------------------------------------------------------------------------

FailedAt = Literal["type", "filter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """What happened when a rendered request was sent for real (--send)."""

    url: str  # redacted
    outcome: Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class HookResult:
    hook: str
    matched: bool
    reason: str = ""  # why not matched, one sentence; "" when matched
    failed_at: FailedAt | None = None
    filter_parts: tuple[FilterPart, ...] = ()
    request: OutboundRequest | None = field(default=None, repr=False)  # the real one: secrets inside
    safe_url: str = ""
    redactor: Redactor = field(default_factory=Redactor, repr=False)
    endpoint: EndpointSpec | None = field(default=None, repr=False)  # the hook's, when matched
    render_error: str = ""  # matched, but the request cannot be rendered for this event
    # Not matched because the filter could not be evaluated: the daemon stores a failed delivery with this.
    filter_error: str = ""
    delivery: Delivery | None = None
    batched: bool = False  # the hook has `batch:`: the request is a batch of this one event
    ordered: bool = False  # the hook has an ordering_key
    ordering_key: str | None = None  # its key for this event, as stored; None: null (goes unordered)
    format: str = "json"  # the hook's format (json for a preset's body)
    preset: str | None = None

    def shown_request(self) -> dict[str, object] | None:
        """The request as it may be printed: method, redacted URL and headers, body as JSON."""
        if self.request is None:
            return None
        shown: dict[str, object] = {
            "method": self.request.method,
            "url": self.safe_url,
            "headers": shown_headers(self.redactor, self.request.headers, self.endpoint or EndpointSpec(self.hook)),
            "body": self.redactor.value(body_value(self.request.body, as_text=self.format in TEXT_FORMATS)),
        }
        if self.format == "form":
            shown["form"] = self.redactor.value(form_fields(self.request.body))
        return shown


@dataclass(frozen=True, slots=True, kw_only=True)
class EventResult:
    event: Event
    where: str
    hooks: tuple[HookResult, ...]
    redactor: Redactor = field(default_factory=Redactor, repr=False)  # the config's: for showing the event

    @property
    def failed(self) -> bool:
        return any(
            h.render_error or h.filter_error or (h.delivery is not None and not h.delivery.outcome.ok)
            for h in self.hooks
        )


def body_value(body: bytes, *, as_text: bool = False) -> object:
    """The body as a JSON value, or as text when it is not JSON or `as_text` (a form or text body that
    happens to read as JSON, such as `42`, is shown as the text it is)."""
    if not as_text:
        try:
            return jsonvalue.loads(body)
        except jsonvalue.JsonValueError:
            pass
    return body.decode("utf-8", errors="replace")


def form_fields(body: bytes) -> dict[str, object]:
    """A form body's fields decoded, as an object a case can compare: a name sent once holds its value,
    a name sent more than once (a list in the payload) the list of its values, in order."""
    fields: dict[str, object] = {}
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        held = fields.get(name)
        if held is None:
            fields[name] = value
        elif isinstance(held, list):
            held.append(value)
        else:
            fields[name] = [held, value]
    return fields


def _hidden(part: FilterPart, hide: Redactor) -> FilterPart:
    return replace(
        part,
        expression=hide.text(part.expression),
        value=hide.value(part.value),
        operands=tuple((hide.text(expr), hide.value(value)) for expr, value in part.operands),
        error=hide.text(part.error),
    )


def select_hooks(hooks: Sequence[HookConfig], names: Sequence[str]) -> tuple[HookConfig, ...]:
    """The hooks named (all when none are), in config order. Raises UnknownHookError."""
    known = [h.name for h in hooks]
    for name in names:
        if name not in known:
            raise UnknownHookError(name, known)
    return tuple(h for h in hooks if not names or h.name in names)


def dry_run(router: Router, item: InputEvent, *, now: float) -> EventResult:
    """Every hook's verdict on one event, and for each match the request the daemon would send."""
    event = item.event
    inbound = InboundRecord.of(event)
    results = []
    # Explanations quote the filter (with its ${VAR} values filled in) and the event's values: shown
    # with the config's secrets hidden, as the requests are.
    hide = router.redactor
    for verdict in router.explain(event):
        hook = router.by_name[verdict.hook]
        if not verdict.matched:
            reason = hide.text(verdict.reason)
            if not hook.types.match(event.type):
                results.append(HookResult(hook=hook.name, matched=False, reason=reason, failed_at="type"))
                continue
            if verdict.filter_error:  # the router's sentence, as the daemon records it
                results.append(HookResult(hook=hook.name, matched=False, reason=reason, failed_at="filter",
                                          filter_error=hide.text(verdict.filter_error)))  # fmt: skip
                continue
            parts: tuple[FilterPart, ...] = ()
            if hook.config.filter is not None:
                parts = tuple(_hidden(p, hide) for p in explain_false(hook.config.filter, event.scope))
                reason = "filter is false: " + "; ".join(p.describe() for p in parts)
            results.append(
                HookResult(hook=hook.name, matched=False, reason=reason, failed_at="filter", filter_parts=parts)
            )
            continue
        key = None
        if hook.ordering is not None:  # evaluated by the router already: a failure is a verdict above
            _, _, keys = router.ordering_keys(event, [hook.name], {})
            key = keys.get(hook.name) if keys is not None else None
        try:
            if hook.config.batch is not None:
                # What the daemon sends for this event alone: a batch of one (webhook-id a batch id).
                request = Batcher(hook).request(uuid7(), 1, [render_payload(hook, event.body, inbound)], now)
            else:
                request = render_request(hook, uuid7(), event.id, 1, event.body, now, inbound)
        except RequestRenderError as e:  # as the dispatcher does: a final failure of the delivery
            results.append(HookResult(hook=hook.name, matched=True, safe_url=hook.safe_url, redactor=hook.redactor,
                                      render_error=hook.redactor.text(render_failure(e)), format=hook.config.format,
                                      preset=hook.config.preset))  # fmt: skip
            continue
        results.append(
            HookResult(
                hook=hook.name,
                matched=True,
                request=request,
                safe_url=hook.shown_url(request.url),
                redactor=hook.redactor,
                endpoint=hook.endpoint,
                batched=hook.config.batch is not None,
                ordered=hook.ordering is not None,
                ordering_key=key,
                format=hook.config.format,
                preset=hook.config.preset,
            )
        )
    return EventResult(event=event, where=item.where, hooks=tuple(results), redactor=hide)


# Headers that carry credentials whatever the config says, as on a redirect to another host.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


async def deliver(
    results: Sequence[EventResult],
    *,
    to: str | None = None,
    with_credentials: bool = False,
    sender: Sender | None = None,
    endpoints: Mapping[str, EndpointSpec] | None = None,
) -> list[EventResult]:
    """Send every rendered request once, for real (to `to` instead of the hook's URL when given),
    each hook's endpoint talked to as `endpoints` says (Router.endpoints). To `to`, each hook's
    credentials stay behind unless `with_credentials`: its auth, its TLS client certificate and the
    headers that carry a secret of the config (signatures go: they prove the body, not who sends)."""
    owned = sender is None
    if to is not None and endpoints is not None:
        # `--to` is written by whoever runs the command, as a config's url is: trusted as written.
        endpoints = {
            name: replace(spec, templated_url=False) if with_credentials else without_credentials(spec)
            for name, spec in endpoints.items()
        }
    active: Sender = (
        sender
        if sender is not None
        else HttpSender(max_connections=10, user_agent=f"hookd/{__version__}", endpoints=endpoints)
    )
    try:
        out = []
        for result in results:
            hooks = []
            for h in result.hooks:
                if h.request is None:
                    hooks.append(h)
                    continue
                request = h.request
                if to is not None and not with_credentials:
                    # Shown as sent: without the credential headers, and without the header an auth adds.
                    request = replace(request, headers=_without_credential_headers(request))
                    h = replace(h, request=request, endpoint=h.endpoint and without_credentials(h.endpoint))
                if to is not None:
                    request = replace(request, url=to)
                outcome = redact_outcome(await active.send(request), h.redactor)
                preset = PRESETS.get(h.preset) if h.preset is not None else None
                if preset is not None:  # as the daemon reads the service's answer
                    outcome = read_answer(preset, outcome)
                hooks.append(replace(h, delivery=Delivery(url=h.redactor.url(request.url), outcome=outcome)))
            out.append(replace(result, hooks=tuple(hooks)))
        return out
    finally:
        if owned:
            await active.close()


def without_credentials(spec: EndpointSpec) -> EndpointSpec:
    """`spec` for sending to a URL of the user's choosing (`--to`): trusted as written, with no auth
    and no TLS client certificate (the CA it trusts stays). Signing stays."""
    return replace(spec, templated_url=False, auth=None, tls=replace(spec.tls, client_cert=None, client_key=None))


def _without_credential_headers(request: OutboundRequest) -> dict[str, str]:
    private = {name.lower() for name in request.private_headers} | _CREDENTIAL_HEADERS
    return {name: value for name, value in request.headers.items() if name.lower() not in private}
