"""``wi secrets``: the key that encrypts secrets at rest."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow_integrator.cli.context import console, fail, services
from workflow_integrator.services.secret_keys import reencrypt_all
from workflow_integrator.store.secretbox import (
    SecretBox,
    SecretKeyError,
    new_key,
    write_key_file,
)

app = typer.Typer(help="Encryption key of stored secrets.", no_args_is_help=True)


@app.command("new-key")
def print_new_key() -> None:
    """Print a fresh key (for WI_SECRET_KEY)."""
    typer.echo(new_key())


@app.command("rotate-key")
def rotate_key(
    new: Annotated[
        str | None, typer.Option("--new-key", help="Use this key (default: generate).")
    ] = None,
) -> None:
    """Re-encrypt every stored secret under a new key.

    With the key file (default) the file is updated. With WI_SECRET_KEY the new key is
    printed: put it into WI_SECRET_KEY before WI starts again.
    """
    current = services()
    settings = current.settings
    key = new or new_key()
    try:
        new_box = SecretBox([key])
    except SecretKeyError as exc:
        fail(f"--new-key: {exc}")
    from_env = settings.secret_key is not None
    key_file = settings.resolved_secret_key_file
    if not from_env:
        # Both keys on disk first: a crash mid-way leaves every secret readable.
        old_keys = [k for k in key_file.read_text().split() if k]
        write_key_file(key_file, [key, *old_keys])
    count = reencrypt_all(current.engine, current.secretbox, new_box)
    if from_env:
        console.print(
            f"re-encrypted {count} secret record(s). Set WI_SECRET_KEY to the new "
            "key below before WI starts again:"
        )
        typer.echo(key)
    else:
        write_key_file(key_file, [key])
        console.print(f"re-encrypted {count} secret record(s); {key_file} holds the new key")
