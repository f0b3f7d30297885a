"""The ``wi`` command: thin Typer commands over the service layer."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow_integrator import __version__
from workflow_integrator.cli import audit as audit_cli
from workflow_integrator.cli import (
    db,
    demo,
    diagnostics,
    secrets,
    serve,
    servers,
    tokens,
    users,
    worker,
)
from workflow_integrator.cli import deliveries as deliveries_cli
from workflow_integrator.cli import events as events_cli
from workflow_integrator.cli import integrations as integrations_cli
from workflow_integrator.cli import securechange as securechange_cli
from workflow_integrator.cli import sim as sim_cli
from workflow_integrator.cli import smtp as smtp_cli

app = typer.Typer(
    name="wi",
    help="Workflow Integrator: SecureChange workflows to outbound servers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"wi {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Workflow Integrator: SecureChange workflows to outbound servers."""


app.command("serve")(serve.serve)
app.command("worker")(worker.worker)
app.command("demo")(demo.demo)
servers.app.command("fetch-token")(diagnostics.fetch_token)
servers.app.command("test")(diagnostics.test)
app.add_typer(servers.app, name="servers")
app.add_typer(tokens.app, name="tokens")
app.add_typer(db.app, name="db")
app.add_typer(secrets.app, name="secrets")
app.add_typer(events_cli.app, name="events")
app.add_typer(securechange_cli.app, name="securechange")
app.add_typer(sim_cli.app, name="sim")
app.add_typer(integrations_cli.app, name="integrations")
app.add_typer(users.app, name="users")
app.add_typer(smtp_cli.app, name="smtp")
app.add_typer(deliveries_cli.app, name="deliveries")
app.add_typer(audit_cli.app, name="audit")


def main() -> None:
    """Console entry point."""
    app()
