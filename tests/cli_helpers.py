"""Running the hookd CLI in a test (typer's CliRunner, in process) and reading what it printed."""

from __future__ import annotations

import asyncio
import os
import re
import sys

from typer.testing import CliRunner, Result

from hookd.cli.app import app
from tests.conftest import FAILSAFE_S

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """`text` without colour codes: rich decides on colour when hookd.cli.render is imported, and
    FORCE_COLOR in CI must not break an assertion on the words."""
    return _ANSI.sub("", text)


async def hookd(*args: str) -> Result:
    """`hookd ARGS...` in a thread, so a daemon running on the test's event loop can answer it; with
    HOOKD_CONFIG unset, so only the test's `-c` names the config."""
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"HOOKD_CONFIG": None})


async def into_a_closed_pipe(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `hookd ARGS...` as its own process with stdout a pipe whose reader is already gone (like
    `| head` once it has its lines), so its first write fails with EPIPE; `env` on top of ours, with no
    default config. Returns the exit code and what it wrote to stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hookd", *args, stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "HOOKD_CONFIG": "/nonexistent", **env},
        )  # fmt: skip
    finally:
        os.close(write_end)
    async with asyncio.timeout(FAILSAFE_S):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()
