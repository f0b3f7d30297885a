"""``wi users``: local users who sign in to the web UI."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, fail, handled, print_json, services
from workflow_integrator.services.users import UserService

app = typer.Typer(help="Users of the web UI (admin or viewer).", no_args_is_help=True)


def _users() -> UserService:
    return services().users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input")
        return password
    password = typer.prompt("Password", hide_input=True)
    again = typer.prompt("Repeat password", hide_input=True)
    if password != again:
        fail("the passwords differ")
    return str(password)


@app.command("add")
def add(
    name: str,
    role: Annotated[str, typer.Option(help="admin (read and change) or viewer (read).")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a user; the password is prompted for (or read with --password-stdin)."""
    password = _read_password(password_stdin)
    with handled():
        view = _users().add(name, role, password)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(f"user [bold]{view.name}[/] ({view.role}) added", highlight=False)


@app.command("list")
def list_users(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List users and their roles."""
    with handled():
        views = _users().list_all()
    if as_json:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table(title="Users")
    for column in ("Name", "Role", "Created", "Last sign-in"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.name,
            v.role,
            f"{v.created_at:%Y-%m-%d %H:%M}",
            f"{v.last_login_at:%Y-%m-%d %H:%M}" if v.last_login_at else "never",
        )
    console.print(table)


@app.command("delete")
def delete(name: str) -> None:
    """Delete a user; their browser sessions end at once."""
    with handled():
        _users().delete(name)
    console.print(f"deleted user [bold]{name}[/]", highlight=False)


@app.command("passwd")
def passwd(
    name: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password; the user is signed out everywhere and any lock is lifted."""
    password = _read_password(password_stdin)
    with handled():
        _users().set_password(name, password)
    console.print(f"password of [bold]{name}[/] changed", highlight=False)


@app.command("role")
def role(
    name: str,
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help="admin or viewer")],
) -> None:
    """Change a user's role."""
    with handled():
        view = _users().set_role(name, new_role)
    console.print(f"[bold]{view.name}[/] is now {view.role}", highlight=False)
