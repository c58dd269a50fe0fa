"""The docs keep up with the code: every command has help and a man page entry; every config key is documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from hookd.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
MAN1 = ROOT / "man" / "hookd.1"
MAN5 = ROOT / "man" / "hookd.yaml.5"


def commands() -> Iterator[tuple[str, Any]]:
    """Every command as its full name (`history show`), walking the click tree typer builds."""

    def walk(prefix: str, command: Any) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "commands"):  # a group (typer bundles its own click)
            for name, sub in command.commands.items():
                yield from walk(f"{prefix} {name}".strip(), sub)
            if prefix:
                yield prefix, command
        else:
            yield prefix, command

    yield from walk("", typer.main.get_command(app))


def test_every_command_has_help() -> None:
    names = dict(commands())
    assert {"serve", "validate", "version", "secret generate"} <= set(names)
    for name, command in names.items():
        assert (command.help or command.short_help or "").strip(), f"`hookd {name}` has no help text"


def test_every_command_is_in_the_man_page() -> None:
    text = MAN1.read_text(encoding="utf-8").replace("\\-", "-")
    for name, _ in commands():
        assert f"hookd {name}" in text or f".B {name}" in text or f"B hookd {name}" in text, (
            f"`hookd {name}` is missing from man/hookd.1"
        )


def test_every_top_level_config_key_is_in_the_config_man_page() -> None:
    schema = json.loads((ROOT / "configs" / "hookd.schema.json").read_text(encoding="utf-8"))
    text = MAN5.read_text(encoding="utf-8")
    for key in schema["properties"]:
        assert f".B {key}" in text, f"top-level key {key!r} is missing from man/hookd.yaml.5"


@pytest.mark.parametrize("page", [MAN1, MAN5], ids=lambda p: p.name)
def test_man_pages_render_without_warnings(page: Path) -> None:
    man = shutil.which("man")
    if man is None:
        pytest.skip("man is not installed on this machine")
    result = subprocess.run(
        [man, "--warnings", "-l", str(page)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert "NAME" in result.stdout and "hookd" in result.stdout
