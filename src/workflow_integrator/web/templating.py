"""Rendering the UI's own Jinja2 templates (autoescaped; user templates live elsewhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from workflow_integrator import __version__
from workflow_integrator.services.principals import Principal
from workflow_integrator.web.nav import NAV

HTMX_VERSION = "2.0.11"
"""The vendored ``static/htmx.min.js`` (npm htmx.org@2.0.11, dist/htmx.min.js)."""

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def principal_of(request: Request) -> Principal | None:
    """The signed-in user, set by the session middleware."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


def refuse_viewer(request: Request) -> HTMLResponse | None:
    """None for a user who may change configuration; else the page that says why not."""
    principal = principal_of(request)
    if principal is not None and principal.can_write:
        return None
    return render(
        request,
        "message.html",
        {
            "title": "Not allowed",
            "message": "Your role is viewer: you can look at the configuration but not change it.",
        },
        status=403,
    )


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render ``template`` with what every page needs (user, CSRF token, menu)."""
    principal = principal_of(request)
    base = {
        "principal": principal,
        "can_write": bool(principal and principal.can_write),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav": NAV,
        "path": request.url.path,
        "version": __version__,
        "htmx_version": HTMX_VERSION,
    }
    return templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status
    )
