"""``wi serve``: the REST API and the web UI in one process."""

from __future__ import annotations

import os
import ssl
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI

from workflow_integrator import logs
from workflow_integrator.api.client_address import SERVER_OPTIONS
from workflow_integrator.app import build_services, create_app
from workflow_integrator.cli.context import console, fail
from workflow_integrator.cli.metrics_listener import metrics_listener
from workflow_integrator.settings import Settings


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (WI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (WI_PORT).")] = None,
) -> None:
    """Start WI. Applies pending migrations; creates the first admin token on a new install."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    tls = _check_tls(settings)
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
        f"WI listening on {'https' if tls else 'http'}://{settings.host}:{settings.port} "
        f"(API docs at /docs, database {services.engine.url.render_as_string()})"
    )
    try:
        with metrics_listener(services):
            _run(app, settings, tls)
    finally:
        # The app's lifespan closes the network clients; the database goes last.
        services.close()


def _run(app: FastAPI, settings: Settings, tls: bool) -> None:
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # logs.configure set the format; the access line is WI's own
        access_log=False,
        ssl_certfile=str(settings.tls_cert_file) if tls else None,
        ssl_keyfile=str(settings.tls_key_file) if tls else None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        **SERVER_OPTIONS,
    )


def _check_tls(settings: Settings) -> bool:
    """True when WI listens with HTTPS; a certificate or key that cannot be used stops here."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except FileNotFoundError as exc:
        fail(f"WI_TLS_CERT_FILE/WI_TLS_KEY_FILE: {exc.filename} does not exist")
    except (ssl.SSLError, OSError) as exc:
        fail(f"WI_TLS_CERT_FILE/WI_TLS_KEY_FILE: cannot use {settings.tls_cert_file} with "
             f"{settings.tls_key_file} ({exc}); give a PEM certificate and its private key")
    return True
