"""`hookd replay --wait` to a paused hook (issue 21, new-user review finding 10): its replays are said
to be not sent because the hook is paused, before their table, not "not delivered"."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import hookd, plain
from tests.conftest import Receiver, event_line, running_daemon, send_lines, socket_config, wait_db


async def test_replay_wait_to_a_paused_hook_says_they_were_not_sent_because_it_is_paused(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. Hook rl delivers 3 events; the daemon stops. 2. `hookd hooks pause rl`.
    3. `hookd replay --hook rl --status delivered --wait`.
    Result: (3) exit 1 (documented: not all delivered); the warning that rl is paused comes first; then
    `3 not sent because their hook is paused (rl)` with `hookd hooks resume rl`, before a table captioned
    as not sent because the hook is paused; no "not delivered" caption; the receiver got nothing more."""
    cfg = socket_config(short_dir, f'hooks:\n  - {{name: rl, events: ["*"], url: "{receiver.url("/rl")}"}}\n')
    db = short_dir / "hookd.db"
    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line(id=f"e{i}") for i in range(3)])
        await wait_db(db, "SELECT count(*) FROM deliveries WHERE state = 'delivered'", lambda r: r == [(3,)])
    assert (await hookd("hooks", "pause", "rl", "-c", str(cfg))).exit_code == 0

    replayed = await hookd("replay", "--hook", "rl", "--status", "delivered", "--wait", "-c", str(cfg))
    assert replayed.exit_code == 1, replayed.output
    out = " ".join(plain(replayed.stdout).split())
    assert "hook 'rl' is paused (by operator since" in plain(replayed.stderr)
    said = out.index("3 not sent because their hook is paused (rl)")
    assert "`hookd hooks resume rl`" in out
    assert out.index("not sent: their hook is paused", said) > said
    assert "not delivered" not in out
    assert len(receiver.at("/rl")) == 3
