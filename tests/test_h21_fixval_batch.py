"""A hook's batch.max_size and batch.max_wait have bounds, which validate names with the fix (issue 21,
new-user review finding 11): max_size at most 100MB (2GB was accepted without a word), max_wait at most
1d; max_wait 0 stays valid and means no waiting. The schema says the same of a number."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from hookd.config.lint_batch import MAX_SIZE_FIX, MAX_WAIT_FIX
from hookd.config.load import load_config
from hookd.config.model import MAX_BATCH_BYTES, MAX_BATCH_WAIT_S
from hookd.config.schema import schema
from tests.test_h20_guard_validate import validate

SIZE_FIX = (
    "a batch is at most 100MB (100000000 bytes): write a size up to that, under the receiver's body limit, like 1MB"
)
WAIT_FIX = (
    "a batch waits at most 1d (86400 seconds) for more deliveries: write a shorter wait, like 2s (0 sends what is "
    "due at once, without waiting)"
)


def batched(batch: str) -> str:
    return f"version: 1\nhooks:\n  - name: a\n    events: [x]\n    url: https://example.com/a\n    batch: {batch}\n"


@pytest.mark.parametrize(
    ("batch", "column", "message"),
    [
        ("{max_size: 2GB}", 23, f"batch.max_size: '2GB' is too large; {SIZE_FIX}"),
        ("{max_size: 100MiB}", 23, f"batch.max_size: '100MiB' is too large; {SIZE_FIX}"),
        ("{max_size: 2000000000}", 23, f"batch.max_size: 2000000000 is too large; {SIZE_FIX}"),
        ("{max_wait: 2d}", 23, f"batch.max_wait: '2d' is too long; {WAIT_FIX}"),
        ("{max_wait: 86401}", 23, f"batch.max_wait: 86401 is too large; {WAIT_FIX}"),
    ],
)
def test_a_bound_passed_is_one_error_with_the_fix(tmp_path: Path, batch: str, column: int, message: str) -> None:
    code, lines, path = validate(tmp_path, batched(batch))
    assert code == 1
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:6:{column}: error: hooks[0] (name='a').{message}"
    ], lines


@pytest.mark.parametrize(
    ("batch", "size", "wait_s"),
    [
        ("{max_size: 100MB, max_wait: 1d}", 100_000_000, 86400.0),
        ("{max_size: 100000000, max_wait: 86400}", 100_000_000, 86400.0),
        ("{max_size: 10MB, max_wait: 50ms}", 10_000_000, 0.05),  # the bench's batch
        ("{max_wait: 0}", 1_000_000, 0.0),  # no waiting: a batch holds only what is due together
    ],
)
def test_up_to_the_bounds_and_a_wait_of_0_load(tmp_path: Path, batch: str, size: int, wait_s: float) -> None:
    code, lines, path = validate(tmp_path, batched(batch))
    assert code == 0, lines
    [hook] = load_config(path).hooks
    assert hook.batch is not None
    assert (hook.batch.max_size, hook.batch.max_wait_s) == (size, wait_s)


def test_the_schema_holds_the_same_bounds_and_words() -> None:
    defs = schema()["$defs"]
    assert isinstance(defs, dict)
    batch = defs["hook"]["properties"]["batch"]["properties"]
    assert (batch["max_size"]["maximum"], batch["max_size"]["x-error"]) == (MAX_BATCH_BYTES, MAX_SIZE_FIX)
    assert (batch["max_wait"]["maximum"], batch["max_wait"]["x-error"]) == (MAX_BATCH_WAIT_S, MAX_WAIT_FIX)
    assert (MAX_SIZE_FIX, MAX_WAIT_FIX) == (SIZE_FIX, WAIT_FIX)
    validator = jsonschema.Draft202012Validator(schema())
    assert list(validator.iter_errors(yaml.safe_load(batched("{max_size: 2000000000, max_wait: 86401}"))))
    assert not list(validator.iter_errors(yaml.safe_load(batched("{max_size: 100000000, max_wait: 0}"))))
