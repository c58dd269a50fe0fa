"""No secret leaves the process: nine secrets in every position a config can put one, real
deliveries (a 500 that echoes the request, redirects whose Location repeats the secrets), then the
daemon's log, the raw bytes of the SQLite file and its WAL, and the output of every CLI command are
searched for each value and its percent-encoded, escaped and base64 forms."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import signal
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from typer.testing import CliRunner, Result

# The commands register themselves when their modules are imported.
import hookd.cli.history
import hookd.cli.replay
import hookd.cli.status
import hookd.cli.test_cmd
import hookd.cli.validate
from hookd.cli.app import app
from tests.conftest import DaemonProcess, event_line, send_lines, serving, socket_config, wait_db

USER = "hookuser"
SECRETS = {
    "PATH_SECRET": "pathSecret7Qx2",  # URL path
    "QUERY_SECRET": "querySecret9Lm4",  # URL query, under an innocent name
    "SPECIAL_SECRET": "Sp3c/Sécret+x9",  # URL query, with characters that get percent-encoded
    "USERINFO_PASS": "userinfoPass5Tz",  # URL user:password, sent as Authorization: Basic base64(user:pass)
    "HEADER_SECRET": "headerSecret4Kp",  # a header of an innocent name (X-Team)
    "BEARER_SECRET": "bearerSecret8Wn",  # Authorization: Bearer
    "PAYLOAD_SECRET": "payloadSecret2Rv",  # the payload template
    "FILE_SECRET": "fileSecret6Hd",  # ${file:...}, in a header
    "ADMIN_TOKEN": "adminToken0123456789abc",  # admin.token, which `hookd status` sends
}


def _hex_lower(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _base64_forms(raw: bytes) -> set[str]:
    """Base64 text that shows `raw` whatever bytes precede it: per alignment, the groups of its bytes alone."""
    found = set()
    for pad in range(3):
        encoded = base64.b64encode(b"#" * pad + raw).decode()
        skip = 4 if pad else 0
        whole_groups = (pad + len(raw)) // 3
        fragment = encoded[skip : whole_groups * 4]
        found |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return found


def leak_forms(value: str) -> set[str]:
    """What a value looks like when a library, a receiver or a log echoes it."""
    forms = {value, html.escape(value), json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    for safe in ("", "/", "/:@+"):
        forms |= {quote(value, safe=safe), _hex_lower(quote(value, safe=safe))}
    forms |= {quote_plus(value), _hex_lower(quote_plus(value))}
    forms |= _base64_forms(value.encode())
    forms.add(base64.b64encode(f"{USER}:{value}".encode()).decode())
    return {f for f in forms if len(f) >= 8}


ALL_FORMS = {name: leak_forms(value) for name, value in SECRETS.items()}


def leaks(where: str, text: str) -> list[str]:
    """Each secret form found in `text`, also when the output wrapped it over lines."""
    squashed = re.sub(r"\s+", "", text)
    found = []
    for name, forms in ALL_FORMS.items():
        for form in forms:
            if form in text or re.sub(r"\s+", "", form) in squashed:
                found.append(f"{where}: {name} as {form!r}")
    return found


@dataclass
class Echo:
    """A receiver that gives a webhook every reason to leak: it echoes requests and redirects to URLs
    that repeat them."""

    server: TestServer | None = None
    seen: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @staticmethod
    async def describe(request: web.Request) -> str:
        body = await request.read()
        lines = [f"{request.method} {request.raw_path}", f"decoded path: {request.path}", f"url: {request.url}"]
        lines += [f"query {k}: {v}" for k, v in request.query.items()]
        lines += [f"{k}: {v}" for k, v in request.headers.items()]
        return "\n".join([*lines, "", body.decode(errors="replace")])

    async def echo_500(self, request: web.Request) -> web.Response:
        text = await self.describe(request)
        self.seen.append(text)
        page = f"<html><body><h1>Internal error</h1><pre>{html.escape(text)}</pre>\n{text}</body></html>"
        return web.Response(status=500, text=page, content_type="text/html")

    async def redirect(self, request: web.Request) -> web.Response:
        self.seen.append(await self.describe(request))
        tail = request.match_info["tail"]
        again = (
            f"/final/{tail}?{request.query_string}&auth={quote(request.headers.get('Authorization', ''), safe='')}"
            f"&trace={request.headers.get('X-Trace', '')}"
        )
        return web.Response(status=302, headers={"Location": again}, text=f"moved to {again}")

    async def final(self, request: web.Request) -> web.Response:
        text = await self.describe(request)
        self.seen.append(text)
        return web.Response(status=200, text=f"received:\n{text}")

    async def no_follow(self, request: web.Request) -> web.Response:
        text = await self.describe(request)
        self.seen.append(text)
        team = request.headers.get("X-Team", "")
        location = self.url(f"/elsewhere/{request.match_info['tail']}") + f"?team={team}&again={request.path_qs}"
        return web.Response(status=302, headers={"Location": location}, text=text)


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    e = Echo()
    app_ = web.Application()
    app_.router.add_route("*", "/echo/{tail:.*}", e.echo_500)
    app_.router.add_route("*", "/redir/{tail:.*}", e.redirect)
    app_.router.add_route("*", "/final/{tail:.*}", e.final)
    app_.router.add_route("*", "/stay/{tail:.*}", e.no_follow)
    async with serving(app_) as e.server:
        yield e


def leaky_config(d: Path, echo: Echo) -> Path:
    (d / "trace.key").write_text(SECRETS["FILE_SECRET"] + "\n", encoding="utf-8")
    port = echo.url("/").split(":")[2].strip("/")
    payload = '{text: "note ${PAYLOAD_SECRET}", order: "{{ data.id }}"}'
    return socket_config(
        d,
        f"""
        admin: {{listen: "127.0.0.1:0", token: "${{ADMIN_TOKEN}}"}}
        hooks:
          - name: echo
            events: ["order.*"]
            url: "http://{USER}:${{USERINFO_PASS}}@127.0.0.1:{port}/echo/${{PATH_SECRET}}?channel=${{QUERY_SECRET}}&q=${{SPECIAL_SECRET}}"
            headers: {{X-Team: "${{HEADER_SECRET}}"}}
            payload: {payload}
            retry: {{max_attempts: 1}}
          - name: hop
            events: ["order.*"]
            url: "http://127.0.0.1:{port}/redir/${{PATH_SECRET}}?channel=${{QUERY_SECRET}}"
            follow_redirects: true
            headers: {{Authorization: "Bearer ${{BEARER_SECRET}}", X-Trace: "${{file:trace.key}}"}}
            payload: {payload}
          - name: stay
            events: ["order.*"]
            url: "http://127.0.0.1:{port}/stay/${{PATH_SECRET}}?channel=${{QUERY_SECRET}}"
            headers: {{X-Team: "${{HEADER_SECRET}}"}}
            retry: {{max_attempts: 1}}
        """,
    )


CASES = """\
cases:
  - name: the note is something else
    event: {id: c1, type: order.created, data: {id: 1}}
    expect:
      body: {echo: {text: "a different note"}}
      headers: {hop: {X-Trace: "not it", Authorization: "Bearer no"}}
