from __future__ import annotations

import base64

from typer.testing import CliRunner

import hookd.cli.secret  # noqa: F401  (registers the command)
from hookd.cli.app import app


def test_secret_generate_prints_a_fresh_whsec_secret() -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["secret", "generate"])
    second = runner.invoke(app, ["secret", "generate"])
    assert first.exit_code == 0 and second.exit_code == 0
    a, b = first.output.strip(), second.output.strip()
    assert a.startswith("whsec_") and a != b
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32


def test_secret_generate_bytes_and_prefix() -> None:
    result = CliRunner().invoke(app, ["secret", "generate", "--bytes", "48", "--prefix", ""])
    assert result.exit_code == 0
    assert len(base64.b64decode(result.output.strip(), validate=True)) == 48


def test_secret_generate_rejects_weak_sizes_with_exit_2() -> None:
    result = CliRunner().invoke(app, ["secret", "generate", "--bytes", "8"])
    assert result.exit_code == 2
    assert "24" in result.output
