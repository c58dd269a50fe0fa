"""examples/systemd/hookd.service: a unit systemd accepts (checked with `systemd-analyze verify` when
it is installed), that runs hookd as the README says: Type=notify, reload by SIGHUP, hardened."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "examples" / "systemd" / "hookd.service"


def service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser["Service"]


def test_the_unit_runs_hookd_as_a_notify_service_that_reloads_by_sighup() -> None:
    s = service()
    assert s["Type"] == "notify"
    assert s["ExecStart"].endswith("hookd serve -c /etc/hookd/hookd.yaml")
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for key in ("NoNewPrivileges", "ProtectSystem", "DynamicUser", "StateDirectory"):
        assert key in s


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """The unit as shipped, with ExecStart pointing at this install's hookd (the shipped path need not
    exist here). Result: no complaint but about the man pages, which this machine may not have."""
    hookd = Path(sys.executable).with_name("hookd")
    text = UNIT.read_text(encoding="utf-8").replace("/opt/hookd/bin/hookd", str(hookd))
    unit = tmp_path / "hookd.service"
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "Command 'man " not in line and "man:" not in line
    ]
    assert complaints == [], "\n".join(complaints)