"""


async def hookd(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env={"HOOKD_ADMIN_TOKEN": None})


def database_bytes(db: Path) -> bytes:
    """Every page of the database and of its WAL, as they are on disk now."""
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def byte_leaks(where: str, raw: bytes) -> list[str]:
    # Latin-1 maps every byte to one character, so UTF-8 text shows as its bytes would.
    return leaks(where, raw.decode("latin-1")) + leaks(where + " (utf-8)", raw.decode("utf-8", errors="replace"))


async def test_no_secret_in_the_log_the_database_or_any_command_output(
    short_dir: Path, echo: Echo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Nine secrets configured in URL path, query (plain and percent-encoded), userinfo, headers of
       innocent and of credential names, the payload template, a ${file:} and the admin token.
    2. `hookd serve` delivers one event to three hooks: a 500 that echoes the request, a redirect
       chain (followed) whose Location repeats every secret and whose target echoes the request,
       and a 302 (not followed) whose Location repeats them.
    3. While it runs: `hookd status`; then the daemon stops and `replay --wait` sends again.
    4. Every command's output, the daemon's log, and the database and WAL bytes (also after a
       checkpoint) hold none of the values, in no form; the receiver did get them all."""
    for name, value in SECRETS.items():
        if name != "FILE_SECRET":
            monkeypatch.setenv(name, value)
    cfg = leaky_config(short_dir, echo)
    db = short_dir / "hookd.db"
    found: list[str] = []
    outputs: dict[str, Result] = {}

    daemon = DaemonProcess(cfg)
    try:
        await daemon.start()
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="evt-1", data={"id": 1})])
        await wait_db(
            db,
            "SELECT hook, state FROM deliveries ORDER BY hook",
            lambda r: r == [("echo", "failed"), ("hop", "delivered"), ("stay", "failed")],
        )
        found += byte_leaks("database while serving", database_bytes(db))
        [admin_url] = [m.group(1) for line in daemon.log if (m := re.search(r"admin listening on (\S+)", line))]
        outputs["status"] = await hookd("status", "-c", str(cfg), "--url", admin_url)
        outputs["status --json"] = await hookd("status", "-c", str(cfg), "--url", admin_url, "--json")
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait() == 0
    finally:
        await daemon.stop()
    found += leaks("daemon log", "\n".join(daemon.log))
    found += byte_leaks("database after stop", database_bytes(db))

    outputs["replay --wait"] = await hookd("replay", "-c", str(cfg), "--hook", "echo", "--wait")
    cases = short_dir / "hookd.tests.yaml"
    cases.write_text(CASES, encoding="utf-8")
    send = ["test", "-c", str(cfg), "--type", "order.created", "--data", '{"id": 1}', "--send"]
    commands: dict[str, Sequence[str]] = {
        "validate": ["validate", str(cfg)],
        "history": ["history", "-c", str(cfg)],
        "history --json": ["history", "-c", str(cfg), "--json"],
        "history show": ["history", "show", "evt-1", "-c", str(cfg)],
        "history show --json": ["history", "show", "evt-1", "-c", str(cfg), "--json"],
        "history stats": ["history", "stats", "-c", str(cfg)],
        "test": ["test", "-c", str(cfg), "--type", "order.created", "--data", '{"id": 1}'],
        "test --json": ["test", "-c", str(cfg), "--type", "order.created", "--data", '{"id": 1}', "--json"],
        "test --send": send,
        "test --send --json": [*send, "--json"],
        "test --cases": ["test", "-c", str(cfg), "--cases", str(cases)],
        "test --cases --json": ["test", "-c", str(cfg), "--cases", str(cases), "--json"],
    }
    for label, args in commands.items():
        outputs[label] = await hookd(*args)
    for label, result in outputs.items():
        found += leaks(label, result.output)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            found.append(f"{label}: crashed with {result.exception!r}")
    found += byte_leaks("database after replay", database_bytes(db))
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    found += byte_leaks("database after checkpoint", database_bytes(db))

    assert found == [], "\n".join(found)
    # The secrets did go out (so there was something to leak), and what was kept says where they were.
    for name in set(SECRETS) - {"ADMIN_TOKEN", "SPECIAL_SECRET", "USERINFO_PASS"}:
        assert any(SECRETS[name] in seen for seen in echo.seen), name
    assert any(quote(SECRETS["SPECIAL_SECRET"], safe="/+") in seen for seen in echo.seen)
    assert any(base64.b64encode(f"{USER}:{SECRETS['USERINFO_PASS']}".encode()).decode() in s for s in echo.seen)
    assert outputs["status"].exit_code in (0, 1), outputs["status"].output  # answered: degraded by the failures
    assert outputs["test --send"].exit_code == 1 and outputs["replay --wait"].exit_code == 1
    assert outputs["test --cases"].exit_code == 1
    shown = outputs["history show"].stdout
    for reference in ("${PATH_SECRET}", "${QUERY_SECRET}", "${BEARER_SECRET}", "${HEADER_SECRET}", "${PAYLOAD_SECRET}"):
        assert reference in shown, reference
    assert "final URL" in shown and "/final/${PATH_SECRET}" in shown
    assert "HTTP 302 redirect to http://127.0.0.1:" in shown  # the `stay` hook's error, Location redacted
    assert "${PAYLOAD_SECRET}" in outputs["test"].stdout and "${PAYLOAD_SECRET}" in outputs["test --cases"].stdout
    log = "\n".join(daemon.log)
    assert "/elsewhere/${PATH_SECRET}" in log
