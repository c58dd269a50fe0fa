"""The CLI prints what it is given as it is (issue 22 review): rich would turn `:tada:` into an emoji,
so an id like `ord:tada:1` printed by `hookd send` or `hookd test` would not be the stored id, and a
Slack body's `:rotating_light:` would not be what is sent."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import hookd, plain

CONFIG = """\
version: 1
hooks:
  - {name: h, events: ['*'], url: 'http://127.0.0.1:9/h', payload: {text: ':rotating_light: {{ data.sku }}'}}
"""


async def test_colon_names_stay_text_in_hookd_test_and_validate(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "ord:tada:1", "type": "order.paid", "data": {"sku": "sku:100:a"}}\n', encoding="utf-8")
    result = await hookd("test", "-c", str(cfg), str(events))
    out = plain(result.output)
    assert result.exit_code == 0, out
    assert "event ord:tada:1 order.paid" in out and '":rotating_light: sku:100:a"' in out, out
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("version: 1", "version: 1\nnot_a_key: ':x:'"), encoding="utf-8")
    checked = await hookd("validate", "-c", str(bad))
    assert "not_a_key" in checked.output and "❌" not in checked.output
