"""The zapier preset: one flat object a Zap's steps pick fields from (the event's data under `data__`,
nested keys joined by `__`, lists kept), and Zapier's answers (200 {"status": "success"})."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookd.presets import PRESETS, PresetError
from tests.h22_presets_receiver import Answers, answering

ZAPIER = PRESETS["zapier"]
EVENT: dict[str, object] = {
    "id": "0190a5e2-7c1b-7000-8000-000000000001",
    "type": "order.paid",
    "time": "2026-01-31T12:00:00Z",
    "source": "shop",
    "data": {
        "id": 1001,
        "total": 42.5,
        "customer": {"name": "Ada", "address": {"city": "Linz"}},
        "items": [{"sku": "A-1", "qty": 2}],
        "tags": [],
        "notes": {},
    },
}


@pytest.fixture
async def answer() -> AsyncIterator[Answers]:
    async with answering() as a:
        yield a


def is_flat(value: object) -> bool:
    return isinstance(value, dict) and all(not isinstance(v, dict) or v == {} for v in value.values())


def test_the_event_is_one_flat_object() -> None:
    body = ZAPIER.body("Order 1001 paid", {}, EVENT)
    assert body == {
        "message": "Order 1001 paid",
        "id": "0190a5e2-7c1b-7000-8000-000000000001",
        "type": "order.paid",
        "time": "2026-01-31T12:00:00Z",
        "source": "shop",
        "data__id": 1001,
        "data__total": 42.5,
        "data__customer__name": "Ada",
        "data__customer__address__city": "Linz",
        "data__items": [{"sku": "A-1", "qty": 2}],
        "data__tags": [],
        "data__notes": {},
    }
    assert is_flat(body)


def test_data_that_is_no_object_is_sent_as_data() -> None:
    body = ZAPIER.body("m", {}, {**EVENT, "data": [1, 2]})
    assert isinstance(body, dict) and body["data"] == [1, 2]


def test_fields_add_to_the_object_and_win() -> None:
    body = ZAPIER.body("m", {"fields": {"shop": {"region": "eu"}, "source": "webshop"}}, EVENT)
    assert isinstance(body, dict)
    assert body["shop__region"] == "eu" and body["source"] == "webshop"


def test_two_paths_to_one_name_are_refused() -> None:
    with pytest.raises(PresetError, match=r"two fields that flatten to 'data__a__b'"):
        ZAPIER.body("m", {}, {**EVENT, "data": {"a__b": 1, "a": {"b": 2}}})


async def test_200_success_is_delivered(answer: Answers) -> None:
    said = '{"attempt":"0190a5e2","id":"0190a5e2-aaaa","request_id":"0190a5e2-bbbb","status":"success"}'
    assert ZAPIER.classify(await answer(200, said, {"Content-Type": "application/json"})).ok


async def test_200_with_another_status_is_retried(answer: Answers) -> None:
    outcome = ZAPIER.classify(await answer(200, '{"status":"error"}'))
    assert not outcome.ok and outcome.retryable


async def test_a_429_is_retried(answer: Answers) -> None:
    outcome = ZAPIER.classify(await answer(429, "Too Many Requests"))
    assert outcome.retryable and "rate limiting" in outcome.error


async def test_a_410_gone_is_final(answer: Answers) -> None:
    outcome = ZAPIER.classify(await answer(410, '{"status":"failure","message":"hook not found"}'))
    assert not outcome.retryable and outcome.error.startswith("Zapier answered 410")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "a__b", "c"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(data=_JSON)
def test_any_data_is_flat_or_refused_and_every_leaf_can_be_found_by_its_path(data: object) -> None:
    try:
        body = ZAPIER.body("m", {}, {**EVENT, "data": data})
    except PresetError:
        return
    assert is_flat(body)
    assert isinstance(body, dict)

    def leaves(value: object, path: str) -> list[tuple[str, object]]:
        if isinstance(value, dict) and value:
            return [pair for k, v in value.items() for pair in leaves(v, f"{path}__{k}")]
        return [(path, value)]

    for path, value in leaves(data, "data"):
        assert body[path] == value
