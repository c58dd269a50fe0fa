"""Producers may not pass for hookd: a type that reads as starting with `hookd.`, or a source that
reads as `hookd` (letter case, fullwidth letters, the one-dot leader, zero-width characters and
surrounding spaces aside), is rejected like the exact ones; validate warns on a glob that looks meant
for alerts (`hookd*`, `HOOKD.*`) but cannot hear them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hookd.cli.app import app
from hookd.errors import EventError
from hookd.events import event_from_object, parse_event_line, reads_as
from tests.cli_helpers import plain

runner = CliRunner()


def line(**fields: str) -> str:
    return json.dumps({"id": "e1", **fields})


@pytest.mark.parametrize(
    "etype",
    [
        "HOOKD.delivery.failed",
        "Hookd.x",
        "hookd\u200b.x",  # zero-width space
        "hookd\u2024x",  # one-dot leader: NFKC "."
        "\uff48\uff4f\uff4f\uff4b\uff44.delivery.failed",  # fullwidth hookd
        " hookd.delivery.failed",
        "\u00adhookd.x",  # soft hyphen (Cf) in front
        "hoo\u200dkd.x",  # zero-width joiner inside
    ],
)
def test_types_that_read_as_hookds_are_rejected(etype: str) -> None:
    with pytest.raises(EventError) as e:
        parse_event_line(line(type=etype), max_bytes=10_000)
    message = str(e.value)
    assert "reads as starting (as a person reads it, ignoring letter case, look-alike and invisible" in message
    assert "with 'hookd.', which is reserved for hookd's own events (alerts)" in message
    assert 'give your event a type of your own, like "order.created"' in message


@pytest.mark.parametrize("source", ["HOOKD", "hookd ", " Hookd", "hookd\u200b", "\uff28ookd", "hoo\ufeffkd"])
def test_sources_that_read_as_hookd_are_rejected(source: str) -> None:
    with pytest.raises(EventError) as e:
        parse_event_line(line(type="order.created", source=source), max_bytes=10_000)
    assert f"{source!r} reads as 'hookd' (as a person reads it" in str(e.value)
    assert 'is reserved for hookd\'s own events (alerts); name your producer otherwise, like "shop/orders"' in str(
        e.value
    )


@pytest.mark.parametrize(
    ("etype", "source"),
    [("hookdx.created", None), ("hookd", None), ("my.hookd.x", None), ("hook.d", None), ("order.created", "hookd2"),
     ("order.created", "shop/hookd"), ("hökd.x", "hökd")],
)  # fmt: skip
def test_names_that_only_resemble_hookd_pass(etype: str, source: str | None) -> None:
    fields = {"type": etype} if source is None else {"type": etype, "source": source}
    assert parse_event_line(line(**fields), max_bytes=10_000).type == etype


def test_hookd_test_may_still_build_hookds_own_events() -> None:
    assert event_from_object({"type": "HOOKD.x", "source": "hookd"}).type == "HOOKD.x"  # not produced


def test_reads_as() -> None:
    assert reads_as(" \uff28\uff4f\uff4f\uff4b\uff44\u2024Delivery ") == "hookd.delivery"
    assert reads_as("hoo\u200bkd") == "hookd"
    assert reads_as("STRASSE") == "strasse" and reads_as("Straße") == "strasse"


def test_validate_warns_on_a_glob_meant_for_alerts_that_cannot_hear_them(tmp_path: Path) -> None:
    cfg = tmp_path / "hookd.yaml"
    cfg.write_text(
        "version: 1\n"
        "sources:\n"
        "  - {name: app, type: socket, path: /tmp/hk.sock}\n"
        "hooks:\n"
        "  - name: ops\n"
        "    events: [hookd*, HOOKD.*, hookd.*, order.*]\n"
        "    url: http://127.0.0.1:9/ops\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(cfg)])
    out = plain(result.output)
    assert result.exit_code == 0, out
    for col, glob in ((14, "hookd*"), (22, "HOOKD.*")):
        assert (
            f"{cfg}:6:{col}: warning: hooks[0] (name='ops').events[{0 if glob == 'hookd*' else 1}]: event glob "
            f"{glob!r} does not start with 'hookd.' (lower case, with the dot), so it never matches hookd's own "
            "events (alerts); write hookd.* for all of them"
        ) in out
    assert "'hookd.*' does not" not in out and "order.*" not in out
