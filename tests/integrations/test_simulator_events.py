"""Matching on real events: the simulator fires the real wi-trigger into WI's intake, and
the stored trigger documents plus the tickets read back drive the matcher."""

from __future__ import annotations

from typing import Any

from tests.servers.live_wi import LiveWI
from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.matching import WorkflowEvent, match
from workflow_integrator.securechange.trigger_info import parse_ticket_info

WORKFLOW = "Firewall Change Request"


def test_simulated_ticket_lifecycle_fires_the_expected_points(
    live_wi: LiveWI, sc_simulator: Any
) -> None:
    integration = Integration.model_validate(
        {
            "workflow": WORKFLOW,
            "default_server": "itsm",
            "points": [
                {"name": "created", "on": {"trigger": "CREATE"}},
                {
                    "name": "approval entered",
                    "on": {"step": "Business Approval", "when": "inbound"},
                },
                {"name": "open left", "on": {"step": "Open request", "when": "outbound"}},
                {"name": "approval left", "on": {"step": "Business Approval", "when": "outbound"}},
                {"name": "advance anywhere", "on": {"trigger": "ADVANCE"}},
                {
                    "name": "advance from approval",
                    "on": {"step": "Business Approval", "trigger": "ADVANCE"},
                },
                {
                    "name": "rejected in implementation",
                    "on": {"step": "Implementation", "when": "outbound"},
                },
            ],
        }
    )
    sc_simulator.trigger_wi(live_wi.url, live_wi.admin_token)
    ticket = sc_simulator.create_ticket("Open port 443")
    sc_simulator.wait_for_triggers()
    sc_simulator.move(ticket.id, "advance")  # Open request → Business Approval
    sc_simulator.wait_for_triggers()
    sc_simulator.move(ticket.id, "advance")  # Business Approval → Implementation
    sc_simulator.wait_for_triggers()
    sc_simulator.move(ticket.id, "reject")  # rejected while in Implementation
    sc_simulator.wait_for_triggers()

    with live_wi.client() as client:
        summaries = client.get("/api/v1/events", params={"ticket_id": ticket.id}).json()
        details = [client.get(f"/api/v1/events/{s['id']}").json() for s in summaries]
    details.sort(key=lambda d: d["id"])
    assert [d["event"] for d in details] == ["CREATE", "ADVANCE", "ADVANCE", "REJECT"]

    final = sc_simulator.ticket(ticket.id)
    fired = []
    for detail in details:
        info = parse_ticket_info(detail["document"])
        assert info is not None
        event = WorkflowEvent.from_ticket_info(detail["event"], info)
        fired.append([p.name for p in match(integration, event, final)])
    assert fired == [
        ["created"],
        ["approval entered", "open left", "advance anywhere"],
        ["approval left", "advance from approval"],
        ["rejected in implementation"],
    ]
