"""A ${VAR} used only where a place goes (the database, a socket or tailed file, a listen address)
is no secret: logs and status show where things are. One used anywhere else stays hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from hookd.config.load import load_config
from tests.conftest import Receiver, write_config


def test_places_are_shown_and_secrets_hidden(tmp_path: Path) -> None:
    state = str(tmp_path / "state-dir-0123")
    token = "token-value-0123456789"
    shared = "shared-value-0123456789"
    cfg = write_config(
        tmp_path,
        """
        version: 1
        storage: {path: "${STATE}/hookd.db"}
        sources:
          - {name: app, type: socket, path: "${STATE}/s.sock"}
          - {name: log, type: file, path: "${SHARED}/events.jsonl"}
        hooks:
          - name: h
            events: ["*"]
            url: http://127.0.0.1:9/in
            headers: {X-Token: "${TOKEN}", X-Shared: "${SHARED}"}
        """,
    )
    settings = load_config(cfg, env={"STATE": state, "TOKEN": token, "SHARED": shared})

    assert settings.storage.path == Path(state) / "hookd.db"
    secrets = dict(settings.secrets)
    assert state not in secrets
    assert secrets[token] == "${TOKEN}"
    assert secrets[shared] == "${SHARED}"  # a place here, a header there: a secret


def test_an_http_sources_path_is_a_secret_when_it_comes_from_a_variable(tmp_path: Path) -> None:
    """An unguessable URL path is how some senders are let in: hidden, unlike a socket's path."""
    cap = "cap-8f3a9c2e1b7d4f60"
    cfg = write_config(
        tmp_path,
        f"""
        version: 1
        storage: {{path: {tmp_path}/hookd.db}}
        sources:
          - {{name: gh, type: http, listen: 127.0.0.1:0, path: "/in/${{INBOUND_CAP}}"}}
        hooks: []
        """,
    )
    settings = load_config(cfg, env={"INBOUND_CAP": cap})
    assert dict(settings.secrets)[cap] == "${INBOUND_CAP}"


async def test_status_hides_a_secret_in_a_sources_address(
    short_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket path built from a ${VAR} whose value is also a hook's header (so a secret). Result:
    /status shows the address with the reference, as the log does."""
    from tests.conftest import running_daemon
    from tests.test_h24_metrics import fetch_json

    token = "sockSecretTokenABCDEFG123"
    monkeypatch.setenv("HOOKD_TEST_SOCKTOK", token)
    cfg = write_config(
        short_dir,
        f"""
        version: 1
        storage: {{path: {short_dir}/hookd.db}}
        sources:
          - {{name: app, type: socket, path: "{short_dir}/${{HOOKD_TEST_SOCKTOK}}"}}
        hooks:
          - {{name: h, events: ["*"], url: "{receiver.url("/h")}", headers: {{X-Token: "${{HOOKD_TEST_SOCKTOK}}"}}}}
        admin: {{listen: 127.0.0.1:0}}
        """,
    )
    async with running_daemon(cfg) as daemon:
        assert daemon.admin_url is not None
        code, doc = await fetch_json(f"{daemon.admin_url}/status")
    assert code == 200
    assert token not in str(doc)
    sources = doc["sources"]
    assert isinstance(sources, list) and sources[0]["addresses"] == [f"unix:{short_dir}/${{HOOKD_TEST_SOCKTOK}}"]
