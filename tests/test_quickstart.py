"""The Quick start script as a user runs it: in a terminal, watched until events flow, then Ctrl-C."""

from __future__ import annotations

import os
import pty
import select
import shutil
import socket
import sys
import time
from pathlib import Path

from tests.conftest import FAILSAFE_S

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_until(fd: int, done: bytes | None, deadline: float) -> bytes:
    """Terminal output until `done` appears (None: until the terminal closes) or the deadline."""
    out = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: every process on the terminal has exited
            return out
        if not chunk:
            return out
        out += chunk
        if done is not None and done in out:
            return out
    raise AssertionError(f"timed out waiting for {done!r}; output so far:\n{out.decode(errors='replace')}")


def test_quickstart_delivers_then_stops_once_on_ctrl_c(short_dir: Path) -> None:
    """1. The quickstart folder copied to a temp dir, on free ports; 2. run.sh in a terminal until a
    delivery is logged; 3. Ctrl-C. Result: hookd stops gracefully (one stop signal, not the second
    that cancels in-flight deliveries), the script exits 130, the receiver's port is free again, and
    the folder holds what it held before: the database, socket and events file went to a temporary
    directory (under TMPDIR), which is gone too."""
    here = short_dir / "qs"
    shutil.copytree(QUICKSTART, here, ignore=shutil.ignore_patterns("var"))
    tmp = short_dir / "tmp"
    tmp.mkdir()
    config = here / "hookd.yaml"
    config.write_text(config.read_text().replace("127.0.0.1:8780", f"127.0.0.1:{_free_port()}"))
    before = sorted(p.relative_to(here) for p in here.rglob("*"))
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHON": sys.executable,
        "RECEIVER_PORT": str(port),
        "RECEIVER_URL": f"http://127.0.0.1:{port}",
        "TMPDIR": str(tmp),
    }
    env.pop("QUICKSTART_STATE", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal session of its own, as a user's shell would give it
        os.execvpe("bash", ["bash", str(here / "run.sh")], env)
    try:
        # An event in over the socket (acked), then a delivery logged after it: events are flowing.
        started = _read_until(fd, b"client: ack", time.monotonic() + FAILSAFE_S)
        started += _read_until(fd, b"delivered", time.monotonic() + FAILSAFE_S)
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
        rest = _read_until(fd, None, time.monotonic() + FAILSAFE_S)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    output = (started + rest).decode(errors="replace")
    assert "receiver: POST /all" in output and "client: ack" in output
    assert "hookd stopped" in output
    assert "second stop signal" not in output
    assert os.waitstatus_to_exitcode(status) == 130
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the receiver is gone
    assert sorted(p.relative_to(here) for p in here.rglob("*")) == before
    assert list(tmp.iterdir()) == []  # the state directory, with the database, is removed
