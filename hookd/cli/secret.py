"""`hookd secret generate`: a new random secret, for the admin token today (signing comes later)."""

from __future__ import annotations

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.keys import MAX_BYTES, MIN_BYTES, SIGNING_PREFIX, generate_secret

secret_app = typer.Typer(
    help="Secrets for the admin listener's token (in the Standard Webhooks format, for signing later).",
    no_args_is_help=True,
)
app.add_typer(secret_app, name="secret")


@secret_app.command("generate")
def generate(
    n_bytes: int = typer.Option(32, "--bytes", min=MIN_BYTES, max=MAX_BYTES, help="Random bytes in the secret."),
    prefix: str = typer.Option(SIGNING_PREFIX, "--prefix", help="Text before the base64 (Standard Webhooks: whsec_)."),
) -> None:
    """Print a new random secret (base64, from the OS's CSPRNG) on stdout and nothing else.

    Store it where the config reads it, never in the config itself:
    `hookd secret generate > /run/secrets/hookd_admin_token` and `token: ${file:/run/secrets/hookd_admin_token}`.
    """
    render.write(generate_secret(n_bytes, prefix=prefix) + "\n")
