"""A ${VAR} used only where a place goes (the database, a socket or tailed file, a listen address)
is no secret: logs and status show where things are. One used anywhere else stays hidden."""

from __future__ import annotations

from pathlib import Path

from hookd.config.load import load_config
from tests.conftest import write_config


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
