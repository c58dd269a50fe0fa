"""Findings of a new user's review of the CLI: run-time path states do not make a config invalid,
short-secret warnings only where a value is sent as a secret, secret-file errors as sentences, the
same --data message from `test` and `send`, and validate's summary lines."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import hookd.cli.test_cmd  # noqa: F401  registers `hookd test`
from hookd.cli.app import app
from hookd.config.load import check_config
from tests.cli_helpers import plain
from tests.conftest import DaemonProcess, Receiver, daemon_config, running_daemon, write_config
from tests.test_admin import TOKEN, admin_config

_CLEAN_ENV: dict[str, str | None] = {"HOOKD_ADMIN_TOKEN": None, "HOOKD_CONFIG": None}


def invoke(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={**_CLEAN_ENV, **(env or {})})


def validate(path: Path, *args: str, env: Mapping[str, str | None] | None = None) -> tuple[int, list[str]]:
    result = invoke(["validate", *args, str(path)], env)
    return result.exit_code, plain(result.stdout).splitlines()


# -- 1. what a tailed path is at run time is a warning, not a config error ----------------------


async def test_a_tailed_path_turned_directory_leaves_status_history_and_send_working(
    short_dir: Path, receiver: Receiver
) -> None:
    """1. A daemon tails events.jsonl; 2. `mv events.jsonl events.jsonl.1; mkdir events.jsonl`;
    3. status (--url with the default config's token), history, send.

    Result: each runs (status exits 0, or 1 once the daemon reports the source it stopped); the
    config is still valid, with a warning about the directory."""
    log = short_dir / "events.jsonl"
    log.write_text("", encoding="utf-8")
    cfg = admin_config(short_dir, receiver, admin=f'{{listen: "127.0.0.1:0", token: {TOKEN}}}')
    async with running_daemon(cfg) as daemon:
        log.rename(short_dir / "events.jsonl.1")
        log.mkdir()
        status = await asyncio.to_thread(invoke, ["status", "--url", str(daemon.admin_url)], {"HOOKD_CONFIG": str(cfg)})
        history = await asyncio.to_thread(invoke, ["history", "-c", str(cfg)])
        send = await asyncio.to_thread(invoke, ["send", "-c", str(cfg), '{"type": "x"}'])
    assert status.exit_code in (0, 1), status.output
    assert "health: " in plain(status.stdout), status.output
    assert history.exit_code == 0, history.output
    assert send.exit_code == 0, send.output
    result = check_config(cfg)
    assert result.settings is not None
    [warning] = [p for p in result.problems if p.path == "sources[1] (name='log').path"]
    assert warning.severity == "warning"
    assert f"{str(log)!r} is a directory now, not a regular file" in warning.message
    assert "hookd serve refuses to start" in warning.message


@pytest.mark.parametrize("kind", ["directory", "FIFO"])
def test_validate_warns_about_a_tailed_path_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "events.jsonl"
    target.mkdir() if kind == "directory" else os.mkfifo(target)
    path = write_config(tmp_path, "version: 1\nsources:\n  - {name: log, type: file, path: events.jsonl}\n")
    code, lines = validate(path)
    assert code == 0, lines
    what = "a directory" if kind == "directory" else "a FIFO (named pipe)"
    assert lines == [
        f"{path}:3:35: warning: sources[0] (name='log').path: {str(target)!r} is {what} now, not a regular "
        "file; a file source tails a JSONL file, so hookd serve refuses to start (and a running daemon stops "
        "this source) until the path names one",
        f"ok {path}: 0 hook(s), 1 source(s), 1 warning(s)",
    ]
    strict, _ = validate(path, "--strict")
    assert strict == 1


@pytest.mark.parametrize("kind", ["directory", "FIFO"])
async def test_serve_still_refuses_a_tailed_path_that_is_not_a_regular_file(short_dir: Path, kind: str) -> None:
    """The warning does not let the daemon start on it: the file source's own start check refuses."""
    target = short_dir / "events.jsonl"
    target.mkdir() if kind == "directory" else os.mkfifo(target)
    cfg = daemon_config(
        short_dir,
        f"""
        sources:
          - {{name: log, type: file, path: {target}}}
        """,
    )
    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        code = await daemon.wait()
    finally:
        await daemon.stop()
    log = "\n".join(daemon.log)
    assert code != 0, log
    assert not any(" ready: " in line for line in daemon.log), log
    said = "is a directory; path must name a file" if kind == "directory" else "is a FIFO"
    assert said in log, log


# -- 3 and 6. short-secret warnings only where a value is sent or shown as a secret -----------

SETTINGS_FROM_ENV = """\
version: 1
sources:
  - {name: s, type: socket, listen: "127.0.0.1:${PORT}"}
hooks:
  - name: h
    events: ["*"]
    url: http://127.0.0.1:9/x
    timeout: ${TIMEOUT}
    filter: data.total > `${MIN}`
    concurrency: ${CONC}
"""


def test_short_values_in_settings_are_not_called_secrets(tmp_path: Path) -> None:
    path = write_config(tmp_path, SETTINGS_FROM_ENV)
    env = {"PORT": "8080", "TIMEOUT": "5s", "MIN": "3", "CONC": "4"}
    assert validate(path, "--strict", env=env) == (0, [f"ok {path}: 1 hook(s), 1 source(s)"])
    code, lines = validate(path, env={**env, "CONC": "abc"})
    assert code == 1
    assert lines == [
        f"{path}:10:18: error: hooks[0] (name='h').concurrency: must be a whole number, not a string",
        "1 error(s) in 1 file(s)",
    ]


def test_short_values_sent_as_secrets_are_warned(tmp_path: Path) -> None:
    text = (
        "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: 'http://127.0.0.1:9/x?k=${KEY}'\n"
        "    headers: {Authorization: 'Bearer ${TOK}'}\n    payload: {pin: '${PIN}'}\n"
    )
    path = write_config(tmp_path, text)
    code, lines = validate(path, env={"KEY": "k1", "TOK": "abc", "PIN": "1234"})
    assert code == 0, lines
    warned = [line.split(": warning: ")[1].split(":")[0] for line in lines if ": warning: " in line]
    assert warned == [
        "hooks[0] (name='h').url",
        "hooks[0] (name='h').headers.Authorization",
        "hooks[0] (name='h').payload.pin",
    ]


def test_a_short_admin_token_is_one_error_without_a_warning_beside_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, "version: 1\nadmin:\n  listen: 127.0.0.1:0\n  token: ${ADM}\n")
    code, lines = validate(path, env={"ADM": "short"})
    assert (code, lines) == (
        1,
        [f"{path}:4:10: error: admin.token: must be at least 16 characters long", "1 error(s) in 1 file(s)"],
    )


