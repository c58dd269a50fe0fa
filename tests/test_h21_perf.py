"""Issue 21, the hot path: what the shortcuts taken on every request or attempt must keep."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

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
