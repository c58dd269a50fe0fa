"""Property: random mutations of the bundled example configs never crash or hang `hookd validate`, and
`hookd serve` (which loads through the same check) never gets settings from a config validate rejects.

The examples are mutated the way people and editors break YAML: lines deleted, duplicated or moved,
indentation changed, values replaced by odd scalars, anchors and aliases, tags, deep nesting and
random bytes. Each example is checked in process with tracemalloc, so a mutation that makes the loader
allocate without bound fails the property instead of exhausting the machine.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookd.config.load import check_config

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("examples/*/hookd.yaml"))
ENV = {"SHOP_API_KEY": "k" * 24, "SHOP_WEBHOOK_URL": "http://127.0.0.1:9/orders"}
PEAK_BYTES = 64 * 1024 * 1024

ODD_SCALARS = [
    "",
    "~",
    "null",
    "-1",
    "0",
    "1e400",
    "99999999999999999999999",
    "yes",
    "0x1F",
    '"\\u0000"',
    "'\n'",
    "[",
    "{",
    "*missing",
    "&a [1]",
    "!!python/object:os.system [x]",
    "!!binary aGk=",
    "${UNSET_VAR}",
    "${file:/nonexistent}",
    "${file:/dev/zero}",
    "'" + "x" * 5000 + "'",
    "[" * 300 + "]" * 300,
    "{a: " * 200 + "1" + "}" * 200,
    "'{{ data.[ }}'",
    "'data.total > `1'",
    "<<: *a",
]


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(EXAMPLES)).read_text()
    lines = text.splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not lines:
            lines = [""]
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        kind = draw(
            st.sampled_from(["delete", "duplicate", "move", "indent", "value", "insert", "bytes", "anchor", "bomb"])
        )
        line = lines[i]
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "move":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines.insert(j, lines.pop(i))
        elif kind == "indent":
            shift = draw(st.integers(min_value=-4, max_value=4))
            lines[i] = " " * max(0, shift) + line[max(0, -shift) :]
        elif kind == "value" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(ODD_SCALARS))}"
        elif kind == "insert":
            lines.insert(i, draw(st.text(max_size=40)))
        elif kind == "bytes":
            cut = draw(st.integers(min_value=0, max_value=len(line)))
            lines[i] = line[:cut] + draw(st.text(max_size=8)) + line[cut:]
        elif kind == "anchor" and ":" in line:
            key = line.split(":", 1)[0]
            lines[i] = f"{key}: &a {draw(st.sampled_from(ODD_SCALARS))}"
            lines.append(f"x_{i}: *a")
        elif kind == "bomb":
            # Aliases that expand exponentially ("billion laughs"), or nesting past any stack.
            if draw(st.booleans()):
                lines.append(f"l0_{i}: &l0_{i} [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
                for level in range(1, draw(st.integers(min_value=2, max_value=9))):
                    refs = ", ".join([f"*l{level - 1}_{i}"] * 9)
                    lines.append(f"l{level}_{i}: &l{level}_{i} [{refs}]")
            else:
                depth = draw(st.integers(min_value=100, max_value=5000))
                lines.append(f"deep_{i}: " + "[" * depth + "]" * depth)
    return "\n".join(lines) + "\n"


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=mutated_example())
def test_validate_never_crashes_and_serve_never_takes_a_rejected_config(tmp_path: Path, text: str) -> None:
    """1. Mutate a bundled example. 2. Check it as `validate` and `serve` do. Result: a verdict, no
    exception, bounded memory; errors always mean no settings, so serve refuses to start."""
    path = tmp_path / "hookd.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    tracemalloc.start()
    try:
        result = check_config(path, env=ENV)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"checking the config allocated {peak} bytes"
    if result.errors:
        assert result.settings is None
    for problem in result.problems:
        assert problem.message.strip()
        assert "Traceback" not in problem.message


def test_the_examples_themselves_are_valid() -> None:
    """The mutations start from configs that pass, so a failure above is the mutation's doing."""
    assert EXAMPLES
    for path in EXAMPLES:
        result = check_config(path, env=ENV)
        assert result.settings is not None, result.problems
