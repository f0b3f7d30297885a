"""Which points fire: one test row per row of the spec's table, for every event type."""

from __future__ import annotations

import pytest

from tests.integrations.factories import make_integration, make_ticket, point
from workflow_integrator.domain.integration import EVENT_NAMES
from workflow_integrator.domain.matching import WorkflowEvent, match, route

ENTERING = {"CREATE", "ADVANCE", "REDO", "REOPEN", "RESUBMIT"}
LEAVING = {"CLOSE", "REJECT", "CANCEL", "RESOLVE"}


def fired(integration, event, ticket) -> list[str]:
    return [p.name for p in match(integration, event, ticket)]


@pytest.mark.parametrize("trigger", EVENT_NAMES)
@pytest.mark.parametrize("event", EVENT_NAMES)
def test_general_trigger_fires_exactly_on_its_event(trigger: str, event: str) -> None:
    integration = make_integration(point("p", {"trigger": trigger}))
    facts = WorkflowEvent(event, completed_step="Open Request" if event == "ADVANCE" else None)
    assert fired(integration, facts, make_ticket()) == (["p"] if trigger == event else [])


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_step_inbound_fires_when_the_ticket_enters_the_step(event: str) -> None:
    integration = make_integration(
        point("enter approval", {"step": "Business Approval", "when": "inbound"})
    )
    completed = "Open Request" if event == "ADVANCE" else None
    landed_here = make_ticket(current="Business Approval")
    elsewhere = make_ticket(current="Technical Design")
    expected = ["enter approval"] if event in ENTERING else []
    assert fired(integration, WorkflowEvent(event, completed), landed_here) == expected
    assert fired(integration, WorkflowEvent(event, completed), elsewhere) == []


def test_step_inbound_on_create_uses_the_first_step() -> None:
    integration = make_integration(point("opened", {"step": "Open Request", "when": "inbound"}))
    assert fired(integration, WorkflowEvent("CREATE"), make_ticket(current="Open Request")) == [
        "opened"
    ]


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_step_outbound_fires_when_the_ticket_leaves_the_step(event: str) -> None:
    integration = make_integration(
        point("approval done", {"step": "Business Approval", "when": "outbound"})
    )
    if event == "ADVANCE":
        # ADVANCE leaves the completed step, whatever the current step is now.
        done = WorkflowEvent("ADVANCE", completed_step="Business Approval")
        other = WorkflowEvent("ADVANCE", completed_step="Open Request")
        assert fired(integration, done, make_ticket(current="Technical Design")) == [
            "approval done"
        ]
        assert fired(integration, other, make_ticket(current="Business Approval")) == []
        return
    in_step = make_ticket(current="Business Approval")
    expected = ["approval done"] if event in LEAVING else []
    assert fired(integration, WorkflowEvent(event), in_step) == expected
    assert fired(integration, WorkflowEvent(event), make_ticket(current="Open Request")) == []


@pytest.mark.parametrize("trigger", EVENT_NAMES)
@pytest.mark.parametrize("event", EVENT_NAMES)
def test_step_trigger_fires_on_its_event_in_its_step(trigger: str, event: str) -> None:
    integration = make_integration(point("p", {"step": "Business Approval", "trigger": trigger}))
    if event == "ADVANCE":
        # The step an ADVANCE happens in is the completed one.
        here = WorkflowEvent(event, completed_step="Business Approval")
        there = WorkflowEvent(event, completed_step="Open Request")
        ticket = make_ticket(current="Technical Design")
    else:
        here = there = WorkflowEvent(event)
        ticket = make_ticket(current="Business Approval")
    expected = ["p"] if trigger == event else []
    assert fired(integration, here, ticket) == expected
    other_ticket = make_ticket(current="Open Request") if event != "ADVANCE" else ticket
    assert fired(integration, there, other_ticket) == []


