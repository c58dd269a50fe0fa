"""`hookd validate` through typer's CliRunner, plus one real process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hookd.cli.app import app
from tests.cli_helpers import plain

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent

GOOD = """\
version: 1
hooks:
  - name: orders
    events: ["order.*"]
    url: http://127.0.0.1:8781/orders
"""
BAD = """\
version: 1
hooks:
  - name: orders
    events: order.created
    url: http://127.0.0.1:8781/orders
    tiemout: 5s
"""
WARN = """\
version: 1
admin:
  token: 0123456789abcdef0123
"""


def write(tmp_path: Path, text: str, name: str = "hookd.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_exits_0_and_says_ok(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert plain(result.output).strip() == f"ok {path}: 1 hook(s), 0 source(s)"


def test_broken_file_exits_1_with_every_problem_located(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    lines = plain(result.output).splitlines()
    assert lines == [
        f"{path}:4:13: error: hooks[0] (name='orders').events: must be a list, not a string "
        "(write [order.created] for a list of one)",
        f"{path}:6:5: error: hooks[0] (name='orders').tiemout: unknown key 'tiemout'; did you mean 'timeout'?",
        "2 error(s) in 1 file(s)",
    ]


def test_several_files_one_good_one_bad(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, BAD, "bad.yaml")
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 1, result.output
    out = plain(result.output)
    assert f"ok {good}: 1 hook(s), 0 source(s)" in out
    assert f"{bad}:4:13: error:" in out
    assert f"{bad}:6:5: error:" in out
    assert "2 error(s) in 1 file(s)" in out


def test_config_option_adds_files(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, BAD, "bad.yaml")
    result = runner.invoke(app, ["validate", str(good), "-c", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6:5:" in plain(result.output)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = runner.invoke(app, ["validate", str(missing)])
    assert result.exit_code == 2, result.output
    assert f"{missing}: error: config file '{missing}' does not exist; pass -c PATH or set HOOKD_CONFIG" in plain(
        result.output
    )


def test_missing_file_beside_a_broken_one_still_exits_2(tmp_path: Path) -> None:
    bad = write(tmp_path, BAD)
    result = runner.invoke(app, ["validate", str(bad), str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert f"{bad}:6:5:" in plain(result.output)


def test_json_format(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, BAD, "bad.yaml")
    result = runner.invoke(app, ["validate", "--format", "json", str(good), str(bad)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    first, second = report["files"]
    assert first == {"file": str(good), "valid": True, "hooks": 1, "sources": 0, "problems": []}
    assert second["valid"] is False
    assert second["hooks"] is None
    assert second["problems"][1] == {
        "file": str(bad),
        "line": 6,
        "column": 5,
        "path": "hooks[0] (name='orders').tiemout",
        "severity": "error",
        "message": "unknown key 'tiemout'; did you mean 'timeout'?",
    }
    assert [p["line"] for p in second["problems"]] == [4, 6]


def test_json_format_valid(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", "--format", "json", str(write(tmp_path, GOOD))])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid"] is True


def test_github_format(tmp_path: Path) -> None:
    bad = write(tmp_path, BAD)
    result = runner.invoke(app, ["validate", "--format", "github", str(bad)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"::error file={bad},line=4,col=13,title=hookd validate::hooks[0] (name='orders').events: must be a list, "
        "not a string (write [order.created] for a list of one)",
        f"::error file={bad},line=6,col=5,title=hookd validate::hooks[0] (name='orders').tiemout: unknown key "
        "'tiemout'; did you mean 'timeout'?",
    ]


def test_github_format_escapes_properties(tmp_path: Path) -> None:
    odd = tmp_path / "a,b"
    odd.mkdir()
    bad = write(odd, "version: 2\n")
    result = runner.invoke(app, ["validate", "--format", "github", str(bad)])
    escaped = str(bad).replace(",", "%2C").replace(":", "%3A")
    assert result.stdout.startswith(f"::error file={escaped},line=1,col=10,title=hookd validate::version: ")


def test_warning_passes_unless_strict(tmp_path: Path) -> None:
    path = write(tmp_path, WARN)
    relaxed = runner.invoke(app, ["validate", str(path)])
    assert relaxed.exit_code == 0, relaxed.output
    out = plain(relaxed.output)
    assert f"{path}:3:10: warning: admin.token: the token is written in the file itself" in out
    assert f"ok {path}: 0 hook(s), 0 source(s), 1 warning(s)" in out

    strict = runner.invoke(app, ["validate", "--strict", str(path)])
    assert strict.exit_code == 1, strict.output
    out = plain(strict.output)
    assert f"{path}:3:10: warning:" in out
    assert "ok " not in out
    assert "1 warning(s) in 1 file(s)" in out

    as_json = runner.invoke(app, ["validate", "--strict", "--format", "json", str(path)])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["valid"] is False


def test_hookd_config_env_is_used_without_arguments(tmp_path: Path) -> None:
    bad = write(tmp_path, BAD, "from-env.yaml")
    result = runner.invoke(app, ["validate"], env={"HOOKD_CONFIG": str(bad)})
    assert result.exit_code == 1
    assert f"{bad}:6:5: error:" in plain(result.output)

    good = write(tmp_path, GOOD, "good.yaml")
    result = runner.invoke(app, ["validate"], env={"HOOKD_CONFIG": str(good)})
    assert result.exit_code == 0
    assert f"ok {good}" in plain(result.output)


def test_explicit_file_wins_over_hookd_config(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    result = runner.invoke(app, ["validate", str(good)], env={"HOOKD_CONFIG": str(tmp_path / "nope.yaml")})
    assert result.exit_code == 0


def test_env_vars_in_config_come_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("http://127.0.0.1:8781/orders", "${HOOKD_TEST_URL}"))
    result = runner.invoke(app, ["validate", str(path)], env={"HOOKD_TEST_URL": "https://example.com/h"})
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(path)], env={"HOOKD_TEST_URL": None})
    assert result.exit_code == 1
    assert "environment variable HOOKD_TEST_URL is not set" in plain(result.output)


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "160"})  # rich wraps help to the terminal
    assert result.exit_code == 0
    out = plain(result.output)
    assert re.search(r"^\W*validate\s+Check config files", out, re.M), out
    assert re.search(r"^\W*version\s+Print the hookd version", out, re.M), out


def test_version() -> None:
    from hookd import __version__

    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output == f"hookd {__version__}\n"


def test_real_process(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, BAD, "bad.yaml")
    done = subprocess.run(
        [sys.executable, "-m", "hookd", "validate", str(good), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    out = plain(done.stdout)
    assert f"ok {good}: 1 hook(s), 0 source(s)" in out
    assert f"{bad}:6:5: error: hooks[0] (name='orders').tiemout: unknown key 'tiemout'" in out
    assert done.stderr == ""
