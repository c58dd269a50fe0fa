"""An ordering_key or filter of only spaces is a validate error naming the key and what to write
(it passed, then made `hookd serve` and `hookd test` fail with a traceback: second new-user review);
an ordering_key every event has a value of its own for (`@`, `id`) orders nothing: a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import hookd
from tests.test_h20_guard_validate import validate

HOOK = 'version: 1\nhooks:\n  - {name: h, events: ["*"], url: "https://x.example/", %s}\n'


@pytest.mark.parametrize("blank", ['"   "', '"\\t"'])
def test_a_blank_ordering_key_or_filter_is_an_error_saying_what_to_write(tmp_path: Path, blank: str) -> None:
    code, lines, path = validate(tmp_path, HOOK % f"ordering_key: {blank}, filter: {blank}")
    assert code == 1
    assert lines[0].startswith(f"{path}:3:") and lines[0].endswith(
        "error: hooks[0] (name='h').ordering_key: ordering_key is blank; write a JMESPath expression over the "
        "event, like data.order_id, or remove ordering_key"
    ), lines
    assert lines[1].endswith(
        "error: hooks[0] (name='h').filter: filter is blank; write a JMESPath expression over the event, like "
        "data.total > `100`, or remove filter"
    ), lines


async def test_hookd_test_refuses_a_blank_ordering_key_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "hookd.yaml"
    config.write_text(HOOK % 'ordering_key: "   "', encoding="utf-8")
    result = await hookd("test", "-c", str(config), "--type", "x", "--data", '{"id": 1}')
    assert result.exit_code == 1, result.output  # an invalid config, as for every other error
    assert "ordering_key is blank" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("key", ["@", "id"])
def test_an_ordering_key_unique_to_each_event_is_a_warning(tmp_path: Path, key: str) -> None:
    code, lines, _ = validate(tmp_path, HOOK % f'ordering_key: "{key}"')
    assert code == 0, lines
    assert f"ordering_key {key!r} gives every event a key of its own, so nothing is ordered" in lines[0]
