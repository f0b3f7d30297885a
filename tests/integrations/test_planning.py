"""Planning: what each firing point would send, as a pure function of its inputs."""

from __future__ import annotations

from tests.integrations.factories import make_integration, make_ticket, point
from workflow_integrator.domain.matching import WorkflowEvent
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.services.planning import plan
from workflow_integrator.templating.placeholders import PlaceholderValues

SERVERS = {
    "default": OutboundServer.model_validate(
        {"name": "default", "host": "itsm.example.com/base", "auth": {"method": "none"}}
    )
}


def lookup(name: str) -> tuple[int, OutboundServer]:
    if name not in SERVERS:
        raise LookupError(f"no outbound server named '{name}'")
    return 7, SERVERS[name]


def test_each_firing_point_gets_its_server_and_request() -> None:
    integration = make_integration(
        point("open", {"trigger": "CREATE"}, request={"path": "/tickets/{{ticket_id}}"}),
        point("closed", {"trigger": "CLOSE"}, request={"path": "/closed"}),
    )
    ticket = make_ticket()
    event = WorkflowEvent("CREATE")
    [planned] = plan(integration, event, ticket, PlaceholderValues(ticket, event), lookup)
    assert planned.point.name == "open"
    assert (planned.server, planned.server_id, planned.error) == ("default", 7, None)
    assert planned.request is not None
    assert planned.request.url(SERVERS["default"]) == (
        f"https://itsm.example.com/base/tickets/{ticket.id}"
    )


def test_a_point_that_cannot_be_built_says_why_and_spares_the_others() -> None:
    integration = make_integration(
        point("elsewhere", {"trigger": "CREATE"}, server="gone", request={"path": "/a"}),
        point("here", {"trigger": "CREATE"}, request={"path": "/b"}),
    )
    ticket = make_ticket()
    event = WorkflowEvent("CREATE")
    broken, fine = plan(integration, event, ticket, PlaceholderValues(ticket, event), lookup)
    assert broken.request is None
    assert broken.error == "no outbound server named 'gone'"
    assert fine.error is None and fine.request is not None
