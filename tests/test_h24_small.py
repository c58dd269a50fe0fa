"""Issue 24's small leftovers: a piped call with an argument left out is one error, not two; a preset's
text option of the wrong kind is "a string", as the preset says it when sending; `hookd test` given
JSON text where the events file goes says how to give that event. (Discord's rate-limit headers on a
failure: tests/test_h22_presets_discord.py; the Quick start's files: tests/test_quickstart.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import plain
from tests.test_cli_test import config_text, invoke, write
from tests.test_h22_functions_more import payload_problems
from tests.test_h22_schema_rules import HOOK, the_one_error


def test_a_piped_call_missing_its_value_is_one_error_about_the_pipe(tmp_path: Path) -> None:
    """`| format_number('.2f')`: the spec stands where the number goes, which is the missing argument,
    already said with the pipe's explanation; not also a type error about '.2f'."""
    found = payload_problems(tmp_path, "{{ data.amount | format_number('.2f') }}")
    assert [severity for _, severity, _ in found] == ["error"], found
    [(_, _, message)] = found
    assert "format_number() takes 2 argument(s), but is given 1" in message
    assert "| is JMESPath's pipe, not a template filter" in message


def test_a_text_option_of_the_wrong_kind_is_said_as_the_preset_says_it(tmp_path: Path) -> None:
    """validate and the preset, when it renders the option, both say "must be a string": an empty value
    is the option left out, so validate does not offer it as a choice ("a string or empty")."""
    from hookd.presets import PRESETS
    from hookd.presets.base import PresetError

    text = HOOK + "    preset: mattermost\n    message: hi\n    preset_options:\n      channel: 42\n"
    error, _ = the_one_error(tmp_path, text)
    assert error.endswith("preset_options.channel: must be a string, not a number (quote it to keep it as text)")
    with pytest.raises(PresetError, match=r"^preset_options\.channel must be a string, not a number$"):
        PRESETS["mattermost"].body("hi", {"channel": 42}, {})


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (
            '{"type": "order.created", "data": {"id": 7, "note": "Ada\'s"}}',
            "error: EVENT_FILE: this looks like JSON text, not the name of an events file; give this event as "
            '--type order.created --data \'{"id": 7, "note": "Ada\'"\'"\'s"}\' instead',
        ),
        ('{"type": "order.created"}', "give this event as --type order.created instead"),
        # Not one event of a type and data alone: --type/--data cannot say it all.
        (
            '[{"type": "order.created"}]',
            "error: EVENT_FILE: this looks like JSON text, not the name of an events file; give - and pipe it in "
            "(echo '...' | hookd test -), save it to a file and give the file's name, or give one event as "
            "--type TYPE --data JSON",
        ),
        ('{"id": "e1", "type": "order.created"}', "give - and pipe it in"),
    ],
)
def test_json_given_as_the_events_file_says_how_to_give_it(tmp_path: Path, given: str, said: str) -> None:
    config = write(tmp_path, "hookd.yaml", config_text())
    result = invoke("-c", str(config), given)
    assert result.exit_code == 2, result.output
    assert said in plain(result.stderr), result.stderr
    assert "does not exist" not in result.stderr


def test_a_file_whose_name_starts_with_a_brace_is_still_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "hookd.yaml", config_text())
    write(tmp_path, "{odd}.json", '{"type": "order.created", "data": {"id": 7, "total": 250}}')
    result = invoke("-c", "hookd.yaml", "{odd}.json")
    assert result.exit_code == 0, result.output
    assert "order.created" in result.stdout


def test_an_event_type_over_200_characters_is_refused_naming_its_length() -> None:
    """Every hook's globs, and every tail reader's, match the type of every event: a 60 KB type once
    made a reader's filters cost seconds per event."""
    from hookd.errors import EventError
    from hookd.events import MAX_TYPE_LENGTH, parse_event_line

    parse_event_line(b'{"type": "%s"}' % (b"t" * MAX_TYPE_LENGTH), max_bytes=100_000)
    with pytest.raises(EventError, match=r'"type" is 201 characters, over 200'):
        parse_event_line(b'{"type": "%s"}' % (b"t" * (MAX_TYPE_LENGTH + 1)), max_bytes=100_000)