# -- 4. secret files -------------------------------------------------------------------------


def test_secret_file_that_is_not_utf8_is_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "bin.txt").write_bytes(b"ab\xffcd")
    path = write_config(tmp_path, "version: 1\nadmin: {listen: 127.0.0.1:0, token: '${file:bin.txt}'}\n")
    code, lines = validate(path)
    assert code == 1
    assert lines[0] == (
        f"{path}:2:37: error: admin.token: ${{file:bin.txt}}: {str(tmp_path / 'bin.txt')!r} is not UTF-8 text "
        "(byte 0xff at offset 2); a secret file holds one value as text: save it as UTF-8, or store a binary "
        "key base64-encoded"
    )


def test_a_header_secret_file_of_two_lines_is_named_not_yaml(tmp_path: Path) -> None:
    (tmp_path / "two.txt").write_text("first-line-secret\nsecond\n", encoding="utf-8")
    text = (
        "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: http://127.0.0.1:9/x\n"
        "    headers: {X-Key: 'Bearer ${file:two.txt}', X-Env: '${MULTI}'}\n"
    )
    path = write_config(tmp_path, text)
    code, lines = validate(path, env={"MULTI": "abcdefghij\nklm"})
    assert code == 1
    assert lines[:2] == [
        f"{path}:6:22: error: hooks[0] (name='h').headers.X-Key: ${{file:two.txt}} holds more than one line, and "
        "header values must be on one line; keep only the value in the file (a line break at its end is fine)",
        f"{path}:6:55: error: hooks[0] (name='h').headers.X-Env: ${{MULTI}} holds a line break, and header values "
        "must be on one line; remove it from the variable",
    ]


