"""Dependencies shared by the API routers: services and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from workflow_integrator.app import Services
from workflow_integrator.services.principals import Principal


def get_services(request: Request) -> Services:
    """The process's services (set up by ``create_app``)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_principal(request: Request, services: ServicesDep) -> Principal:
    """The caller, from ``Authorization: Bearer <API token>`` (or a UI session)."""
    existing = getattr(request.state, "principal", None)
    if isinstance(existing, Principal):
        return existing
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    principal = (
        services.tokens.authenticate(token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid API token is required: send 'Authorization: Bearer <token>' "
            "(create one with `wi tokens create --name NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


def require_viewer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Admins and viewers may read."""
    if not principal.can_read:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"'{principal.name}' has the {principal.role} role, which only delivers "
            "workflow events",
        )
    return principal


def require_event_source(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    """Admins and trigger tokens may deliver workflow events."""
    if not principal.can_send_events:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"'{principal.name}' has the {principal.role} role and cannot deliver "
            "events; create a token with `wi tokens create --name NAME --role trigger`",
        )
    return principal


def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """Only admins may change things."""
    if not principal.can_write:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"'{principal.name}' has the viewer role and cannot change configuration",
        )
    return principal


ViewerDep = Annotated[Principal, Depends(require_viewer)]
AdminDep = Annotated[Principal, Depends(require_admin)]
EventSourceDep = Annotated[Principal, Depends(require_event_source)]
