"""``wi serve``: the REST API and the web UI in one process."""

from __future__ import annotations

import os
from typing import Annotated

import typer
import uvicorn

from workflow_integrator.app import build_services, create_app
from workflow_integrator.cli.context import console
from workflow_integrator.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (WI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (WI_PORT).")] = None,
) -> None:
    """Start WI. Applies pending migrations; creates the first admin token on a new install."""
    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    services = build_services(settings)
    if services.tokens.count() == 0:
        _, token = services.tokens.create("initial-admin", "admin")
        path = settings.data_dir / "initial-admin-token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        console.print(
            f"first start: an admin API token was written to {path} (mode 0600). "
            "Create more with `wi tokens create --name NAME`."
        )
    first_user = services.users.ensure_initial_admin(settings.data_dir)
    if first_user:
        name, password, path = first_user
        console.print(
            f"first start: sign in to the web UI as '{name}' with password {password} "
            f"(also in {path}, mode 0600); add users with `wi users add NAME --role ROLE`."
        )
    app = create_app(settings, services)
    console.print(
        f"WI listening on http://{settings.host}:{settings.port} "
        f"(API docs at /docs, database {services.engine.url.render_as_string()})"
    )
    try:
        # The app's lifespan closes the network clients; the database goes last.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        services.close()
