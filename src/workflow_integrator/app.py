"""Composition root: settings → engine → services → interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import __version__
from workflow_integrator.domain.readiness import Readiness
from workflow_integrator.securechange.settings_service import SecureChangeSettingsService
from workflow_integrator.services import diagnostics
from workflow_integrator.services.api_tokens import ApiTokenService
from workflow_integrator.services.integrations import (
    IntegrationService,
    securechange_ticket_source,
    securechange_web_url,
)
from workflow_integrator.services.metrics import Metrics
from workflow_integrator.services.outbound_servers import OutboundServerService
from workflow_integrator.services.smtp import SmtpSettingsService
from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine, session_factory
from workflow_integrator.store.secretbox import SecretBox, load_keys


@dataclass
class Services:
    """Everything the interfaces (API, UI, CLI) call, built once per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secretbox: SecretBox
    servers: OutboundServerService
    tokens: ApiTokenService
    smtp: SmtpSettingsService
    metrics: Metrics
    readiness: Readiness = field(default_factory=Readiness)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def integrations(self) -> IntegrationService:
        """Workflow integrations (registered in ``extras`` by ``build_services``)."""
        service: IntegrationService = self.extras["integrations"]
        return service

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def build_services(settings: Settings, *, upgrade: bool = True) -> Services:
    """Open the database (applying migrations unless told not to) and wire the services."""
    if not settings.data_dir.exists():
        # The folder holds the database, the key file and first-start credentials.
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    if upgrade:
        migrate.upgrade(engine)
    sessions = session_factory(engine)
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    key_file = None if secret_key else settings.resolved_secret_key_file
    secretbox = SecretBox(
        load_keys(secret_key, settings.resolved_secret_key_file), key_file=key_file
    )
    metrics = Metrics(sessions, settings.instance_name)
    services = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        secretbox=secretbox,
        servers=OutboundServerService(sessions, secretbox),
        tokens=ApiTokenService(sessions),
        smtp=SmtpSettingsService(sessions, secretbox, metrics),
        metrics=metrics,
    )
    diagnostics.install(services)
    securechange = SecureChangeSettingsService(sessions, secretbox).connection
    services.extras["integrations"] = IntegrationService(
        sessions,
        services.servers,
        settings.resolved_plugin_dir,
        ticket_source=securechange_ticket_source(securechange),
        securechange_url=securechange_web_url(securechange),
    )
    return services


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The ASGI application: REST API under /api/v1, web UI at /, health at /healthz.

    The API's documentation (/docs, /openapi.json) is for signed-in users and API tokens.
    """
    from workflow_integrator import web
    from workflow_integrator.api import diagnostics as diagnostics_api
    from workflow_integrator.api import errors, health, limits, openapi, outbound_servers
    from workflow_integrator.api import events as events_api
    from workflow_integrator.api import integrations as integrations_api
    from workflow_integrator.api import metrics as metrics_api
    from workflow_integrator.api import securechange as securechange_api
    from workflow_integrator.api import smtp as smtp_api
    from workflow_integrator.api.request_id import RequestIdMiddleware

    settings = settings or (services.settings if services else Settings())
    services = services or build_services(settings)
    app = FastAPI(
        title="Workflow Integrator",
        version=__version__,
        description="Connects SecureChange workflows to outbound servers.",
        # Served by api/openapi.py behind sign-in: only health and sign-in are public.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    errors.install(app)
    app.add_middleware(limits.BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(outbound_servers.router)
    app.include_router(diagnostics_api.router)
    app.include_router(events_api.router)
    app.include_router(securechange_api.router)
    app.include_router(integrations_api.router)
    app.include_router(smtp_api.router)
    app.include_router(metrics_api.router)
    web.install(app)
    openapi.install(app)
    # Outermost, so every line of a request (and its access line) carries its id.
    app.add_middleware(RequestIdMiddleware)
    return app
