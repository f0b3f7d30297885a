"""The web UI's routers, in the order ``create_app`` includes them."""

from __future__ import annotations

from fastapi import APIRouter

from workflow_integrator.web import (
    account,
    audit,
    auth,
    deliveries,
    events,
    integrations,
    securechange,
    servers,
    smtp,
    users,
)

routers: list[APIRouter] = [
    auth.router,
    account.router,
    servers.router,
    integrations.router,
    events.router,
    securechange.router,
    deliveries.router,
    users.router,
    smtp.router,
    audit.router,
]
