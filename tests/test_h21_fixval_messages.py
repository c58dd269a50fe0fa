"""validate's schema messages say what is wrong, where, and how to fix it (issue 21, new-user review
finding 11): a string where a list of several belongs, an empty list or string, a rate limit group
whose name is no name (one error, at the key, and no "unused" warning beside it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_h20_guard_validate import validate
from tests.test_h21_rate_config import config, hook


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if ": error: " in line or ": warning: " in line]


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ('"5s, 1m"', "(write [5s, 1m] without quotes, for a list of 2)"),
        ('"5s,1m,10m"', "(write [5s, 1m, 10m] without quotes, for a list of 3)"),
        ("5s", "(write [5s] for a list of one)"),
    ],
)
def test_a_schedule_written_as_a_string_gets_the_list_it_means(tmp_path: Path, written: str, hint: str) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", f"    retry: {{schedule: {written}}}\n")))
    assert code == 1
    assert errors(lines) == [
        f"{path}:6:23: error: hooks[0] (name='a').retry.schedule: must be a list, not a string {hint}"
    ], lines


def test_an_empty_schedule_says_what_to_write(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", "    retry: {schedule: []}\n")))
    assert code == 1
    assert errors(lines) == [
        f"{path}:6:23: error: hooks[0] (name='a').retry.schedule: is empty; list the delay after each failed "
        "attempt, like [5s, 1m, 10m], or remove schedule to retry by backoff (max_attempts: 1 for no retries)"
    ], lines


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("ordering_key", "write a JMESPath expression over the event, like data.order_id, or remove ordering_key "
                         "to deliver in any order"),
        ("filter", "write a JMESPath expression over the event, like data.total > `100`, or remove filter to "
                   "deliver every matching event"),
    ],
)  # fmt: skip
def test_an_empty_expression_says_what_to_write(tmp_path: Path, key: str, fix: str) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", f'    {key}: ""\n')))
    assert code == 1
    column = len(f"    {key}: ") + 1
    assert errors(lines) == [f"{path}:6:{column}: error: hooks[0] (name='a').{key}: must not be empty; {fix}"], lines


def test_an_empty_list_item_says_remove_it(tmp_path: Path) -> None:
    text = (
        "version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: 'https://{{ data.shop }}.shop.example/x'\n"
        "    allow_hosts: ['*.shop.example', '']\n"
    )
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert errors(lines) == [
        f"{path}:6:37: error: hooks[0] (name='a').allow_hosts[1]: must not be empty; give it a value, or remove "
        "the item"
    ], lines


def test_a_group_name_that_is_no_name_is_one_error_at_the_key(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: partner\n"), groups="{partner: 100/min, Bad Name: 5/s}")
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert errors(lines) == [
        f"{path}:3:41: error: delivery.rate_limit_groups.Bad Name: 'Bad Name' is not valid: use letters, digits, "
        "'-', '_' and '.', starting with a letter or digit (at most 64 characters)"
    ], lines


def test_an_unused_group_with_a_good_name_is_still_a_warning(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: partner\n"), groups="{partner: 100/min, spare: 5/s}")
    code, lines, path = validate(tmp_path, text)
    assert code == 0
    assert errors(lines) == [
        f"{path}:3:41: warning: delivery.rate_limit_groups.spare: rate limit group 'spare' is not used by any "
        "hook; name it in a hook's rate_limit_group, or remove it"
    ], lines
