"""The published schema refuses what validate refuses where JSON Schema can say it (issue 21, new-user
review finding 11): retry.schedule beside backoff, initial_delay, max_delay or max_attempts, and
rate_limit beside rate_limit_group. validate reports each once, at the key, with what to do; every
example config and every complete config in the README still passes the raw schema."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from hookd.config.schema import schema
from tests.test_h20_guard_validate import validate
from tests.test_h21_rate_config import config, hook

ROOT = Path(__file__).resolve().parent.parent


def _raw_errors(text: str) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema()).iter_errors(yaml.safe_load(text))]


@pytest.mark.parametrize(
    ("key", "value"), [("backoff", "fixed"), ("initial_delay", "1s"), ("max_delay", "1h"), ("max_attempts", "3")]
)
def test_schedule_beside_a_backoff_key_is_one_error_at_that_key(tmp_path: Path, key: str, value: str) -> None:
    text = config(hook("a", f"    retry: {{schedule: [5s, 1m], {key}: {value}}}\n"))
    assert _raw_errors(text), "the published schema should refuse it"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:6:33: error: hooks[0] (name='a').retry.{key}: retry.schedule writes out every delay (and so "
        f"the number of attempts), so retry.{key} has no place beside it; remove one of the two"
    ], lines


def test_rate_limit_beside_rate_limit_group_is_one_error_at_the_group_key(tmp_path: Path) -> None:
    text = config(hook("a", "    rate_limit: 5/s\n    rate_limit_group: partner\n"), groups="{partner: 100/min}")
    assert _raw_errors(text), "the published schema should refuse it"
    code, lines, path = validate(tmp_path, text)
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:9:5: error: hooks[0] (name='a').rate_limit_group: rate_limit and rate_limit_group both limit this "
        "hook; keep one: rate_limit for a limit of its own, or rate_limit_group to share the group's"
    ], lines


def test_either_alone_passes_the_schema_and_validate(tmp_path: Path) -> None:
    text = config(
        hook("a", "    retry: {schedule: [5s, 1m], jitter: false}\n    rate_limit: 5/s\n"),
        hook("b", "    retry: {backoff: fixed, initial_delay: 1s, max_delay: 1h, max_attempts: 3}\n"
                  "    rate_limit_group: partner\n"),
        groups="{partner: 100/min}",
    )  # fmt: skip
    assert _raw_errors(text) == []
    code, lines, _ = validate(tmp_path, text)
    assert code == 0, lines


EXAMPLES = sorted(ROOT.glob("examples/*/hookd.yaml"))
# The README's complete configs: yaml blocks that start with `version: 1`.
README_CONFIGS = [
    block
    for block in re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    if block.startswith("version: 1")
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.parent.name for p in EXAMPLES])
def test_every_example_config_passes_the_raw_schema(example: Path) -> None:
    assert _raw_errors(example.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("block", README_CONFIGS, ids=[f"readme-{i}" for i in range(len(README_CONFIGS))])
def test_every_readme_config_passes_the_raw_schema(block: str) -> None:
    assert _raw_errors(block) == []
