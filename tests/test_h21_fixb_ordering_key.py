"""Ordering keys name a number by its value, not its spelling: producers write 7, 7.0 or 7e0 for one
order, and those events must share one queue (one key), nested in an object or array too."""

from __future__ import annotations

import pytest

from hookd.config.model import HookConfig
from hookd.events import parse_event_line
from hookd.router import Router, ordering_key


def keys_of(*lines: str, expression: str = "data.order") -> list[str | None]:
    router = Router([HookConfig(name="h", events=("*",), url="http://127.0.0.1:9/h", ordering_key=expression)])
    out: list[str | None] = []
    for line in lines:
        event = parse_event_line(line, max_bytes=10_000, now=1769860800.0)
        _, _, keys = router.ordering_keys(event, ["h"], {})
        out.append(None if keys is None else keys["h"])
    return out


def test_seven_and_seven_point_zero_are_one_queue() -> None:
    lines = [f'{{"id": "e{n}", "type": "order.paid", "data": {{"order": {v}}}}}' for n, v in enumerate(
        ["7", "7.0", "7e0", "70e-1", "7.00"])]  # fmt: skip
    assert keys_of(*lines) == ["7", "7", "7", "7", "7"]
    assert keys_of('{"id": "x", "type": "t", "data": {"order": 7.5}}') == ["7.5"]  # not integral: as written
    assert keys_of('{"id": "x", "type": "t", "data": {"order": "7"}}') == ["7"]


def test_integral_floats_inside_objects_and_arrays_are_integers_too() -> None:
    a = '{"id": "a", "type": "t", "data": {"order": {"shop": 1.0, "n": [2.0, 3]}}}'
    b = '{"id": "b", "type": "t", "data": {"order": {"n": [2, 3e0], "shop": 1}}}'
    assert keys_of(a, b) == ['{"n":[2,3],"shop":1}'] * 2


@pytest.mark.parametrize(("value", "key"), [(-0.0, "0"), (1e20, "100000000000000000000"), (True, "true"), (0.1, "0.1")])
def test_stored_forms(value: object, key: str) -> None:
    assert ordering_key(value) == key
