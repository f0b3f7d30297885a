"""``wi tokens``: API tokens (the token is printed once, at creation)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, handled, print_json, services

app = typer.Typer(help="API tokens for the REST API and wi-trigger.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name saying who uses the token.")],
    role: Annotated[
        str,
        typer.Option(
            help="admin (read and change), viewer (read) or trigger (deliver events only: "
            "for wi-trigger)."
        ),
    ] = "admin",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token and print it once: it is stored only as a hash."""
    with handled():
        view, token = services().tokens.create(name, role)
    if as_json:
        print_json({**view.model_dump(mode="json"), "token": token})
        return
    console.print(
        f"API token [bold]{view.name}[/] ({view.role}) created. Copy it now; "
        "it is not shown again:",
        highlight=False,
    )
    typer.echo(token)


@app.command("list")
def list_tokens(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (names, roles, first characters; never the token)."""
    with handled():
        views = services().tokens.list_all()
    if as_json:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table(title="API tokens")
    for column in ("Name", "Role", "Starts with", "Created", "Last used"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.name,
            v.role,
            v.hint,
            f"{v.created_at:%Y-%m-%d %H:%M}",
            f"{v.last_used_at:%Y-%m-%d %H:%M}" if v.last_used_at else "never",
        )
    console.print(table)


@app.command("revoke")
def revoke(name: str) -> None:
    """Revoke a token."""
    with handled():
        services().tokens.revoke(name)
    console.print(f"revoked API token [bold]{name}[/]")
