"""Integration preview: what an event would send for a ticket, without sending anything.

The ticket is pasted or read from SecureChange (asynchronously); the database work and
the rendering run in a worker thread, so a slow SecureChange never holds the event loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel

from workflow_integrator.domain.conditions import ConditionTimeout
from workflow_integrator.domain.events import TriggerEvent
from workflow_integrator.domain.integration import (
    EVENT_NAMES,
    Integration,
    IntegrationPoint,
    fold,
)
from workflow_integrator.domain.matching import WorkflowEvent, condition_holds, match
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.domain.redaction import redact_headers
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.documents import DocumentError
from workflow_integrator.securechange.ticket_format import parse_ticket_document
from workflow_integrator.securechange.tickets import TicketReader
from workflow_integrator.services.errors import InvalidInput, NotFound
from workflow_integrator.services.integrations import IntegrationService
from workflow_integrator.services.outbound_servers import OutboundServerService
from workflow_integrator.services.placeholders import PlaceholderService
from workflow_integrator.services.planning import PlannedRequest, plan
from workflow_integrator.templating.request import auth_header_preview


class PreviewPoint(BaseModel):
    """What one point would send."""

    name: str
    on: str
    fires: bool
    server: str | None
    method: str | None
    url: str | None
    headers: list[tuple[str, str]]
    body: str | None
    error: str | None


class PreviewResult(BaseModel):
    """A dry run: the points that fire for the event on the ticket and their requests."""

    workflow: str
    event: str
    ticket_id: int
    current_step: str | None
    completed_step: str | None
    points: list[PreviewPoint]
    notes: list[str]
    undeclared_fields: list[str]


class PreviewService:
    """Renders an integration's requests for an event on a ticket (API, UI and CLI)."""

    def __init__(
        self,
        integrations: IntegrationService,
        servers: OutboundServerService,
        placeholders: PlaceholderService,
        tickets: TicketReader | None,
    ) -> None:
        self._integrations = integrations
        self._servers = servers
        self._placeholders = placeholders
        self.tickets = tickets

    async def preview(
        self,
        workflow: str,
        *,
        event: str,
        ticket: Any = None,
        ticket_id: int | None = None,
        completed_step: str | None = None,
        current_step: str | None = None,
        point: str | None = None,
        create_date: str | None = None,
        update_date: str | None = None,
        integration: dict[str, Any] | None = None,
    ) -> PreviewResult:
        """Render what the event would send for a ticket, without sending anything.

        ``integration``: an unsaved document to preview instead of the saved one (the
        editor's current state); it is checked like a save. ``workflow`` may then be
        a workflow without an integration yet.
        """
        if integration is not None:
            draft = {"workflow": workflow, **integration}
            subject = await asyncio.to_thread(self._integrations.validate, draft)
        else:
            subject = await asyncio.to_thread(self._integrations.get_integration, workflow)
        name = (event or "").strip().upper()
        if name not in EVENT_NAMES:
            raise InvalidInput.single(["event"], f"event must be one of {', '.join(EVENT_NAMES)}")
        the_ticket = await self._ticket(ticket, ticket_id)
        return await asyncio.to_thread(
            self._render,
            subject,
            name,
            the_ticket,
            completed_step=completed_step,
            current_step=current_step,
            point=point,
            create_date=create_date,
            update_date=update_date,
        )

    async def _ticket(self, ticket: Any, ticket_id: int | None) -> Ticket:
        if ticket is not None and ticket != "":
            return read_ticket(ticket)
        if ticket_id is None:
            raise InvalidInput.single(
                ["ticket"], "give a ticket: paste its document (XML or JSON) or give ticket_id"
            )
        if self.tickets is None:
            raise InvalidInput.single(
                ["ticket_id"],
                "reading tickets from SecureChange is not set up here; paste the ticket "
                "document (GET /tickets/{id} as XML or JSON) instead",
            )
        try:
            return await self.tickets.ticket(ticket_id)
        # Whatever the connection raises (down, 404, bad credentials) is the user's to fix.
        except Exception as exc:
            raise InvalidInput.single(
                ["ticket_id"], f"cannot read ticket {ticket_id} from SecureChange: {exc}"
            ) from None

    def _render(
        self,
        integration: Integration,
        name: str,
        the_ticket: Ticket,
        *,
        completed_step: str | None,
        current_step: str | None,
        point: str | None,
        create_date: str | None,
        update_date: str | None,
    ) -> PreviewResult:
        facts = WorkflowEvent(name, completed_step or None, current_step or None)
        notes: list[str] = []
        if name == TriggerEvent.ADVANCE and not completed_step:
            notes.append("ADVANCE without completed_step: outbound points cannot match")
        if not integration.enabled:
            notes.append("the integration is disabled: nothing would be sent")
        other_workflow = bool(the_ticket.workflow.name) and fold(the_ticket.workflow.name) != fold(
            integration.workflow
        )
        if other_workflow:
            notes.append(
                f"the ticket belongs to workflow '{the_ticket.workflow.name}', not "
                f"'{integration.workflow}': nothing would be sent"
            )
        active = integration.model_copy(update={"enabled": True})
        values = self._placeholders.values(
            the_ticket,
            facts,
            create_date=create_date,
            update_date=update_date,
            integration=integration,
        )
        unevaluable: dict[str, str] = {}

        def holds(candidate: IntegrationPoint) -> bool:
            try:
                return condition_holds(candidate, values)
            except ConditionTimeout as exc:
                unevaluable[candidate.name] = str(exc)
                return False

        firing = [] if other_workflow else match(active, facts, the_ticket, holds)
        notes += [f"point '{n}': its condition cannot be evaluated: {why}"
                  for n, why in unevaluable.items()]
        if point is not None:
            chosen = integration.point(point)
            if chosen is None:
                raise InvalidInput.single(
                    ["point"], f"no point named '{point}' in this integration"
                )
            targets = [chosen]
        else:
            targets = firing
            if not firing:
                notes.append(f"no point fires for {name} on this ticket")
        fired_names = {p.name for p in firing}
        previews = [
            _preview_point(planned, planned.point.name in fired_names)
            for planned in plan(integration, facts, the_ticket, values, self._server, targets)
        ]
        declared = {fold(n) for n in integration.fields}
        return PreviewResult(
            workflow=integration.workflow,
            event=name,
            ticket_id=the_ticket.id,
            current_step=values.lookup("step_name") or None,
            completed_step=facts.completed_step,
            points=previews,
            notes=notes,
            undeclared_fields=[n for n in values.field_names() if fold(n) not in declared],
        )

    def _server(self, name: str) -> tuple[int, OutboundServer]:
        try:
            server_id = self._servers.id_of(name)
            _, config = self._servers.get_config_by_id(server_id)
        except NotFound as exc:
            raise LookupError(exc.message) from None
        return server_id, config


