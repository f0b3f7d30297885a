"""Composition root: settings → engine → services → interfaces, and the lifespan.

Everything a process holds (database engine, services, the transports to outbound
servers, the token manager, the SecureChange client) is built once, in
:func:`build_services`, and closed by :meth:`Services.aclose` and :meth:`Services.close`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import __version__
from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.delivery.mailer import FailureMailer
from workflow_integrator.delivery.notifier import FailureNotifier
from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.domain.integration import NotifyOnFailure
from workflow_integrator.domain.networks import parse_networks
from workflow_integrator.domain.readiness import Readiness
from workflow_integrator.outbound import TokenManager, TransportPool
from workflow_integrator.securechange.settings_service import SecureChangeSettingsService
from workflow_integrator.securechange.tickets import SecureChangeTicketReader
from workflow_integrator.services.api_tokens import ApiTokenService
from workflow_integrator.services.audit import AuditService
from workflow_integrator.services.deliveries import DeliveryService
from workflow_integrator.services.diagnostics import DiagnosticsService
from workflow_integrator.services.errors import NotFound
from workflow_integrator.services.integrations import IntegrationService
from workflow_integrator.services.metrics import Metrics, database_queue
from workflow_integrator.services.outbound_servers import OutboundServerService
from workflow_integrator.services.placeholders import PlaceholderService
from workflow_integrator.services.previews import PreviewService
from workflow_integrator.services.replans import ReplanService
from workflow_integrator.services.secret_keys import reseal_legacy
from workflow_integrator.services.smtp import SmtpSettingsService
from workflow_integrator.services.users import UserService
from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine, private_data_dir, session_factory
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue
from workflow_integrator.store.secretbox import SecretBox, load_keys
from workflow_integrator.store.servers import seal_clear_headers
from workflow_integrator.store.tokens import DatabaseTokenStore, forget_tokens
from workflow_integrator.store.wakeups import can_notify, notify_work


class BackgroundRunner(Protocol):
    """Something that runs beside the API while the app is up (e.g. delivery workers)."""

    async def start(self) -> None:
        """Start running; return once started."""
        ...

    async def stop(self) -> None:
        """Stop and drain what is in flight; return once stopped."""
        ...


@dataclass(frozen=True)
class Services:
    """Everything the interfaces (API, UI, CLI) call, built once per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    secretbox: SecretBox
    servers: OutboundServerService
    tokens: ApiTokenService
    users: UserService
    events: EventIntake
    securechange: SecureChangeSettingsService
    token_manager: TokenManager
    transports: TransportPool
    diagnostics: DiagnosticsService
    tickets: SecureChangeTicketReader
    placeholders: PlaceholderService
    integrations: IntegrationService
    previews: PreviewService
    smtp: SmtpSettingsService
    metrics: Metrics
    readiness: Readiness
    """What long-lived parts (the delivery workers) last reported, for /readyz."""
    failure_mails: FailureMailer
    notifier: FailureNotifier
    """Turns failed deliveries into queued e-mails (called by the delivery engine)."""
    replans: ReplanService
    deliveries: DeliveryService
    audit: AuditService
    """The audit log: who changed configuration (written by the services themselves)."""
    clock: Clock = field(default_factory=SystemClock)
    background: tuple[BackgroundRunner, ...] = ()

    async def aclose(self) -> None:
        """Close the network clients: outbound transports and the SecureChange client.

        They reopen on next use, so a CLI command may call this after each event loop.
        """
        await self.transports.aclose()
        await self.tickets.aclose()

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    upgrade: bool = True,
    password_hasher: PasswordHasher | None = None,
    clock: Clock | None = None,
) -> Services:
    """Open the database (applying migrations unless told not to) and wire the services.

    ``clock`` decides token freshness, sign-in delays and session expiry (tests pass
    a ``ManualClock``).
    """
    clock = clock or SystemClock()
    private_data_dir(settings.data_dir)
    engine = make_engine(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
    key_file = None if secret_key else settings.resolved_secret_key_file
    secretbox = SecretBox(
        load_keys(secret_key, settings.resolved_secret_key_file), key_file=key_file
    )
    if upgrade:
        migrate.upgrade(engine, secretbox=secretbox)
        # The upgrade steps that need the running key, for databases migrated without it.
        reseal_legacy(engine, secretbox)
        with engine.begin() as connection:
            seal_clear_headers(connection, secretbox)
    sessions = session_factory(engine)
    metrics = Metrics(sessions, settings.instance_name)
    metrics.queue_source = database_queue(sessions, clock.now)
    readiness = Readiness()
    servers = OutboundServerService(sessions, secretbox, settings.token_script_dir, clock)
    # A server whose auth, TLS or proxy changed must not keep its old tokens.
    servers.change_hooks.append(forget_tokens)
    token_manager = TokenManager(
        DatabaseTokenStore(engine, sessions, secretbox), clock, on_fetch=metrics.token_fetch
    )
    policy = settings.outbound_policy
    transports = TransportPool(token_manager, policy)
    securechange = SecureChangeSettingsService(sessions, secretbox, readiness, policy)
    tickets = SecureChangeTicketReader(
        securechange.connection,
        # Shown by /readyz; SecureChange being down does not make WI unready.
        lambda ok, detail: readiness.report("securechange", ok, detail, required=False),
        policy,
    )
    placeholders = PlaceholderService(settings.resolved_plugin_dir, securechange.web_url)
    integrations = IntegrationService(sessions, placeholders)
    # A server still named by an integration cannot be deleted.
    servers.usage_checks.append(integrations.usage)
    events = EventIntake(sessions)
    replans = ReplanService(sessions)
    queue = DatabaseDeliveryQueue(engine, sessions, give_up_after=settings.delivery_give_up_after)
    deliveries = DeliveryService(sessions, queue, clock)
    if can_notify(engine):
        # Delivery engines in other processes hear of new work at once (LISTEN/NOTIFY).
        events.on_stored.append(lambda: notify_work(engine))
        replans.on_replanned.append(lambda: notify_work(engine))
        deliveries.on_replayed.append(lambda: notify_work(engine))
    smtp = SmtpSettingsService(sessions, secretbox, metrics)
    failure_mails = FailureMailer(sessions, smtp, metrics.instance)

    def notify_for(workflow: str) -> NotifyOnFailure | None:
        try:
            return integrations.get_integration(workflow).notify_on_failure
        except NotFound:
            return None

    notifier = FailureNotifier(failure_mails, notify_for, securechange.connection,
                               lambda: settings.public_url, policy)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        secretbox=secretbox,
        servers=servers,
        tokens=ApiTokenService(sessions, clock),
        users=UserService(sessions, hasher=password_hasher, clock=clock),
        events=events,
        securechange=securechange,
        token_manager=token_manager,
        transports=transports,
        diagnostics=DiagnosticsService(servers, token_manager, transports),
        tickets=tickets,
        placeholders=placeholders,
        integrations=integrations,
        previews=PreviewService(integrations, servers, placeholders, tickets),
        clock=clock,
        replans=replans,
        deliveries=deliveries,
        smtp=smtp,
        metrics=metrics,
        readiness=readiness,
        failure_mails=failure_mails,
        notifier=notifier,
        audit=AuditService(sessions, timedelta(days=settings.audit_retention_days)),
    )


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The ASGI application: REST API under /api/v1, web UI at /, health at /healthz.

    The API's documentation (/docs, /openapi.json) is for signed-in users and API tokens.
    """
    from workflow_integrator import web
    from workflow_integrator.api import audit as audit_api
    from workflow_integrator.api import (
        client_address,
        errors,
        event_replans,
        health,
        limits,
        methods,
        openapi,
        outbound_servers,
        response_headers,
    )
    from workflow_integrator.api import deliveries as deliveries_api
    from workflow_integrator.api import diagnostics as diagnostics_api
    from workflow_integrator.api import events as events_api
    from workflow_integrator.api import integrations as integrations_api
    from workflow_integrator.api import metrics as metrics_api
    from workflow_integrator.api import securechange as securechange_api
    from workflow_integrator.api import smtp as smtp_api
    from workflow_integrator.api.request_id import RequestIdMiddleware
    from workflow_integrator.delivery.runners import delivery_runners

    settings = settings or (services.settings if services else Settings())
    owned = services is None
    root = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[BackgroundRunner] = []
        runners = root.background
        if not runners and root.settings.serve_workers:
            runners = delivery_runners(root).in_start_order
        try:
            # Background runners (the delivery engine) start here and drain on the way out.
            for runner in runners:
                await runner.start()
                started.append(runner)
            yield
        finally:
            for runner in reversed(started):
                await runner.stop()
            await root.aclose()
            if owned:
                root.close()

    app = FastAPI(
        # Off unless asked for: WI ships no OpenTelemetry SDK, and FastAPI's check for
        # one cost about 3 % of each request's CPU.
        telemetry=None if settings.opentelemetry else {
            "tracing": False, "metrics": False, "logs": False},
        lifespan=lifespan,
        title="Workflow Integrator",
        version=__version__,
        description="Connects SecureChange workflows to outbound servers.",
        # Served by api/openapi.py behind sign-in: only health and sign-in are public.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = root
    errors.install(app)
    app.add_middleware(limits.BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(outbound_servers.router)
    app.include_router(diagnostics_api.router)
    app.include_router(events_api.router)
    app.include_router(event_replans.router)
    app.include_router(securechange_api.router)
    app.include_router(integrations_api.router)
    app.include_router(smtp_api.router)
    app.include_router(metrics_api.router)
    app.include_router(deliveries_api.router)
    app.include_router(audit_api.router)
    web.install(app, root)
    openapi.install(app)
    app.add_middleware(methods.AllowedMethods, routes=lambda: app.router.routes)
    # Outermost: every answer, the UI's refusals included, gets the headers, and the
    # client's address and scheme are settled before anything reads them.
    app.add_middleware(response_headers.ResponseHeaders)
    app.add_middleware(client_address.ClientAddress,
                       proxies=parse_networks(settings.trusted_proxies))
    # Outermost, so every line of a request (and its access line) carries its id.
    app.add_middleware(RequestIdMiddleware)
    return app
