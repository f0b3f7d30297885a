"""``wi db``: schema migrations."""

from __future__ import annotations

import typer

from workflow_integrator.app import build_services
from workflow_integrator.cli.context import console
from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations (wi serve also does this on start)."""
    services = build_services(Settings(), upgrade=False)
    before = migrate.current_revision(services.engine)
    migrate.upgrade(services.engine, secretbox=services.secretbox)
    after = migrate.current_revision(services.engine)
    console.print(f"database at revision {after}" + ("" if before != after else " (no change)"))


@app.command("current")
def current() -> None:
    """Show the database's revision and the newest one this WI ships."""
    services = build_services(Settings(), upgrade=False)
    console.print(
        f"database: {migrate.current_revision(services.engine) or 'empty'}; "
        f"newest: {migrate.head_revision()}"
    )
