"""`hookd secret generate`: a new random secret (a hook's signing secret, the admin token), or an
Ed25519 key pair for Standard Webhooks' asymmetric signatures."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer

from hookd.cli import render
from hookd.cli.app import app
from hookd.keys import MAX_BYTES, MIN_BYTES, SIGNING_PREFIX, generate_key_pair, generate_secret

secret_app = typer.Typer(
    help="Secrets and keys for signing requests (Standard Webhooks formats) and for the admin token.",
    no_args_is_help=True,
)
app.add_typer(secret_app, name="secret")

STDOUT = "-"


class SecretType(StrEnum):
    standard = "standard"
    ed25519 = "ed25519"


@secret_app.command("generate")
def generate(
    kind: SecretType = typer.Option(
        SecretType.standard,
        "--type",
        help="standard: a whsec_ secret (signing.secrets, admin.token). ed25519: a key pair for signing.private_key.",
    ),
    n_bytes: int | None = typer.Option(
        None, "--bytes", min=MIN_BYTES, max=MAX_BYTES, help="Random bytes in the secret (standard; default 32)."
    ),
    prefix: str | None = typer.Option(
        None, "--prefix", help="Text before the base64 (standard; default whsec_, as Standard Webhooks writes it)."
    ),
    out: str | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Write the secret or private key to FILE, created with mode 0600 (never over an existing file); "
        "- for stdout. Required with --type ed25519.",
    ),
) -> None:
    """Make a new random secret (from the OS's CSPRNG), or an Ed25519 key pair with --type ed25519.

    standard prints the secret on stdout and nothing else (or writes it to --out FILE). Store it where
    the config reads it, never in the config itself:
    `hookd secret generate --out /etc/hookd/whsec` and `secret: ${file:/etc/hookd/whsec}`.

    ed25519 writes the private key (PEM) to --out FILE, for `private_key: ${file:FILE}`, and prints
    the public key (whpk_ + base64) on stdout: that is what receivers verify with. With --out - the
    private key goes to stdout and the public key to stderr.
    """
    if kind is SecretType.ed25519:
        if n_bytes is not None or prefix is not None:
            _usage("--bytes and --prefix shape a standard secret; an ed25519 key has a fixed size and form")
        if out is None:
            _usage(
                "--type ed25519 makes a private key: name the file it goes to with --out FILE (created with mode "
                "0600), or give --out - to print it (it then stays in the terminal's scrollback)"
            )
        pem, public = generate_key_pair()
        if out == STDOUT:
            render.write(pem)
            render.stderr.print(f"public key (for receivers): {public}", markup=False)
            return
        _write_private(Path(out), pem)
        render.write(public + "\n")
        render.stderr.print(
            f"wrote the private key to {out} (mode 0600): use it as private_key: ${{file:{_absolute(out)}}}. The "
            "public key on stdout is what receivers verify with.",
            markup=False,
        )
        return
    secret = generate_secret(32 if n_bytes is None else n_bytes, prefix=SIGNING_PREFIX if prefix is None else prefix)
    if out is None or out == STDOUT:
        render.write(secret + "\n")
        return
    _write_private(Path(out), secret + "\n")
    render.stderr.print(f"wrote a new secret to {out} (mode 0600): use it as ${{file:{_absolute(out)}}}", markup=False)


def _absolute(out: str) -> Path:
    # ${file:} reads a relative path from the config file's directory, not from where this ran.
    return Path(out).absolute()


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a new file only its owner can read; an existing file is never replaced (it may
    be the key receivers trust now)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        render.stderr.print(
            f"error: {path} exists; hookd does not write over a secret or key (receivers may trust it). "
            "Remove it first, or choose another path",
            markup=False,
        )
        raise typer.Exit(1) from None
    except OSError as e:
        render.stderr.print(f"error: cannot create {path}: {e.strerror}", markup=False)
        raise typer.Exit(1) from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)


def _usage(message: str) -> NoReturn:
    render.stderr.print(f"error: {message}", markup=False)
    raise typer.Exit(2)
