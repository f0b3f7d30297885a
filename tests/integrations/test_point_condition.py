"""A point's own condition: checked on save, and the point fires only where it holds."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from tests.integrations.test_api import add_servers, errors_of
from tests.integrations.test_preview import TICKET_XML, integration, preview
from tests.servers.live_wi import LiveWI


def with_condition(example: dict[str, Any], condition: Any) -> dict[str, Any]:
    doc = integration(deepcopy(example))
    doc["points"][0]["condition"] = condition
    return doc


def test_a_condition_is_checked_on_save_like_a_route(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        unknown = client.post("/api/v1/integrations", json=with_condition(
            example, {"field": "Regoin", "op": "equals", "value": "EMEA"}))
        assert "unknown placeholder 'Regoin'" in errors_of(unknown)["points.0.condition"]
        bad_op = client.post("/api/v1/integrations", json=with_condition(
            example, {"field": "ticket_subject", "op": "like", "value": "x"}))
        assert "op must be one of" in errors_of(bad_op)["points.0.condition.op"]
        good = client.post("/api/v1/integrations", json=with_condition(
            example, {"field": "ticket_subject", "op": "contains", "value": "445"}))
        assert good.status_code == 201, good.text
        saved = client.get(f"/api/v1/integrations/{good.json()['workflow']}").json()
        assert saved["points"][0]["condition"]["value"] == "445"
        assert saved["points"][1]["condition"] is None


def test_a_point_fires_only_for_tickets_its_condition_holds_for(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    doc = with_condition(example, {"field": "ticket_subject", "op": "contains", "value": "999"})
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=doc).status_code == 201
    result = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML}).json()
    fires = {p["name"]: p["fires"] for p in result["points"]}
    assert fires == {"design started": True}

    doc["points"][0]["condition"] = {"not": {"field": "ticket_subject", "op": "contains",
                                             "value": "999"}}
    with live_wi.client() as client:
        assert client.put(f"/api/v1/integrations/{doc['workflow']}", json=doc).status_code == 200
    result = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML}).json()
    assert {p["name"]: p["fires"] for p in result["points"]} == {
        "open incident": True, "design started": True}


def test_a_step_trigger_point_whose_condition_fails_does_not_suppress_the_general_one() -> None:
    from workflow_integrator.domain.integration import Integration
    from workflow_integrator.domain.matching import WorkflowEvent, condition_holds, match
    from workflow_integrator.domain.ticket import StepRef, Ticket, Workflow

    doc = Integration.model_validate({
        "workflow": "W", "default_server": "s", "points": [
            {"name": "general", "on": {"trigger": "REDO"}},
            {"name": "in step", "on": {"step": "Review", "trigger": "REDO"},
             "condition": {"field": "ticket_subject", "op": "matches", "value": "^urgent"}},
        ]})
    ticket = Ticket(id=1, subject="routine", workflow=Workflow(1, "W"),
                    current_step=StepRef(1, "Review"))
    event = WorkflowEvent("REDO", current_step="Review")

    def holds(subject: str) -> Any:
        return lambda p: condition_holds(p, {"ticket_subject": subject})

    assert [p.name for p in match(doc, event, ticket, holds("routine"))] == ["general"]
    assert [p.name for p in match(doc, event, ticket, holds("urgent: now"))] == ["in step"]
