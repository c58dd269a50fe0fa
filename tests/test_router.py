"""Routing events to hooks by type globs and JMESPath filters, and explaining why a hook did not match."""

from __future__ import annotations

import pytest

from hookd.config.model import HookConfig
from hookd.events import Event, event_from_object
from hookd.router import Router, Verdict, compile_globs

NOW = 1769860800.0


def hook(name: str, *events: str, filter: str | None = None) -> HookConfig:
    return HookConfig(name=name, events=events, url=f"http://127.0.0.1:9/{name}", filter=filter)


def event(etype: str, data: object = None, *, event_id: str = "e1") -> Event:
    return event_from_object({"id": event_id, "type": etype, "data": data}, now=NOW)


# -- globs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("globs", "name", "matched"),
    [
        (["order.*"], "order.created", True),
        (["order.*"], "order.item.added", True),  # * crosses dots
        (["order.*"], "order.", True),
        (["order.*"], "order", False),
        (["order.*"], "orders.created", False),
        (["order.*"], "xorder.created", False),
        (["*.created"], "order.created", True),
        (["*.created"], "shop.order.created", True),
        (["*.created"], "order.created.v2", False),
        (["ord*ted"], "order.created", True),  # * within a name
        (["ord*ted"], "ordered", False),
        (["*"], "", True),
        (["*"], "anything", True),
        (["*"], "a.b.c", True),
        (["order.created"], "order.created", True),
        (["order.created"], "order_created", False),  # the dot is literal
        (["order.created"], "order.created.v2", False),
        (["order.created"], "Order.created", False),  # case-sensitive
        (["order.?"], "order.a", True),
        (["order.?"], "order.ab", False),
        (["order.?"], "order.", False),
        (["a.*", "b"], "a.x", True),
        (["a.*", "b"], "b", True),
        (["a.*", "b"], "bb", False),
        (["a.*", "b"], "c", False),
    ],
)
def test_compile_globs(globs: list[str], name: str, matched: bool) -> None:
    assert bool(compile_globs(globs).match(name)) is matched


# -- route ----------------------------------------------------------------------------------------


def test_route_fans_out_to_every_matching_hook_in_config_order() -> None:
    router = Router(
        [
            hook("zeta-all", "*"),
            hook("invoices", "invoice.*"),
            hook("alpha-orders", "order.*"),
            hook("exact", "order.created"),
            hook("big", "order.*", filter="data.amount > `100`"),
        ]
    )

    assert router.route(event("order.created", {"amount": 150})) == ["zeta-all", "alpha-orders", "exact", "big"]
    assert router.route(event("order.created", {"amount": 50})) == ["zeta-all", "alpha-orders", "exact"]
    assert router.route(event("invoice.paid")) == ["zeta-all", "invoices"]


def test_route_with_no_match_is_empty() -> None:
    router = Router([hook("orders", "order.*")])

    assert router.route(event("user.created")) == []


@pytest.mark.parametrize(
    ("value", "matched"),
    [
        (0, True),  # JMESPath: every number is true
        (0.0, True),
        (1, True),
        ("x", True),
        ("false", True),
        ([0], True),
        ([None], True),
        ({"a": None}, True),
        (True, True),
        ("", False),
        ([], False),
        ({}, False),
        (None, False),
        (False, False),
    ],
)
def test_filter_uses_jmespath_truthiness(value: object, matched: bool) -> None:
    router = Router([hook("h", "*", filter="data.v")])

    assert router.route(event("t", {"v": value})) == (["h"] if matched else [])


def test_filter_on_a_missing_field_is_null_and_not_matched() -> None:
    router = Router([hook("h", "*", filter="data.customer.email")])

    assert router.route(event("t", {"amount": 1})) == []
    assert router.route(event("t", {"customer": {"email": "a@example.com"}})) == ["h"]


@pytest.mark.parametrize(
    ("expression", "data", "matched"),
    [
        ("data.total > `100`", {"total": "300"}, False),  # a string where a number was expected
        ("data.total > `100`", {"total": 300}, True),
        ("data.items[?price > `10`] | length(@) > `0`", {"items": [{"price": 20}, {"price": "cheap"}]}, True),
        ("data.a < 'b'", {"a": "a"}, True),  # strings order among strings
        ("data.a < `1`", {"a": True}, False),
    ],
)
def test_ordering_a_number_against_another_type_is_null_not_an_error(
    expression: str, data: dict[str, object], matched: bool
) -> None:
    """As the JMESPath specification says (jmespath 1.1 raises TypeError for str against int)."""
    routing = Router([hook("h", "*", filter=expression)]).routing(event("t", data))
    assert routing == ((["h"] if matched else []), {})


@pytest.mark.parametrize(
    ("expression", "data"),
    [
        ("length(data.n)", {"n": 5}),  # JMESPathTypeError
        ("sort(data.v)", {"v": [1, "a"]}),  # JMESPathTypeError: mixed types
        ("merge(data.a, data.n)", {"a": {}, "n": 5}),  # TypeError
        ("ceil(to_number(data.s))", {"s": "1e999"}),  # OverflowError
        ("floor(to_number(data.s))", {"s": "nan"}),  # ValueError
    ],
)
def test_filter_that_fails_on_this_event_is_not_matched_reported_and_does_not_raise(
    expression: str, data: object
) -> None:
    router = Router([hook("before", "*"), hook("broken", "*", filter=expression), hook("after", "*")])

    hooks, failed = router.routing(event("t", data, event_id="ev-9"))

    assert hooks == ["before", "after"]
    assert list(failed) == ["broken"]
    assert failed["broken"].startswith("filter could not be evaluated on this event: ")
    assert "nothing was sent" in failed["broken"]
    assert "\n" not in failed["broken"]


# -- explain --------------------------------------------------------------------------------------


def test_explain_gives_one_verdict_per_hook_naming_globs_and_filter_values() -> None:
    router = Router(
        [
            hook("orders", "order.*", "invoice.paid"),
            hook("users", "user.*"),
            hook("big", "user.*", filter="data.amount > `100`"),
            hook("has-amount", "user.*", filter="data.amount"),
            hook("tags", "user.*", filter="data.tags"),
            hook("broken", "user.*", filter="length(data.amount)"),
        ]
    )

    verdicts = router.explain(event("user.created", {"amount": 0, "tags": []}))

    assert verdicts == [
        Verdict("orders", False, "type 'user.created' matches none of: order.*, invoice.paid"),
        Verdict("users", True, ""),
        Verdict("big", False, "filter 'data.amount > `100`' is False", False),
        Verdict("has-amount", True, "", 0),
        Verdict("tags", False, "filter 'data.tags' is []", []),
        verdicts[-1],
    ]
    broken = verdicts[-1]
    assert (broken.hook, broken.matched) == ("broken", False)
    assert broken.reason == broken.filter_error
    assert broken.filter_error.startswith(
        "filter could not be evaluated on this event: In function length(), invalid type for value: 0, expected "
        "one of: ['string', 'array', 'object'], received: \"number\"; nothing was sent."
    )


def test_explain_agrees_with_route() -> None:
    router = Router(
        [
            hook("a", "order.*", filter="data.ok"),
            hook("b", "*"),
            hook("c", "order.created", filter="data.items[?price > `1`]"),
            hook("d", "user.*"),
        ]
    )
    samples = [
        event("order.created", {"ok": True, "items": [{"price": 2}]}),
        event("order.created", {"ok": False, "items": [{"price": "x"}, {"price": 2}]}),
        event("user.deleted", {"ok": True}),
    ]

    for sample in samples:
        assert [v.hook for v in router.explain(sample) if v.matched] == router.route(sample)
