"""Secrets in the spellings receivers really use: JSON escapes of ordinary characters and uppercase
hex (.NET, Go), surrogate pairs, HTML character references; a secret cut off by the response excerpt
limit; a secret holding percent-escapes, which is sent exactly as configured and hidden in the forms
a receiver echoes it in (as sent, decoded)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from typer.testing import CliRunner, Result

import hookd.cli.history
import hookd.cli.test_cmd
from hookd.cli.app import app
from hookd.redact import CUT_PREFIX_CHARS, Redactor
from hookd.senders.base import OutboundRequest, Outcome, redact_outcome
from hookd.senders.http import HttpSender
from tests.conftest import event_line, running_daemon, send_lines, serving, socket_config, wait_db
from tests.test_h19_secrets_leak import database_bytes, leak_forms


def escaped_like_dotnet(value: str, escape: str = "+&<>'\"\\") -> str:
    """JSON string content as System.Text.Json writes it by default: `escape` and every non-ASCII
    character as \\uXXXX with uppercase hex, a surrogate pair beyond the BMP."""
    out = []
    for c in value:
        if c in escape or not c.isascii():
            units = c.encode("utf-16-be")
            out += [f"\\u{int.from_bytes(units[i : i + 2], 'big'):04X}" for i in range(0, len(units), 2)]
        else:
            out.append(c)
    return "".join(out)


def every_character_escaped(value: str, spell: str) -> str:
    units = value.encode("utf-16-be")
    return "".join(spell.format(int.from_bytes(units[i : i + 2], "big")) for i in range(0, len(units), 2))


NET = "whsec_Ab+cD/eF+gH0123=="
AMP = "tok&en<Value>99"
UMLAUT = "p\u00e4ssw\u00f6rd"
EMOJI = "emoji\U0001f600secret1"
REDACTOR = Redactor([(NET, "${NET}"), (AMP, "${AMP}"), (UMLAUT, "${UMLAUT}"), (EMOJI, "${EMOJI}")])


@pytest.mark.parametrize(
    ("form", "ref"),
    [
        ("whsec_Ab\\u002BcD/eF\\u002BgH0123==", "${NET}"),  # .NET's `+`
        ("whsec_Ab\\u002bcD\\/eF\\u002BgH0123\\u003D\\u003d", "${NET}"),  # mixed case, `\/`, `=` escaped
        ("tok\\u0026en\\u003cValue\\u003e99", "${AMP}"),  # Go's & < >
        ("tok\\u0026en\\u003CValue\\u003E99", "${AMP}"),
        ("p\\u00E4ssw\\u00F6rd", "${UMLAUT}"),
        ("emoji\\ud83d\\ude00secret1", "${EMOJI}"),
        ("emoji\\uD83D\\uDE00secret1", "${EMOJI}"),
        ("emoji\\U0001F600secret1", "${EMOJI}"),
        ("emoji&#128512;secret1", "${EMOJI}"),
        ("emoji&#x1F600;secret1", "${EMOJI}"),
        ("emoji%F0%9F%98%80secret1", "${EMOJI}"),
        (every_character_escaped(NET, "\\u{:04X}"), "${NET}"),
        (every_character_escaped(NET, "\\u{:04x}"), "${NET}"),
        (every_character_escaped(AMP, "&#{};"), "${AMP}"),
        (every_character_escaped(AMP, "&#x{:X};"), "${AMP}"),
        (every_character_escaped(AMP, "&#X{:04x};"), "${AMP}"),
        ("tok&AMP;en&lt;Value&GT;99", "${AMP}"),
        ("tok&amp;en%3cValue\\u003E99", "${AMP}"),  # one secret, three spellings
        (escaped_like_dotnet(UMLAUT), "${UMLAUT}"),
        (escaped_like_dotnet(EMOJI), "${EMOJI}"),
    ],
)
def test_a_secret_is_hidden_in_any_per_character_spelling(form: str, ref: str) -> None:
    assert REDACTOR.text(f'{{"echo": "{form}"}}') == f'{{"echo": "{ref}"}}'


def test_text_without_a_secret_is_left_as_it_is() -> None:
    text = 'tok&en whsec_ \\u0041 &amp; %2B p\\u00e4 {"emoji": "\\ud83d\\ude00"}'
    assert REDACTOR.text(text) == text
    assert REDACTOR.text(text, cut=True) == text


# -- a response cut off in a secret -------------------------------------------------------------------

CUT = "cutSecret0123456789abc"  # 22 characters
CUTTER = Redactor([(CUT, "${CUT}"), ("hunter2hunter2", "${PASSWORD}")])


@pytest.mark.parametrize(
    "tail",
    [
        CUT[:16],
        CUT[:CUT_PREFIX_CHARS],
        "cutS\\u0065cret01",  # escaped
        "cutSecret01\\u003",  # cut inside an escape
        "%63%75%74%53ecret",  # percent-encoded, lowercase hex
        "cutSecret0123%3",  # cut inside a percent-escape
    ],
)
def test_a_cut_off_excerpt_does_not_end_in_the_start_of_a_secret(tail: str) -> None:
    text = "x" * 4074 + " auth=" + tail
    assert CUTTER.text(text, cut=True) == "x" * 4074 + " auth=${CUT}"
    assert CUTTER.text(text) == text  # not cut off: it is all there is, no secret in it


def test_a_cut_off_excerpt_does_not_end_in_a_secret_cut_inside_a_character() -> None:
    # The sender decodes the excerpt's bytes with errors="replace": a character cut in its UTF-8 is U+FFFD.
    body = ("x" * 10 + " pw=" + UMLAUT).encode()[:-3].decode("utf-8", errors="replace")
    assert body.endswith("p\u00e4ssw\ufffd")
    assert REDACTOR.text(body, cut=True) == "x" * 10 + " pw=${UMLAUT}"


def test_a_cut_off_excerpt_does_not_end_in_the_start_of_a_secret_in_base64() -> None:
    token = base64.b64encode(b"bob:hunter2hunter2").decode()
    assert CUTTER.text(f"Authorization: Basic {token[:14]}", cut=True) == (
        "Authorization: Basic <base64 with ${PASSWORD}>"
    )


def test_a_cut_off_excerpt_keeps_an_ending_shorter_than_the_prefix_limit() -> None:
    text = "auth=" + CUT[: CUT_PREFIX_CHARS - 1]
    assert CUTTER.text(text, cut=True) == text


def test_a_cut_off_whole_secret_is_hidden_as_usual() -> None:
    assert CUTTER.text(f"auth={CUT}, more", cut=True) == "auth=${CUT}, more"


def test_redact_outcome_hides_the_cut_off_start_of_a_secret_only_in_a_truncated_excerpt() -> None:
    body = "x" * 4074 + " auth=" + CUT[:16]
    cut = Outcome(status=500, ok=False, retryable=True, duration_s=0.1, response_excerpt=body, response_truncated=True)
    whole = Outcome(status=500, ok=False, retryable=True, duration_s=0.1, response_excerpt=body)
    assert redact_outcome(cut, CUTTER).response_excerpt.endswith(" auth=${CUT}")
    assert redact_outcome(whole, CUTTER).response_excerpt == body


# -- a secret that holds percent-escapes ------------------------------------------------------------

SIG = "AbC%2Bdef%2Fghi%3D"


@pytest.mark.parametrize(
    "form", [SIG, "AbC%2Bdef/ghi%3D", "AbC+def/ghi=", "AbC%2bdef%2fghi%3d", "AbC\\u002Bdef\\/ghi="]
)
def test_a_secret_with_percent_escapes_is_hidden_also_decoded(form: str) -> None:
    assert Redactor([(SIG, "${SIG}")]).text(f"sig={form}&x=1") == "sig=${SIG}&x=1"


# -- end to end: a daemon, a receiver that echoes, history, the database, `hookd test --send` ---------

SECRETS = {
    "SEC_NET": NET,
    "SEC_AMP": AMP,
    "SEC_UMLAUT": UMLAUT,
    "SEC_EMOJI": EMOJI,
    "SEC_CUT": CUT,
    "SEC_PW": "userPass%2Fword7",
    "SEC_PATH": "pathSec%2Fret9Zq",
    "SEC_Q": "qSecret&Value=%2F/\u00dc",
    "SEC_SIG": SIG,
}


@dataclass
class Echoes:
    """Receivers that echo what they got as real services do: .NET-style JSON, a long page cut
    mid-secret, and the request line with its parsed query."""

    server: TestServer | None = None
    raw_paths: list[str] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    async def dotnet(self, request: web.Request) -> web.Response:
        data = await request.json()
        echoed = ", ".join(f'"{k}": "{escaped_like_dotnet(str(v))}"' for k, v in data.items())
        return web.Response(status=500, text=f'{{"error": "bad signature", "got": {{{echoed}}}}}')

    async def long(self, request: web.Request) -> web.Response:
        text = "x" * 4074 + " auth=" + request.headers["X-Team"]
        return web.Response(status=500, text=text)

    async def echo(self, request: web.Request) -> web.Response:
        self.raw_paths.append(request.raw_path)
        self.got.set()
        query = "\n".join(f"{k}={v}" for k, v in request.query.items())
        return web.Response(status=500, text=f"{request.raw_path}\n{request.path}\n{query}")


@pytest.fixture
async def echoes() -> AsyncIterator[Echoes]:
    e = Echoes()
    app_ = web.Application()
    app_.router.add_post("/dotnet", e.dotnet)
    app_.router.add_post("/long", e.long)
    app_.router.add_route("*", "/echo500/{tail:.*}", e.echo)
    async with serving(app_) as e.server:
        yield e


def forms_of(value: str) -> set[str]:
    """`value` in the forms the receivers above and the test's other tools could echo it in."""
    forms = leak_forms(value) | {escaped_like_dotnet(value), json.dumps(escaped_like_dotnet(value))[1:-1]}
    if value == CUT:
        forms |= {CUT[:n] for n in range(CUT_PREFIX_CHARS, len(CUT))}
    if "%" in value:
        decoded = re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), value)
        forms |= leak_forms(decoded) | {value.replace("%2F", "/"), quote(value.replace("%2F", "/"), safe="/%&=")}
    return {f for f in forms if len(f) >= CUT_PREFIX_CHARS}


