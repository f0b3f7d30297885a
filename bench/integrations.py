"""Benchmark cases of integrations: matching, rendering a request, saving, previewing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.cases import BenchContext, Case, Operation
from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.matching import WorkflowEvent, match
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.securechange.ticket_format import parse_ticket_document
from workflow_integrator.templating.placeholders import PlaceholderValues
from workflow_integrator.templating.plugins import load_custom_functions
from workflow_integrator.templating.request import render_request

_TICKET = (
    Path(__file__).resolve().parents[1] / "tests" / "integrations" / "data" / "ticket.xml"
).read_text()
_SERVER = {"name": "itsm", "host": "itsm.example.com/base",
           "auth": {"method": "basic", "username": "wi", "password": "pw"}}


def _document(points: int = 20) -> dict[str, Any]:
    events = ["CREATE", "ADVANCE", "REJECT", "CLOSE"]
    return {
        "workflow": "Access Request Add Targets",
        "default_server": "itsm",
        "fields": {"Required Access": "multi_access_request", "text field": "text_field"},
        "points": [
            {
                "name": f"point {i}",
                "on": {"trigger": events[i % 4]} if i % 2 else
                {"step": "Technical Design", "when": "inbound"},
                "request": {
                    "path": "/api/tickets/{{ticket_id}}/{{step_name}}",
                    "headers": {"X-Ticket": "{{ticket_id}}"},
                    "body": '{"subject": "{{ticket_subject}}", "access": "{{Required Access}}",'
                    ' "note": "Ticket {{ticket_id}} by {{ticket_requester}}: {{text field}}"}',
                },
            }
            for i in range(points)
        ],
    }


def _match_and_render(_: BenchContext, scale: float) -> Operation:
    integration = Integration.model_validate(_document())
    ticket = parse_ticket_document(_TICKET)
    server = OutboundServer.model_validate(_SERVER)
    event = WorkflowEvent("CREATE")

    def plan() -> None:
        values = PlaceholderValues(ticket, event)
        for point in match(integration, event, ticket):
            render_request(point, server, values)

    return plan, int(500 * scale)


def _custom_function(context: BenchContext, scale: float) -> Operation:
    context.folder.mkdir(parents=True, exist_ok=True)
    (context.folder / "custom_functions.py").write_text(
        "def owner(ticket, **kwargs):\n    return f'owner of {ticket.id}'\n"
    )
    custom = load_custom_functions(context.folder).functions
    ticket = parse_ticket_document(_TICKET)
    event = WorkflowEvent("CREATE")

    def call() -> None:
        PlaceholderValues(ticket, event, custom=custom).lookup("owner")

    return call, int(500 * scale)


def _api_save(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    client = live.client()
    client.post("/api/v1/outbound-servers", json=_SERVER).raise_for_status()
    client.post("/api/v1/integrations", json=_document()).raise_for_status()
    body = _document()

    def save() -> None:
        client.put("/api/v1/integrations/Access Request Add Targets", json=body).raise_for_status()

    return save, int(200 * scale)


def _api_preview(context: BenchContext, scale: float) -> Operation:
    live = context.live()
    client = live.client()
    client.post("/api/v1/outbound-servers", json=_SERVER).raise_for_status()
    client.post("/api/v1/integrations", json=_document()).raise_for_status()

    def preview() -> None:
        client.post(
            "/api/v1/integrations/Access Request Add Targets/preview",
            json={"event": "CREATE", "ticket": _TICKET},
        ).raise_for_status()

    return preview, int(200 * scale)


CASES = [
    Case("match+render 20-point integration", _match_and_render),
    Case("custom function call", _custom_function),
    Case("API save 20-point integration", _api_save, uses_database=True),
    Case("API preview 20-point integration", _api_preview, uses_database=True),
]
