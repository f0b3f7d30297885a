"""The admin web UI: server-rendered pages (Jinja2 + htmx) over the service layer."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from workflow_integrator.app import Services


def install(app: FastAPI, services: Services) -> None:
    """Add the UI's session/CSRF middleware, static files and pages to ``app``."""
    from workflow_integrator.web.routes import routers
    from workflow_integrator.web.security import WebSessionMiddleware
    from workflow_integrator.web.templating import STATIC_DIR
    from workflow_integrator.web.throttle import SignInThrottle

    app.state.sign_in_throttle = SignInThrottle(clock=services.clock)
    app.add_middleware(
        WebSessionMiddleware, users=services.users, max_body_bytes=services.settings.max_body_bytes
    )
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in routers:
        app.include_router(router)