# -- 2. webhook-signature ------------------------------------------------------------------------


def test_webhook_signature_warning_does_not_claim_hookd_signs(tmp_path: Path) -> None:
    # Since issue 20 hookd does sign: the warning now points at signing: instead of saying it is missing.
    text = (
        "version: 1\nhooks:\n  - name: h\n    events: ['*']\n    url: http://127.0.0.1:9/x\n"
        "    headers: {webhook-signature: 'v1,x'}\n"
    )
    code, lines = validate(write_config(tmp_path, text))
    assert code == 0, lines
    assert "its signature" not in lines[0]
    assert (
        "webhook-signature is the Standard Webhooks signature header, which receivers verify against the body "
        "and timestamp; a value set here will fail their verification. To sign requests, use signing: "
        "{type: standard, secret: ${WHSEC}}; otherwise remove it"
    ) in lines[0]


# -- 5. --data in `hookd test` is labelled and worded as in `hookd send` ----------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ('{"n": 1e400}', "--data: n is 1e400, which overflows a 64-bit float"),
        ("[" * 70 + "]" * 70, "--data: nested more than 64 levels deep"),
    ],
)
def test_test_and_send_say_the_same_about_bad_data(tmp_path: Path, data: str, says: str) -> None:
    path = write_config(tmp_path, "version: 1\nhooks:\n  - {name: h, events: ['*'], url: 'http://127.0.0.1:9/x'}\n")
    dry = invoke(["test", "-c", str(path), "--type", "a", "--data", data])
    sent = invoke(["send", "-c", str(path), "--type", "a", "--data", data])
    assert dry.exit_code == sent.exit_code == 2, (dry.output, sent.output)
    assert plain(dry.stderr).strip() == plain(sent.stderr).strip()
    assert plain(dry.stderr).startswith(f"error: {says}")


# -- 6. validate's summary and --no-environment's ok line -------------------------------------


def test_summary_counts_errors_and_warnings(tmp_path: Path) -> None:
    text = (
        "version: 1\nhooks:\n  - name: h\n    events: [a, a]\n    url: ftp://x\n    method: PSOT\n"
        "    headers: {User-Agent: curl}\n"
    )
    path = write_config(tmp_path, text)
    code, lines = validate(path)
    assert code == 1
    assert lines[-1] == "2 error(s) and 2 warning(s) in 1 file(s)"
    strict, lines = validate(write_config(tmp_path, "version: 1\nadmin: {token: 0123456789abcdef0123}\n"), "--strict")
    assert (strict, lines[-1]) == (1, "1 warning(s) in 1 file(s)")


def test_no_environment_ok_line_counts_hooks_and_sources(tmp_path: Path) -> None:
    text = (
        "version: 1\nsources:\n  - {name: s, type: socket, listen: '127.0.0.1:${PORT}'}\n"
        "hooks:\n  - {name: h, events: ['*'], url: '${HOOK_URL}'}\n  - {name: g, events: ['*'], url: 'http://x'}\n"
    )
    path = write_config(tmp_path, text)
    code, lines = validate(path, "--no-environment", env={"PORT": None, "HOOK_URL": None})
    assert code == 0, lines
    assert lines[0] == f"ok {path}: 2 hook(s), 1 source(s)"