def leaks(where: str, text: str) -> list[str]:
    return [
        f"{where}: {name} as {form!r}" for name, value in SECRETS.items() for form in forms_of(value) if form in text
    ]


def config(d: Path, port: int) -> Path:
    return socket_config(
        d,
        f"""
        hooks:
          - name: dotnet
            events: ["order.*"]
            url: "http://127.0.0.1:{port}/dotnet"
            payload: {{net: "${{SEC_NET}}", amp: "${{SEC_AMP}}", umlaut: "${{SEC_UMLAUT}}", emoji: "${{SEC_EMOJI}}"}}
            retry: {{max_attempts: 1}}
          - name: long
            events: ["order.*"]
            url: "http://127.0.0.1:{port}/long"
            headers: {{X-Team: "${{SEC_CUT}}"}}
            retry: {{max_attempts: 1}}
          - name: sas
            events: ["order.*"]
            url: "http://u:${{SEC_PW}}@127.0.0.1:{port}/echo500/${{SEC_PATH}}?q=${{SEC_Q}}&sig=${{SEC_SIG}}"
            retry: {{max_attempts: 1}}
        """,
    )


async def hookd(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_no_escaped_cut_off_or_percent_encoded_secret_reaches_history_the_database_or_test_send(
    short_dir: Path, echoes: Echoes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1. Nine secrets: four echoed back in .NET's JSON escapes, one at the end of a response cut off
       by the excerpt limit, four with percent-escapes in the URL's userinfo, path and query.
    2. The daemon delivers one event to the three hooks; the receiver gets the URL byte for byte as
       configured (only the Ü encoded), and echoes the raw path and the decoded query.
    3. `history show` (text and --json), the database bytes, and `hookd test --send --json` hold none
       of the secrets in any of those forms, nor the start of the cut-off one."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    cfg = config(short_dir, echoes.port())
    db = short_dir / "hookd.db"
    sent_path = "/echo500/pathSec%2Fret9Zq?q=qSecret&Value=%2F/%C3%9C&sig=AbC%2Bdef%2Fghi%3D"

    async with running_daemon(cfg):
        await send_lines(short_dir / "s.sock", [event_line("order.created", id="evt-1", data={"id": 1})])
        await wait_db(db, "SELECT count(*) FROM attempts", lambda r: r == [(3,)])
    assert echoes.raw_paths == [sent_path]

    found = leaks("database", database_bytes(db).decode("utf-8", errors="replace"))
    shown = await hookd("history", "show", "evt-1", "-c", str(cfg))
    shown_json = await hookd("history", "show", "evt-1", "-c", str(cfg), "--json")
    sent = await hookd("test", "-c", str(cfg), "--type", "order.created", "--data", '{"id": 1}', "--send", "--json")
    for label, result in (("history show", shown), ("history show --json", shown_json), ("test --send", sent)):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        found += leaks(label, result.output)
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    found += leaks("database after checkpoint", database_bytes(db).decode("utf-8", errors="replace"))

    assert found == [], "\n".join(found)
    assert echoes.raw_paths == [sent_path, sent_path]  # `hookd test --send` sends it as configured too
    for ref in ("${SEC_NET}", "${SEC_AMP}", "${SEC_UMLAUT}", "${SEC_EMOJI}", "${SEC_CUT}", "${SEC_PATH}", "${SEC_SIG}"):
        assert ref in shown.output, ref


async def test_the_sender_keeps_percent_escapes_and_encodes_only_what_a_url_cannot_hold(echoes: Echoes) -> None:
    """A space, a `%` that starts no escape and non-ASCII are encoded; every %XX stays as written."""
    sender = HttpSender()
    try:
        url = f"http://127.0.0.1:{echoes.port()}/echo500/a%2Fb c?x=50%off&sig=AbC%2bdef%2Fghi%3D&n=\u00dc"
        outcome = await sender.send(OutboundRequest(method="GET", url=url, headers={}, body=b"", timeout_s=10))
    finally:
        await sender.close()
    assert outcome.status == 500
    assert echoes.raw_paths == ["/echo500/a%2Fb%20c?x=50%25off&sig=AbC%2bdef%2Fghi%3D&n=%C3%9C"]
