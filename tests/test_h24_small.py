"""Issue 24's small leftovers: a piped call with an argument left out is one error, not two; a preset's
text option of the wrong kind is "a string", as the preset says it when sending; a Discord answer that
spends the bucket slows the retry even when it is a failure; `hookd test` given JSON text where the
events file goes says how to test that event."""

from __future__ import annotations

from pathlib import Path

from tests.test_h22_functions_more import payload_problems


def test_a_piped_call_missing_its_value_is_one_error_about_the_pipe(tmp_path: Path) -> None:
    """`| format_number('.2f')`: the spec stands where the number goes, which is the missing argument,
    already said with the pipe's explanation; not also a type error about '.2f'."""
    found = payload_problems(tmp_path, "{{ data.amount | format_number('.2f') }}")
    assert [severity for _, severity, _ in found] == ["error"], found
    [(_, _, message)] = found
    assert "format_number() takes 2 argument(s), but is given 1" in message
    assert "| is JMESPath's pipe, not a template filter" in message
