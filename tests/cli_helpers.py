"""Running the hookd CLI in a test (typer's CliRunner, in process) and reading what it printed."""

from __future__ import annotations

import asyncio
import re

from typer.testing import CliRunner, Result

from hookd.cli.app import app

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """`text` without colour codes: rich decides on colour when hookd.cli.render is imported, and
    FORCE_COLOR in CI must not break an assertion on the words."""
    return _ANSI.sub("", text)


async def hookd(*args: str) -> Result:
    """`hookd ARGS...` in a thread, so a daemon running on the test's event loop can answer it; with
    HOOKD_CONFIG unset, so only the test's `-c` names the config."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"HOOKD_CONFIG": None})