def _preview_point(planned: PlannedRequest, fires: bool) -> PreviewPoint:
    request = planned.request
    base = PreviewPoint(
        name=planned.point.name,
        on=planned.point.on.describe(),
        fires=fires,
        server=planned.server,
        method=None,
        url=None,
        headers=[],
        body=None,
        error=planned.error,
    )
    server = planned.server_config
    if request is None or server is None:
        return base
    headers = redact_headers(request.headers, extra_secret_names=server.secret_headers)
    auth = auth_header_preview(server)
    if auth is not None:
        headers.insert(0, auth)
    body = request.body
    if body is not None:
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return base.model_copy(
        update={
            "method": request.method,
            "url": request.url(server),
            "headers": headers,
            "body": body,
        }
    )


def read_ticket(document_or_data: Any) -> Ticket:
    """A ticket from a pasted document: SecureChange XML or JSON, or WI's own JSON shape."""
    try:
        if isinstance(document_or_data, str):
            text = document_or_data.strip()
            if text.startswith("<"):
                return parse_ticket_document(text)
            return parse_ticket_document(text, json_body=True)
        if isinstance(document_or_data, dict):
            data = document_or_data
            if "ticket" in data and len(data) == 1:
                return parse_ticket_document(json.dumps(data), json_body=True)
            if (
                "steps" in data
                and isinstance(data.get("steps"), list)
                and data["steps"]
                and ("tasks" in data["steps"][0] and isinstance(data["steps"][0]["tasks"], list))
            ):
                return Ticket.from_dict(data)
            return parse_ticket_document(json.dumps({"ticket": data}), json_body=True)
    except DocumentError as exc:
        raise InvalidInput.single(["ticket"], f"cannot read the ticket: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput.single(["ticket"], f"cannot read the ticket: {exc}") from None
    raise InvalidInput.single(["ticket"], "the ticket must be an XML or JSON document")
