"""`${file:...}` reads one bounded value from a regular file: a device, a FIFO or a huge file is a
config error naming the reference, never an endless read (found by the config property test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hookd.config.load import check_config
from hookd.config.located import MAX_SECRET_FILE_BYTES


def _config(tmp_path: Path, secret_path: str) -> Path:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        "version: 1\nhooks:\n  - name: a\n    events: ['*']\n    url: http://127.0.0.1:9/x\n"
        f'    headers: {{X-A: "${{file:{secret_path}}}"}}\n'
    )
    return path


@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "too-large"])
def test_a_secret_file_that_is_not_one_bounded_value_is_an_error(tmp_path: Path, kind: str) -> None:
    if kind == "device":
        target = "/dev/zero"
    elif kind == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)  # nobody writes to it: opening it for a blocking read would wait forever
    elif kind == "directory":
        target = str(tmp_path)
    else:
        target = str(tmp_path / "big")
        Path(target).write_bytes(b"x" * (MAX_SECRET_FILE_BYTES + 1))
    result = check_config(_config(tmp_path, target))
    assert result.settings is None
    [problem] = result.errors
    assert problem.line == 6
    assert f"${{file:{target}}}" in problem.message
    assert ("not a regular file" if kind != "too-large" else "larger than 64KiB") in problem.message or (
        kind == "directory" and "cannot read" in problem.message
    )


def test_a_secret_file_at_the_limit_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_bytes(b"s" * (MAX_SECRET_FILE_BYTES - 1) + b"\n")
    result = check_config(_config(tmp_path, str(secret)))
    assert result.settings is not None
    assert result.settings.hooks[0].headers["X-A"] == "s" * (MAX_SECRET_FILE_BYTES - 1)
