"""TLS and proxies through a real daemon (in process, its delivery worker a real child process): an
event reaches a mutual-TLS receiver through an authenticating forward proxy; a hook whose proxy
password is refused fails with the reason; a verify: false hook is warned about at start; and the
proxy passwords appear in no log line, no stored row and no `hookd history` output."""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path

import pytest

import hookd.cli.history  # registers the commands
from hookd.logs import LogLine
from tests.cli_helpers import hookd
from tests.conftest import event_line, running_daemon, send_lines, socket_config, wait_db
from tests.h20_tls_servers import forward_proxy, https_receiver, make_pki

PASSWORD = "pr0xy-pa55word-xyz"
WRONG_PASSWORD = "wr0ng-pa55word-abc"


def everything_stored(db: Path) -> str:
    """Every row of every table of the database, as SQL text."""
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def secret_forms(password: str) -> list[str]:
    """The password, and the base64 of the Basic credentials it is sent in."""
    return [password, base64.b64encode(f"hookd:{password}".encode()).decode()]


async def test_a_daemon_delivers_over_mutual_tls_through_an_authenticating_proxy(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PROXY_PASSWORD", WRONG_PASSWORD)
    pki = make_pki(short_dir / "pki")
    async with (
        forward_proxy(("hookd", PASSWORD)) as proxy,
        https_receiver(pki, require_client_cert=True) as rec,
    ):
        proxy_url = f"http://hookd:${{PROXY_PASSWORD}}@127.0.0.1:{proxy.port}"
        config = socket_config(
            short_dir,
            f"""
            delivery:
              proxy: "{proxy_url}"
            hooks:
              - name: mtls
                events: ["order.*"]
                url: {rec.url("/in")}
                tls: {{ca_file: pki/ca.pem, client_cert: pki/client.crt, client_key: pki/client.key}}
              - name: refused
                events: ["order.*"]
                url: {rec.url("/refused")}
                proxy: "http://hookd:${{WRONG_PROXY_PASSWORD}}@127.0.0.1:{proxy.port}"
                tls: {{ca_file: pki/ca.pem, client_cert: pki/client.pem}}
                retry: {{max_attempts: 1}}
              - name: insecure
                events: ["order.*"]
                url: {rec.url("/insecure")}
                tls: {{verify: false, client_cert: pki/client.pem}}
            """,
        )
        db = short_dir / "hookd.db"
        with caplog.at_level(logging.DEBUG, logger="hookd"):
            async with running_daemon(config):
                replies = await send_lines(short_dir / "s.sock", [event_line(id="order-1")])
                assert replies[0]["ok"] is True
                await rec.wait_count(2)
                rows = await wait_db(
                    db,
                    "SELECT hook, state, last_status, last_error FROM deliveries ORDER BY hook",
                    lambda rows: len(rows) == 3 and all(r[1] in ("delivered", "failed") for r in rows),
                )
    # The mutual-TLS hook and the verify: false one arrived, each presenting the client certificate,
    # through the proxy (a CONNECT with the right credentials each).
    assert sorted(r.path for r in rec.requests) == ["/in", "/insecure"]
    assert all(subject is not None for subject in rec.client_subjects)
    connects = [r for r in proxy.requests if r.method == "CONNECT"]
    assert len(connects) == 3
    basic = "Basic " + secret_forms(PASSWORD)[1]
    assert sorted(r.proxy_authorization == basic for r in connects) == [False, True, True]
    # The refused one failed with the proxy's reason.
    by_hook = {r[0]: r for r in rows}
    assert by_hook["mtls"][1:3] == ("delivered", 200)
    assert by_hook["insecure"][1:3] == ("delivered", 200)
    assert by_hook["refused"][1] == "failed"
    assert "CONNECT through the proxy failed" in str(by_hook["refused"][3])
    assert "407 Proxy Authentication Required" in str(by_hook["refused"][3])
    # verify: false is warned about at start, naming the hook.
    unverified = [
        r.msg.fields for r in caplog.records
        if isinstance(r.msg, LogLine) and r.msg.message.startswith("TLS certificate verification is off")
    ]  # fmt: skip
    assert unverified == [{"hook": "insecure"}]
    assert all(r.levelno == logging.WARNING for r in caplog.records if "verification is off" in r.getMessage())
    # No password, in any form, in the logs, the database or history's output.
    history = await hookd("history", "--db", str(db))
    shown = await hookd("history", "show", "order-1", "--db", str(db))
    shown_json = await hookd("history", "show", "order-1", "--db", str(db), "--json")
    assert "refused" in history.output and "CONNECT through the proxy failed" in shown.output.replace("\n", " ")
    for text in (caplog.text, everything_stored(db), history.output, shown.output, shown_json.output):
        flat = text.replace("\n", "")
        for secret in secret_forms(PASSWORD) + secret_forms(WRONG_PASSWORD):
            assert secret not in flat
