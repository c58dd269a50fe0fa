"""Every command writing to a closed pipe (`hookd … | head`) ends with its own exit code and no
traceback (found by a new-user walkthrough: all but `status` printed a BrokenPipeError traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import into_a_closed_pipe
from tests.conftest import new_database, write_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("version",), 0),
        (("secret", "generate"), 0),
        (("validate", str(EXAMPLES / "quickstart" / "hookd.yaml")), 0),
        (("validate", "--format", "json", str(EXAMPLES / "quickstart" / "hookd.yaml")), 0),
        (("test", "-c", str(EXAMPLES / "quickstart" / "hookd.yaml"), "--type", "sales_order.created",
          "--data", '{"id": "o1", "total": 250, "status": "paid", "customer": {"name": "Ada"}}'), 0),
        (("test", "-c", str(EXAMPLES / "quickstart" / "hookd.yaml"), "--type", "x", "--data", "{}", "--json"), 0),
    ],
)  # fmt: skip
async def test_commands_end_quietly_with_their_own_exit_code(args: tuple[str, ...], code: int) -> None:
    returncode, err = await into_a_closed_pipe(*args, env={"COLUMNS": "80"})
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert returncode == code, err


async def test_an_invalid_config_still_exits_1_into_a_closed_pipe(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nhooks:\n  - {name: a, events: ['*']}\n")
    returncode, err = await into_a_closed_pipe("validate", str(path), env={"COLUMNS": "80"})
    assert "Traceback" not in err, err
    assert returncode == 1


async def test_history_tables_into_a_closed_pipe(tmp_path: Path) -> None:
    await new_database(tmp_path / "hookd.db")
    for args in (
        ("history", "--db", str(tmp_path / "hookd.db")),
        ("history", "stats", "--db", str(tmp_path / "hookd.db")),
    ):
        returncode, err = await into_a_closed_pipe(*args, env={"COLUMNS": "80"})
        assert "Traceback" not in err, err
        assert returncode == 0, err
