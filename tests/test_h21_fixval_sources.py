"""A configured source whose name reads as `hookd` is refused like `hookd` itself (issue 21, new-user
review finding 11): the look-alike rule of an event's type and source (events.reads_as) holds for
source names too, so `hookd status` or a log line never shows a producer's source passing for hookd's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_h20_guard_validate import validate


@pytest.mark.parametrize("name", ["HOOKD", "Hookd", "hookD"])
def test_a_source_name_that_reads_as_hookd_is_an_error_at_the_name(tmp_path: Path, name: str) -> None:
    text = f"version: 1\nsources:\n  - {{name: {name}, type: socket, path: s.sock}}\n"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert lines[0] == (
        f"{path}:3:12: error: sources[0] (name='{name}').name: source name '{name}' reads as 'hookd' and is "
        "reserved for hookd's own events (alerts, the built-in source hookd); give this source "
        "another name, like app"
    ), lines


@pytest.mark.parametrize("name", ["hookd-app", "hookd2", "my.hookd"])
def test_a_name_that_only_contains_hookd_is_fine(tmp_path: Path, name: str) -> None:
    code, lines, _ = validate(tmp_path, f"version: 1\nsources:\n  - {{name: {name}, type: socket, path: s.sock}}\n")
    assert code == 0, lines
