"""Dependencies shared by the API routers and the web UI: services and the calling principal.

Each service has its typed dependency (``ServersDep`` …), read from the one
:class:`~workflow_integrator.app.Services` that ``create_app`` was given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from workflow_integrator.app import Services
from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.delivery.mailer import FailureMailer
from workflow_integrator.securechange.settings_service import SecureChangeSettingsService
from workflow_integrator.services.api_tokens import ApiTokenService
from workflow_integrator.services.audit import Actor, AuditService, set_actor
from workflow_integrator.services.deliveries import DeliveryService
from workflow_integrator.services.diagnostics import DiagnosticsService
from workflow_integrator.services.integrations import IntegrationService
from workflow_integrator.services.metrics import Metrics
from workflow_integrator.services.outbound_servers import OutboundServerService
from workflow_integrator.services.previews import PreviewService
from workflow_integrator.services.principals import Principal
from workflow_integrator.services.smtp import SmtpSettingsService
from workflow_integrator.services.users import UserService
from workflow_integrator.store.secretbox import SecretBox


async def get_services(request: Request) -> Services:
    """The process's services (set up by ``create_app``); async: no thread hop for a lookup."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_servers(services: ServicesDep) -> OutboundServerService:
    """Outbound servers."""
    return services.servers


async def get_integrations(services: ServicesDep) -> IntegrationService:
    """Workflow integrations."""
    return services.integrations


async def get_previews(services: ServicesDep) -> PreviewService:
    """Integration previews."""
    return services.previews


async def get_diagnostics(services: ServicesDep) -> DiagnosticsService:
    """Fetch Token and Test connection."""
    return services.diagnostics


async def get_securechange(services: ServicesDep) -> SecureChangeSettingsService:
    """The SecureChange connection settings."""
    return services.securechange


async def get_events(services: ServicesDep) -> EventIntake:
    """Workflow event intake and the event list."""
    return services.events


async def get_deliveries(services: ServicesDep) -> DeliveryService:
    """Deliveries: reading, replaying, cancelling."""
    return services.deliveries


async def get_api_tokens(services: ServicesDep) -> ApiTokenService:
    """API tokens."""
    return services.tokens


async def get_users(services: ServicesDep) -> UserService:
    """UI users and their sessions."""
    return services.users


async def get_secretbox(services: ServicesDep) -> SecretBox:
    """Encryption of secrets (the UI carries unsaved secrets encrypted between posts)."""
    return services.secretbox


async def get_smtp(services: ServicesDep) -> SmtpSettingsService:
    """The mail server settings and test e-mails."""
    return services.smtp


async def get_failure_mails(services: ServicesDep) -> FailureMailer:
    """The queue of failure e-mails."""
    return services.failure_mails


async def get_audit(services: ServicesDep) -> AuditService:
    """The audit log."""
    return services.audit


async def get_metrics(services: ServicesDep) -> Metrics:
    """This process's metrics."""
    return services.metrics


ServersDep = Annotated[OutboundServerService, Depends(get_servers)]
IntegrationsDep = Annotated[IntegrationService, Depends(get_integrations)]
PreviewsDep = Annotated[PreviewService, Depends(get_previews)]
DiagnosticsDep = Annotated[DiagnosticsService, Depends(get_diagnostics)]
SecureChangeDep = Annotated[SecureChangeSettingsService, Depends(get_securechange)]
EventsDep = Annotated[EventIntake, Depends(get_events)]
DeliveriesDep = Annotated[DeliveryService, Depends(get_deliveries)]
ApiTokensDep = Annotated[ApiTokenService, Depends(get_api_tokens)]
UsersDep = Annotated[UserService, Depends(get_users)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secretbox)]
SmtpDep = Annotated[SmtpSettingsService, Depends(get_smtp)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AuditDep = Annotated[AuditService, Depends(get_audit)]
FailureMailsDep = Annotated[FailureMailer, Depends(get_failure_mails)]


async def current_principal(request: Request, tokens: ApiTokensDep) -> Principal:
    """The caller, from ``Authorization: Bearer <API token>`` (or a UI session)."""
    existing = getattr(request.state, "principal", None)
    if isinstance(existing, Principal):
        return existing
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    principal = (
        await tokens.authenticate_async(token.strip())
        if scheme.lower() == "bearer" and token.strip() else None
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


async def acting_principal(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """The caller, also named as the actor of any change this request makes (audit log).

    Async on purpose: it runs in the request's own context, which the endpoint inherits.
    """
    client = request.client.host if request.client else None
    set_actor(Actor(principal.name, principal.kind, client))
    return principal


async def require_viewer(principal: Annotated[Principal, Depends(acting_principal)]) -> Principal:
    """Admins and viewers may read."""
    if not principal.can_read:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"'{principal.name}' has the {principal.role} role, which only delivers "
            "workflow events",
        )
    return principal


async def require_event_source(
    principal: Annotated[Principal, Depends(acting_principal)],
) -> Principal:
    """Admins and trigger tokens may deliver workflow events."""
    if not principal.can_send_events:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"'{principal.name}' has the {principal.role} role and cannot deliver "
            "events; create a token with `wi tokens create --name NAME --role trigger`",
        )
    return principal


async def require_admin(principal: Annotated[Principal, Depends(acting_principal)]) -> Principal:
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
