"""The YAML loader's bounds: aliases that expand without end, and nesting deeper than the checks
after it can follow, are refused at the line that crosses the bound (config and cases files)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.config.located import MAX_ALIAS_VALUES, MAX_NESTING
from tests.cli_helpers import plain
from tests.test_h19_cli_validate import HOOK

runner = CliRunner()


def laughs(levels: int = 9, indent: str = "") -> str:
    """Nine lists of nine aliases to the list before: 9**levels values once expanded."""
    lines = [f'{indent}x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"{indent}x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_bound(tmp_path: Path) -> None:
    """1. A config whose aliases would expand to 9**9 values. Result: exit 1 at once (nothing is
    expanded), one error naming the file, the line and the alias, and no traceback."""
    path = tmp_path / "hookd.yaml"
    path.write_text("version: 1\n" + laughs(), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    out = plain(result.output)
    # x3 (line 6) is the first list whose aliases pass the bound: 9*10 + 9*91 + 9*820 values.
    assert out.startswith(
        f"{path}:6:10: error: the aliases in this file (*a3 here) expand to more than {MAX_ALIAS_VALUES:,} values"
    )
    assert "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text(
        HOOK.replace("    url:", "    retry: &r {max_attempts: 3}\n    url:")
        + "  - name: users\n    events: [user.*]\n    url: http://127.0.0.1:9/users\n    retry: *r\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert plain(result.output).strip() == f"ok {path}: 2 hook(s), 0 source(s)"


def test_5000_deep_nesting_is_an_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "hookd.yaml"
    path.write_text("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    assert plain(result.output).splitlines() == [
        f"{path}:2:{3 + MAX_NESTING}: error: mappings and lists are nested more than {MAX_NESTING} levels deep "
        f"here; hookd reads at most {MAX_NESTING} levels, so flatten the structure",
        "1 error(s) in 1 file(s)",
    ]


def test_nesting_at_the_bound_passes_every_check(tmp_path: Path) -> None:
    """A payload nested up to the bound goes through schema, lint and the model without a RecursionError."""
    depth = MAX_NESTING - 3  # the root mapping, hooks, and the hook hold the payload
    path = tmp_path / "hookd.yaml"
    path.write_text(HOOK + "    payload: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_cases_files_have_the_same_bounds(tmp_path: Path) -> None:
    """`hookd test --cases` reads its file with the same loader: the same two errors, exit 2."""
    config = tmp_path / "hookd.yaml"
    config.write_text(HOOK, encoding="utf-8")
    bombs = tmp_path / "laughs.tests.yaml"
    bombs.write_text(laughs(indent="") + "cases: []\n", encoding="utf-8")
    deep = tmp_path / "deep.tests.yaml"
    deep.write_text(
        "cases:\n  - name: deep\n    event: {type: order.created, data: " + "[" * 5000 + "]" * 5000 + "}\n",
        encoding="utf-8",
    )
    for cases, line, message in [
        (bombs, 5, "the aliases in this file (*a3 here) expand to more than"),
        (deep, 3, f"mappings and lists are nested more than {MAX_NESTING} levels deep here"),
    ]:
        result = runner.invoke(app, ["test", "-c", str(config), "--cases", str(cases)])
        out = plain(result.output)
        assert result.exit_code == 2, out
        assert f"{cases}:{line}:" in out and message in out
        assert "Traceback" not in out and "RecursionError" not in out


def test_a_case_without_expect_says_what_to_add(tmp_path: Path) -> None:
    config = tmp_path / "hookd.yaml"
    config.write_text(HOOK, encoding="utf-8")
    cases = tmp_path / "hookd.tests.yaml"
    cases.write_text("cases:\n  - name: no expectation\n    event: {type: order.created}\n", encoding="utf-8")
    result = runner.invoke(app, ["test", "-c", str(config), "--cases", str(cases)])
    assert result.exit_code == 2
    out = plain(result.output)
    assert (
        "this case has no `expect`; add one that says what should happen, using one or more of: match, "
        "match_at_least, not_match, body, headers, assert (like `expect: {match: [orders]}`)"
    ) in out
    assert "it is with" not in out
