"""`rate_limit` and `rate_limit_group` on a hook, `delivery.rate_limit_groups`: what loads, and what
validate refuses, at file:line:col, saying how to write it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.config.load import load_config
from tests.test_h20_guard_validate import validate

HOOK = "  - name: {name}\n    events: [x]\n    url: 'https://example.com/{name}'\n"


def config(*hooks: str, groups: str | None = None) -> str:
    text = "version: 1\n"
    if groups is not None:
        text += f"delivery:\n  rate_limit_groups: {groups}\n"
    return text + "hooks:\n" + "".join(hooks)


def hook(name: str, extra: str = "") -> str:
    return HOOK.format(name=name) + extra


def test_a_hook_limit_and_a_group_limit_load(tmp_path: Path) -> None:
    """1. Hook a: rate_limit 100/min; hooks b and c: rate_limit_group partner (5/s); hook d: none.
    Result: valid; a's limit is 100/min (per second 5/3); b and c carry the group's rate and name; d none."""
    text = config(
        hook("a", "    rate_limit: 100/min\n"),
        hook("b", "    rate_limit_group: partner\n"),
        hook("c", "    rate_limit_group: partner\n"),
        hook("d"),
        groups="{partner: 5/s}",
    )
    code, lines, path = validate(tmp_path, text)
    assert (code, lines) == (0, [f"ok {path}: 4 hook(s), 0 source(s)"])
    a, b, c, d = load_config(path).hooks
    assert a.rate_limit is not None and str(a.rate_limit) == "100/min"
    assert a.rate_limit.per_s == pytest.approx(100 / 60) and a.rate_limit_group is None
    assert b.rate_limit is not None and b.rate_limit.per_s == 5.0 and b.rate_limit_group == "partner"
    assert c.rate_limit == b.rate_limit and c.rate_limit_group == "partner"
    assert d.rate_limit is None and d.rate_limit_group is None


@pytest.mark.parametrize("value", ["100/fortnight", "100", "fast", "100 per minute", "/min"])
def test_a_malformed_rate_names_its_place_and_the_right_form(tmp_path: Path, value: str) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", f"    rate_limit: '{value}'\n")))
    assert code == 1
    assert f"{path}:6:17: error: hooks[0] (name='a').rate_limit: '{value}' is not a rate; write a count per unit" in (
        "\n".join(lines)
    ), lines
    assert "like 5/s, 100/min or 2000/hour (units s, sec, second, m, min, minute, h, hour, in lower case)" in (
        "\n".join(lines)
    )


def test_a_bare_number_is_not_a_rate(tmp_path: Path) -> None:
    """`rate_limit: 5` (5 per what?) is refused with the form to write."""
    code, lines, path = validate(tmp_path, config(hook("a", "    rate_limit: 5\n")))
    assert code == 1
    assert any(line.startswith(f"{path}:6:17: error:") and "like 100/min, 5/s or 2000/h" in line for line in lines), (
        lines
    )


def test_a_zero_rate_is_refused(tmp_path: Path) -> None:
    code, lines, path = validate(tmp_path, config(hook("a", "    rate_limit: 0/min\n")))
    assert code == 1
    assert f"{path}:6:17: error: hooks[0] (name='a').rate_limit: '0/min' would never send anything; give a count " \
        "above 0, like 100/min" in lines  # fmt: skip


def test_an_unknown_group_suggests_the_closest_declared_one(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: partner-apu\n"), groups="{partner-api: 100/min}")
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert (
        f"{path}:8:23: error: hooks[0] (name='a').rate_limit_group: rate limit group 'partner-apu' is not declared "
        "under delivery.rate_limit_groups; did you mean 'partner-api'?"
    ) in lines
    # ... and the group it meant is then unused: said too, as a warning
    assert any("warning" in line and "'partner-api' is not used by any hook" in line for line in lines), lines


def test_a_group_with_no_groups_declared_says_how_to_declare_it(tmp_path: Path) -> None:
    code, lines, _ = validate(tmp_path, config(hook("a", "    rate_limit_group: partner\n")))
    assert code == 1
    assert any(
        "rate limit group 'partner' is not declared under delivery.rate_limit_groups; declare it once, like "
        "delivery: {rate_limit_groups: {partner: 100/min}}" in line
        for line in lines
    ), lines


def test_both_keys_on_one_hook_is_an_error_at_the_group_key(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit: 10/s\n    rate_limit_group: partner\n"), groups="{partner: 100/min}")
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert (
        f"{path}:9:5: error: hooks[0] (name='a').rate_limit_group: rate_limit and rate_limit_group both limit this "
        "hook; keep one: rate_limit for a limit of its own, or rate_limit_group to share the group's"
    ) in lines


def test_an_unused_group_is_a_warning(tmp_path: Path) -> None:
    text = config(hook("a"), groups="\n    partner: 100/min\n    spare: 5/s")
    code, lines, path = validate(tmp_path, text)
    assert code == 0, lines
    assert (
        f"{path}:4:5: warning: delivery.rate_limit_groups.partner: rate limit group 'partner' is not used by any "
        "hook; name it in a hook's rate_limit_group, or remove it"
    ) in lines
    assert any(line.startswith(f"{path}:5:5: warning:") and "'spare'" in line for line in lines), lines


def test_a_group_rate_is_checked_like_a_hook_rate(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit_group: partner\n"), groups="{partner: 100/fortnight}")
    code, lines, _ = validate(tmp_path, text)
    assert code == 1
    assert any(
        "delivery.rate_limit_groups.partner: '100/fortnight' is not a rate; write a count per unit" in line
        for line in lines
    ), lines
