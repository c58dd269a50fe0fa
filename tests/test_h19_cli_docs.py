"""What the docs say about every command's options and the names the schema accepts stays true."""

from __future__ import annotations

import json

from tests.test_docs import MAN1, ROOT, commands


def test_the_man_page_names_every_command_without_a_config_option() -> None:
    without = sorted(
        name
        for name, command in commands()
        if not hasattr(command, "commands")  # a group such as `secret` takes its sub-commands' options
        and not any("-c" in p.opts for p in command.params)
    )
    assert without == ["secret generate", "version"]
    text = " ".join(MAN1.read_text(encoding="utf-8").split())
    assert 'Every command that reads a config (all but .B version and .BR "secret generate" ) takes' in text


def test_the_readme_states_the_schemas_rule_for_hook_names() -> None:
    schema = json.loads((ROOT / "hookd" / "config" / "schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["name"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith("| `hooks[].name` |")]
    assert "1 to 64 characters: letters, digits, `.`, `_` and `-`, starting with a letter or digit" in row
    sources_row = "| `sources[].name` | required | unique; the same rules as hook names; `hookd` is reserved |"
    assert sources_row in readme.splitlines()


def test_the_readme_shows_the_send_summary_hookd_prints() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "event(s) rejected; the others were stored" not in readme
    assert "1 of 2 events were refused and not stored (the reason is above)" in readme