@pytest.mark.parametrize("event", EVENT_NAMES)
def test_a_step_trigger_point_suppresses_the_general_trigger_point(event: str) -> None:
    integration = make_integration(
        point("general", {"trigger": event}),
        point("in approval", {"step": "Business Approval", "trigger": event}),
    )
    completed = "Business Approval" if event == "ADVANCE" else None
    ticket = make_ticket(current="Technical Design" if event == "ADVANCE" else "Business Approval")
    assert fired(integration, WorkflowEvent(event, completed), ticket) == ["in approval"]
    # In another step only the general point fires.
    elsewhere = WorkflowEvent(event, "Open Request" if event == "ADVANCE" else None)
    other = make_ticket(current="Open Request")
    assert fired(integration, elsewhere, other) == ["general"]


def test_inbound_and_outbound_points_do_not_suppress_general_ones_and_order_is_kept() -> None:
    integration = make_integration(
        point("leave open", {"step": "Open Request", "when": "outbound"}),
        point("general advance", {"trigger": "ADVANCE"}),
        point("enter approval", {"step": "business  approval", "when": "inbound"}),
    )
    event = WorkflowEvent("ADVANCE", completed_step="Open Request")
    assert fired(integration, event, make_ticket(current="Business Approval")) == [
        "leave open",
        "general advance",
        "enter approval",
    ]


def test_closing_a_ticket_without_current_step_leaves_its_last_step() -> None:
    integration = make_integration(
        point("closed from design", {"step": "Technical Design", "when": "outbound"})
    )
    ticket = make_ticket(current=None, status="Ticket Closed")
    assert fired(integration, WorkflowEvent("CLOSE"), ticket) == ["closed from design"]


def test_the_trigger_reported_current_step_wins_over_the_ticket() -> None:
    integration = make_integration(point("r", {"step": "Open Request", "when": "outbound"}))
    event = WorkflowEvent("REJECT", current_step="Open Request")
    assert fired(integration, event, make_ticket(current=None)) == ["r"]


def test_nothing_fires_for_disabled_points_integrations_or_other_workflows() -> None:
    enabled = point("on", {"trigger": "CREATE"})
    disabled = point("off", {"trigger": "CREATE"}, enabled=False)
    integration = make_integration(enabled, disabled)
    create = WorkflowEvent("CREATE")
    assert fired(integration, create, make_ticket()) == ["on"]
    assert fired(integration, create, make_ticket(workflow="Other Workflow")) == []
    off = make_integration(enabled, enabled=False)
    assert fired(off, create, make_ticket()) == []


def test_workflow_event_from_ticket_info() -> None:
    from workflow_integrator.domain.events import TicketInfo
    from workflow_integrator.domain.ticket import StepRef

    info = TicketInfo(
        id=1,
        current_stage=StepRef(2, "Technical Design"),
        completion_stage=StepRef(1, "Business Approval"),
    )
    event = WorkflowEvent.from_ticket_info("ADVANCE", info)
    assert event == WorkflowEvent("ADVANCE", "Business Approval", "Technical Design")


# -- routing -------------------------------------------------------------------------


def test_route_point_server_then_first_matching_route_then_default() -> None:
    integration = make_integration(
        point("fixed", {"trigger": "CREATE"}, server="fixed-server"),
        point("routed", {"trigger": "CREATE"}),
        routes=[
            {"when": {"field": "Region", "op": "equals", "value": "EMEA"}, "server": "emea"},
            {"when": {"field": "Region", "op": "in", "value": ["EMEA", "APAC"]}, "server": "asia"},
        ],
    )
    fixed, routed = integration.points
    assert route(integration, fixed, {"Region": "EMEA"}) == "fixed-server"
    assert route(integration, routed, {"Region": "EMEA"}) == "emea"
    assert route(integration, routed, {"Region": "APAC"}) == "asia"
    assert route(integration, routed, {"Region": "AMER"}) == "default"
    assert route(integration, routed, {}) == "default"


def test_response_mapping_extracts_values_and_names_what_it_missed() -> None:
    from workflow_integrator.domain.integration import ResponseMapping

    mapping = ResponseMapping(
        fields={
            "ITSM reference": "result.number",
            "State": "result.state.display_value",
            "First tag": "result.tags[0]",
        }
    )
    found, missing = mapping.extract({"result": {"number": "INC0012", "tags": ["fw"]}})
    assert found == {"ITSM reference": "INC0012", "First tag": "fw"}
    assert missing == ["State"]
