"""Which running daemon an admin command (status, reload, tail) asks, and with which token.

Without --url: the admin listener (`admin.listen` or `admin.path`) and `admin.token` of the config.
With --url (http://HOST:PORT, or unix:PATH for an admin socket): that address, and a token from
--token, the named config, or else the default config; the default config's token goes only to
this machine or to that config's own admin host, so a token from ./hookd.yaml never reaches a
stranger's URL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from hookd import client
from hookd.cli import render
from hookd.config.lint import is_loopback
from hookd.config.load import check_config, default_config_path
from hookd.config.model import Settings
from hookd.errors import DaemonUnavailable

TOKEN_ENV = "HOOKD_ADMIN_TOKEN"

# The options every admin command (status, reload, tail) takes, defined once (as hookd.cli.common's).
AdminConfigOption = Annotated[
    Path | None, typer.Option("-c", "--config", help="Config file (default: $HOOKD_CONFIG or ./hookd.yaml).")
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Admin listener to ask, like http://127.0.0.1:8780 or unix:/run/hookd/admin.sock "
        "(default: admin.listen or admin.path of the config).",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        show_envvar=True,
        help="Bearer token for the admin listener (default: admin.token of the config). Prefer the env var: "
        "arguments are visible to other users in ps.",
    ),
]
# Said when the config's admin address answers nothing: the file may have moved the listener, which
# a reload cannot do, and the daemon is still where it started.
MOVED_HINT = (
    "If this file's admin.listen or admin.path changed since hookd started, the daemon still listens "
    "where it started (a reload cannot move it): pass that address with --url, or restart hookd"
)


def with_moved_hint(error: DaemonUnavailable) -> DaemonUnavailable:
    return DaemonUnavailable(f"{str(error).rstrip('.')} {MOVED_HINT}")


@dataclass(frozen=True, slots=True)
class AdminTarget:
    url: str  # http://host:port, or http://localhost for a unix socket
    socket: Path | None  # the admin unix socket the request goes through, if any
    token: str | None
    settings: Settings | None = None  # the config read for it, if one was


def admin_target(
    config: Path | None, url: str | None, token: str | None, command: str, *, invalid: str | None = None
) -> AdminTarget:
    """Where `command` sends its request. Exits 2 (usage) when the config it needs is not valid; or,
    with `invalid` (what to say then), 1: for `hookd reload`, an invalid file is a refused reload."""
    if url is None:
        settings = _settings(config or default_config_path(), command, invalid)
        return AdminTarget(
            client.admin_url(settings), client.admin_socket(settings), token or settings.admin.token, settings
        )
    socket = None
    if url.strip().startswith("unix:"):  # as status and the log show an admin socket: unix:/run/hookd/admin.sock
        socket = Path(url.strip().removeprefix("unix:")).absolute()
        address = client.SOCKET_BASE_URL
    else:
        address = client.normalize_url(url)
    named = _settings(config, command, invalid) if config is not None else None
    chosen = named if named is not None or token else _default_settings(address)
    return AdminTarget(address, socket, token or (chosen.admin.token if chosen is not None else None), named)


def _default_settings(url: str) -> Settings | None:
    """The default config ($HOOKD_CONFIG or ./hookd.yaml) for its token, when it exists, is valid,
    and `url` points at this machine or at that config's admin host; otherwise None, quietly."""
    path = default_config_path()
    if not path.is_file():
        return None
    settings = check_config(path).settings
    if settings is None or not settings.admin.enabled:
        return None
    host = urlsplit(url).hostname or ""
    own = client.admin_host(settings)
    return settings if is_loopback(host) or host == own else None


def _settings(path: Path, command: str, invalid: str | None = None) -> Settings:
    """The config at `path`, read for its admin listener and token. The deployment's secrets (a hook
    header's ${VAR}, kept in a root-only EnvironmentFile) may be unset in an operator's shell: a
    config whose only problems are those is read with them left unresolved, as history and hooks
    read it. Exits 2 (or 1 with `invalid`) when it has other errors."""
    result = check_config(path)
    if result.settings is not None:
        return result.settings
    partial = check_config(path, check_environment=False)
    if partial.settings is not None and not partial.errors:
        token = partial.settings.admin.token
        if token is not None and any(ref in token for ref in partial.unchecked):
            # The token itself is unset here: send none (a 401 says to pass --token) rather than its ${...}.
            return replace(partial.settings, admin=replace(partial.settings.admin, token=None))
        return partial.settings
    render.problems_text(result.problems, console=render.stderr)
    if invalid is not None:
        render.stderr.print(f"[red]refused:[/red] {render.escape(invalid.format(path=path))}")
        raise typer.Exit(1)
    render.stderr.print(f"{command} needs a valid config to find the admin listener, or --url.")
    raise typer.Exit(2)
