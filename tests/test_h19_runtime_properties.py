"""Property: filters and templates over arbitrary events give a clear outcome per hook, never an exception.

For any event hookd accepts and any of a set of expressions chosen to trip JMESPath's functions (wrong
types, huge and fractional numbers, deep and wide values, control characters in strings), every hook
is matched, not matched, or failed with a one-line reason; a matched hook's request either renders,
with headers that pass the header check, or fails with RequestRenderError; `hookd test`'s dry run
agrees with the router. The default run is small; HOOKD_HYPOTHESIS=long runs the long profile.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st

from hookd.config.model import HookConfig
from hookd.dryrun import InputEvent, dry_run
from hookd.errors import EventError
from hookd.events import Event, event_from_object
from hookd.rendering import RequestRenderError, render_request
from hookd.router import FILTER_FAILED, Router

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Examples and randomness come from the profile tests/conftest.py loads (HOOKD_HYPOTHESIS).
PROFILE = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Expressions over `data` (and the envelope) that fail on some shapes: every function family, filters
# and projections over items, arithmetic on numbers that may be huge, strings, NaN.
EXPRESSIONS = (
    "data",
    "length(data)",
    "length(data.items) > `0`",
    "data.items[?price > `10`]",
    "data.items[?price > `10`].sku",
    "sort(data.items)",
    "sort_by(data.items, &price)",
    "max_by(data.items, &price)",
    "min(data.items)",
    "max(data.items)",
    "sum(data.items)",
    "avg(data.items)",
    "join(',', data.items)",
    "join(',', data.tags)",
    "keys(data)",
    "values(data)",
    "merge(data, data.a)",
    "to_number(data.n)",
    "ceil(to_number(data.n))",
    "floor(data.n)",
    "abs(data.n)",
    "to_string(data)",
    "to_array(data.n)",
    "contains(data.tags, 'x')",
    "starts_with(data.s, 'x')",
    "ends_with(data.s, data.n)",
    "reverse(data.s)",
    "map(&price, data.items)",
    "not_null(data.a, data.n)",
    "type(data.n) == 'number' && data.n > `1`",
    "data.n > data.s",
    "data.items[0].price",
    "data.items[-1]",
    "data.a.b.c",
    "data.note",
    "data.s",
    "id",
    "type",
)


def _deep(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return {"items": value, "n": value}


# Text rich in what breaks headers and log lines: CR, LF, NUL, ESC, DEL, beside tabs and non-ASCII.
_TEXT = st.text(alphabet=st.sampled_from("ab1 .\t\n\r\x00\x1b\x7fé✓") | st.characters(codec="utf-8"), max_size=12)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
    | st.sampled_from(["nan", "1e999", "-1e999", "x", "", "\n", "a\r\nb", "\x00", "1", "0.5"])
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["items", "price", "sku", "a", "b", "c", "n", "s", "tags", "x"]), inner, max_size=4
        )
    ),
    max_leaves=20,
)
_DATA = st.one_of(
    _VALUES,
    st.fixed_dictionaries(
        {"note": _TEXT},
        optional={"items": _VALUES, "tags": _VALUES, "n": _VALUES, "s": _VALUES, "a": _VALUES},
    ),
    st.integers(min_value=1, max_value=400).map(_deep),
)


def _hooks(filter_expr: str, template_expr: str) -> list[HookConfig]:
    url = "http://127.0.0.1:9/"
    return [
        HookConfig(name="plain", events=("*",), url=url),
        HookConfig(name="filtered", events=("*",), url=url, filter=filter_expr),
        HookConfig(
            name="templated",
            events=("*",),
            url=url,
            payload={"v": f"{{{{ {template_expr} }}}}", "t": f"v={{{{ {template_expr} }}}}", "k": [1, "x"]},
        ),
        HookConfig(
            name="header", events=("*",), url=url, headers=MappingProxyType({"X-V": f"{{{{ {template_expr} }}}}"})
        ),
        HookConfig(
            name="text-headers",
            events=("*",),
            url=url,
            headers=MappingProxyType({"X-Note": "{{ data.note }}", "X-S": "s={{ data.s }}"}),
        ),
    ]


def _event(data: object) -> Event | None:
    try:
        return event_from_object({"type": "t", "id": "e-1", "data": data}, now=0.0)
    except (EventError, TypeError, ValueError):  # refused at intake: never routed
        return None


@PROFILE
@given(data=_DATA, filter_expr=st.sampled_from(EXPRESSIONS), template_expr=st.sampled_from(EXPRESSIONS))
def test_every_hook_has_a_clear_outcome_on_any_event(data: object, filter_expr: str, template_expr: str) -> None:
    event = _event(data)
    if event is None:
        note_outcome("refused at intake")
        return
    router = Router(_hooks(filter_expr, template_expr))

    matched, failed = router.routing(event)

    assert set(matched).isdisjoint(failed)
    note_outcome(f"filter failed: {bool(failed)}")
    for reason in failed.values():
        assert reason.startswith(FILTER_FAILED) and "\n" not in reason and "\r" not in reason
    verdicts = router.explain(event)
    assert [v.hook for v in verdicts if v.matched] == matched
    assert {v.hook: v.filter_error for v in verdicts if v.filter_error} == dict(failed)

    rendered: dict[str, str] = {}
    for name in matched:
        try:
            request = render_request(router.by_name[name], "d-1", event.id, 1, event.body, 0.0)
        except RequestRenderError as e:
            reason = str(e)
            assert reason and "\n" not in reason and "\r" not in reason
            rendered[name] = reason
            note_outcome(f"render failed: {name}")
            continue
        # Checked here independently of rendering's own check: nothing sendable holds a control character.
        assert not any(_CONTROL.search(v) for v in request.headers.values()), request.headers
        orjson.loads(request.body)

    result = dry_run(router, InputEvent(event, "-"), now=0.0)
    for h in result.hooks:
        assert h.matched == (h.hook in matched)
        assert h.filter_error == failed.get(h.hook, "")
        if h.hook in rendered:
            assert h.render_error == f"cannot render the request: {rendered[h.hook]}"
        elif h.matched:
            assert h.request is not None and not h.render_error


def test_every_expression_in_the_table_compiles() -> None:
    """So the property exercises evaluation, not the config check."""
    for expr in EXPRESSIONS:
        Router(_hooks(expr, expr))
