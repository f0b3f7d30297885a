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
from workflow_integrator.web.notices import clear_notice, take_notice

HTMX_VERSION = "2.0.11"
"""The vendored ``static/htmx.min.js`` (npm htmx.org@2.0.11, dist/htmx.min.js)."""

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def principal_of(request: Request) -> Principal | None:
    """The signed-in user, set by the session middleware."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


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
        "notice": take_notice(request),
    }
    response = templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status
    )
    clear_notice(request, response)
    return response


def not_allowed(request: Request, what: str, back: tuple[str, str]) -> HTMLResponse:
    """The one 403 page of the UI: what the role may not do, and a way back."""
    principal = principal_of(request)
    role = principal.role if principal else "signed-out"
    return render(
        request,
        "message.html",
        {
            "title": "Not allowed",
            "message": f"Your role is {role}: {what} An admin can do it for you.",
            "back": back,
        },
        status=403,
    )


def can_write(request: Request) -> bool:
    """Whether the signed-in user may change the configuration (admins)."""
    principal = principal_of(request)
    return bool(principal and principal.can_write)
