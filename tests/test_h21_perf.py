"""Issue 21, the hot path: what the shortcuts taken on every request or attempt must keep."""

from __future__ import annotations

import time
import uuid

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from hookd import ids
from hookd.redact import REDACTED, redact_headers


def test_redact_headers_hides_secret_names_also_beside_names_it_has_seen_before() -> None:
    plain = {"Content-Type": "application/json", "webhook-id": "evt-1", "hookd-attempt": "1"}
    assert redact_headers(plain) == plain
    assert redact_headers(plain) == plain  # the second time from the set of names seen to be plain
    with_secret = {**plain, "X-Api-Key": "k-123", "Authorization": "Bearer abc"}
    assert redact_headers(with_secret) == {**plain, "X-Api-Key": REDACTED, "Authorization": REDACTED}
    assert redact_headers(with_secret) == {**plain, "X-Api-Key": REDACTED, "Authorization": REDACTED}


def test_redact_headers_of_a_multidict_keeps_the_last_value_of_a_repeated_name_either_way() -> None:
    answer = CIMultiDictProxy(CIMultiDict([("Server", "a"), ("Server", "b"), ("Date", "today")]))
    assert redact_headers(answer) == {"Server": "b", "Date": "today"}
    assert redact_headers(answer) == {"Server": "b", "Date": "today"}


def test_uuid7_made_faster_than_4096_per_ms_borrows_the_next_ms_and_stays_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A clock that stands still: every id falls in one ms, so the counter runs over and the text made
    # once per ms (the id up to its counter) must follow the borrowed ms.
    frozen = time.time_ns()
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    made = [ids.uuid7() for _ in range(10_000)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)
    stamps = [uuid.UUID(i).int >> 80 for i in made]
    assert stamps[0] >= frozen // 1_000_000
    assert stamps[-1] - stamps[0] >= 2  # 10,000 ids: at least two borrowed ms
    assert all(ids.is_uuid7(i) and uuid.UUID(i).version == 7 and uuid.UUID(i).variant == uuid.RFC_4122 for i in made)
    assert all(str(uuid.UUID(i)) == i for i in made)
