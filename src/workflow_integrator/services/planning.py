"""Planning: what each firing point of an integration would send for one event on a ticket.

Pure apart from the server lookup it is handed, and it imports only ``domain`` and
``templating``: the preview uses it today, and a delivery planner can call it as is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workflow_integrator.domain.conditions import ConditionTimeout
from workflow_integrator.domain.integration import Integration, IntegrationPoint
from workflow_integrator.domain.matching import WorkflowEvent, match, route
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.templating.placeholders import PlaceholderValues
from workflow_integrator.templating.request import RenderedRequest, render_request
from workflow_integrator.templating.template import RenderError, TemplateError

ServerLookup = Callable[[str], tuple[int, OutboundServer]]
"""A server's id and configuration by name; raises ``LookupError`` for an unknown name."""


@dataclass(frozen=True)
class PlannedRequest:
    """One point's request for one event: where it goes and what it sends, or why not."""

    point: IntegrationPoint
    server: str | None
    server_id: int | None
    request: RenderedRequest | None
    error: str | None
    server_config: OutboundServer | None = None


def plan(
    integration: Integration,
    event: WorkflowEvent,
    ticket: Ticket,
    values: PlaceholderValues,
    servers: ServerLookup,
    points: list[IntegrationPoint] | None = None,
) -> list[PlannedRequest]:
    """The requests the event sends: for each firing point (or each of ``points``) its
    server and request.

    A point whose request cannot be built (unknown server, failing custom function,
    runaway condition) gets ``error`` set; the other points are not affected.
    """
    chosen = points if points is not None else match(integration, event, ticket)
    planned: list[PlannedRequest] = []
    loaded: dict[str, tuple[int, OutboundServer]] = {}
    for point in chosen:
        server_name: str | None = None
        try:
            server_name = route(integration, point, values)
            if server_name not in loaded:
                loaded[server_name] = servers(server_name)
            server_id, server = loaded[server_name]
            request = render_request(point, server, values)
        except (RenderError, TemplateError, ConditionTimeout) as exc:
            planned.append(PlannedRequest(point, server_name, None, None, str(exc)))
            continue
        except LookupError as exc:
            planned.append(PlannedRequest(point, server_name, None, None, _message(exc)))
            continue
        planned.append(PlannedRequest(point, server_name, server_id, request, None, server))
    return planned


def _message(exc: LookupError) -> str:
    # KeyError's str() wraps its message in quotes; other lookups say it plainly.
    return str(exc.args[0]) if exc.args else str(exc)
