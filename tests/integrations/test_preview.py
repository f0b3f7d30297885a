"""Preview (dry run): what an event would send for a pasted ticket, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.test_api import add_servers
from tests.servers.live_wi import LiveWI
from workflow_integrator.templating import plugins

TICKET_XML = (Path(__file__).parent / "data" / "ticket.xml").read_text()
WORKFLOW = "Access Request Add Targets"


def integration(example: dict[str, Any]) -> dict[str, Any]:
    example["workflow"] = WORKFLOW
    example["fields"]["text field"] = "text_field"
    example["points"].append(
        {
            "name": "design started",
            "on": {"step": "Technical Design", "when": "inbound"},
            "request": {
                "method": "PUT",
                "path": "/tickets/{{ticket_id}}/notes/{{step_name}}",
                "headers": {"X-Ticket": "{{ticket_id}}", "X-Api-Key": "k-123"},
                "body": '{"subject": "{{ticket_subject}}", "handler": "{{assignee}}", '
                '"note": "{{text field}}"}',
            },
        }
    )
    return example


def preview(live: LiveWI, body: dict[str, Any], workflow: str = WORKFLOW) -> Any:
    with live.client() as client:
        return client.post(f"/api/v1/integrations/{workflow}/preview", json=body)


def test_preview_of_a_pasted_ticket_on_create(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=integration(example)).status_code == 201
    response = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ticket_id"] == 445
    assert result["current_step"] == "Technical Design"
    assert [p["name"] for p in result["points"]] == ["open incident", "design started"]
    incident, design = result["points"]
    assert incident["fires"] is True
    assert incident["server"] == "servicenow-prod"
    assert incident["method"] == "POST"
    assert incident["url"] == "https://itsm.example.com/base/api/now/table/incident"
    assert ["Authorization", "Basic ********"] in incident["headers"]
    assert json.loads(incident["body"]) == {
        "short_description": "Ticket 445",
        "correlation_id": 445,
    }
    assert design["url"] == ("https://itsm.example.com/base/tickets/445/notes/Technical%20Design")
    headers = dict(map(tuple, design["headers"]))
    assert headers["X-Ticket"] == "445"
    assert headers["X-Api-Key"] == "********"
    assert json.loads(design["body"]) == {
        "subject": "Ticket 445",
        "handler": "tzachi",
        "note": "",
    }
    # No secret leaves WI in a preview.
    assert "s3cret-pw" not in response.text and "k-123" not in response.text
    # The ticket's fields that the integration does not declare are listed to add.
    assert "Required Access" in result["undeclared_fields"]


def test_preview_follows_routes_and_the_advance_facts(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    doc = integration(example)
    doc["fields"]["Region"] = "text_field"
    doc["routes"] = [
        {"when": {"field": "Region", "op": "equals", "value": "EMEA"}, "server": "jira-emea"}
    ]
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=doc).status_code == 201
    result = preview(
        live_wi,
        {"event": "ADVANCE", "ticket": TICKET_XML, "completed_step": "Business Approval"},
    ).json()
    assert [p["name"] for p in result["points"]] == ["approval done", "design started"]
    approval = result["points"][0]
    # "Region" is declared but not on this ticket (null), so the route does not hold.
    assert approval["server"] == "servicenow-prod"
    assert approval["method"] == "PATCH"
    # A declared field the ticket lacks is null: the path ends in an empty segment.
    assert approval["url"].endswith("/api/now/table/incident/")

    # One named point, even when it does not fire; a route that holds picks its server.
    doc["routes"][0]["when"] = {"field": "text field", "op": "equals", "value": ""}
    with live_wi.client() as client:
        assert client.put(f"/api/v1/integrations/{WORKFLOW}", json=doc).status_code == 200
    single = preview(
        live_wi, {"event": "CLOSE", "ticket": TICKET_XML, "point": "open incident"}
    ).json()
    assert single["points"][0]["fires"] is False
    assert single["points"][0]["server"] == "jira-emea"
    assert ["Authorization", "Bearer ********"] in single["points"][0]["headers"]


def test_preview_reports_a_failing_custom_function_on_its_point(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    plugins = live_wi.settings.resolved_plugin_dir
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "custom_functions.py").write_text(
        "def owner(ticket, **kwargs):\n    raise LookupError('CMDB is down')\n"
    )
    doc = integration(example)
    doc["points"][0]["request"]["body"] = '{"owner": "{{owner}}"}'
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=doc).status_code == 201
    result = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML}).json()
    failing, other = result["points"]
    assert "custom placeholder 'owner' failed: LookupError: CMDB is down" in failing["error"]
    assert failing["body"] is None
    assert other["error"] is None and other["body"]


def test_preview_names_a_custom_function_that_runs_away(
    live_wi: LiveWI, example: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "CALL_TIMEOUT_SECONDS", 0.2)
    add_servers(live_wi)
    plugins_dir = live_wi.settings.resolved_plugin_dir
    plugins_dir.mkdir(parents=True, exist_ok=True)
    (plugins_dir / "custom_functions.py").write_text(
        "def owner(ticket, **kwargs):\n    while True:\n        pass\n"
    )
    doc = integration(example)
    doc["points"][0]["request"]["body"] = '{"owner": "{{owner}}"}'
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=doc).status_code == 201
    result = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML}).json()
    failing, other = result["points"]
    assert "custom placeholder 'owner' did not return within 0.2s" in failing["error"]
    assert other["error"] is None and other["body"]


def test_preview_input_errors_are_clear(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=integration(example)).status_code == 201

    def error(body: dict[str, Any]) -> str:
        response = preview(live_wi, body)
        assert response.status_code == 422, response.text
        return str(response.json()["detail"])

    assert "must be one of" in error({"event": "EXPLODE", "ticket": TICKET_XML})
    assert "malformed XML" in error({"event": "CREATE", "ticket": "<ticket><id>1</id>"})
    assert "paste the ticket document" in error({"event": "CREATE", "ticket_id": 445})
    assert "give a ticket" in error({"event": "CREATE"})
    assert "no point named" in error({"event": "CREATE", "ticket": TICKET_XML, "point": "nope"})
    assert preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML}, "Nope").status_code == 404


def test_preview_reads_json_tickets_and_notes_other_workflows(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=example).status_code == 201
    from workflow_integrator.securechange.ticket_format import parse_ticket_document

    as_json = parse_ticket_document(TICKET_XML).to_dict()
    result = preview(live_wi, {"event": "CREATE", "ticket": as_json}, "Access Request").json()
    assert result["points"] == []
    assert any("belongs to workflow 'Access Request Add Targets'" in n for n in result["notes"])


def test_preview_of_an_unsaved_document(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    doc = integration(example)
    doc.pop("workflow")
    doc["points"] = doc["points"][:1]
    doc["points"][0]["request"]["body"] = '{"who": "{{ticket_requester | upper}}"}'
    result = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML, "integration": doc})
    assert result.status_code == 200, result.text
    assert json.loads(result.json()["points"][0]["body"]) == {"who": "TZACHI"}
    # Nothing was saved, and an invalid draft gets the save's errors.
    with live_wi.client() as client:
        assert client.get("/api/v1/integrations").json() == []
    doc["default_server"] = "nowhere"
    bad = preview(live_wi, {"event": "CREATE", "ticket": TICKET_XML, "integration": doc})
    assert bad.status_code == 422
    assert "no outbound server named 'nowhere'" in bad.text


def test_the_placeholder_catalog_without_an_integration(live_wi: LiveWI) -> None:
    with live_wi.client(live_wi.viewer_token) as client:
        catalog = client.get("/api/v1/placeholders").json()
    names = [p["name"] for p in catalog["placeholders"]]
    assert "ticket_subject" in names and "reject_reason" in names


def test_preview_by_ticket_id_from_the_securechange_simulator(
    live_wi: LiveWI, sc_simulator: Any, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        before = preview_by_id(client, 1)
        assert before.status_code == 404  # no integration yet
        example["workflow"] = "Firewall Change Request"
        assert client.post("/api/v1/integrations", json=example).status_code == 201
        not_set = preview_by_id(client, 1, "Firewall Change Request")
        assert not_set.status_code == 422
        assert "connection is not set up" in not_set.text
        settings = client.put("/api/v1/securechange", json=sc_simulator.connection_settings())
        assert settings.status_code == 200, settings.text
        ticket = sc_simulator.create_ticket('Open port 443 to the "DMZ"')
        result = preview_by_id(client, ticket.id, "Firewall Change Request")
        assert result.status_code == 200, result.text
        body = result.json()
        assert body["ticket_id"] == ticket.id
        [point] = body["points"]
        assert json.loads(point["body"]) == {
            "short_description": 'Open port 443 to the "DMZ"',
            "correlation_id": ticket.id,
        }
        missing = preview_by_id(client, 99999, "Firewall Change Request")
        assert missing.status_code == 422
        assert "cannot read ticket 99999 from SecureChange" in missing.text


def preview_by_id(client: Any, ticket_id: int, workflow: str = WORKFLOW) -> Any:
    return client.post(
        f"/api/v1/integrations/{workflow}/preview", json={"event": "CREATE", "ticket_id": ticket_id}
    )


def test_the_ticket_reader_keeps_its_client_and_follows_changed_settings(
    live_wi: LiveWI, sc_simulator: Any, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    example["workflow"] = "Firewall Change Request"
    ticket = sc_simulator.create_ticket("Open port 22")
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=example).status_code == 201
        settings = sc_simulator.connection_settings()
        assert client.put("/api/v1/securechange", json=settings).status_code == 200
        assert preview_by_id(client, ticket.id, "Firewall Change Request").status_code == 200
        first = live_wi.services.tickets._current
        assert preview_by_id(client, ticket.id, "Firewall Change Request").status_code == 200
        # Same settings: the same long-lived client (and its connection pool).
        assert live_wi.services.tickets._current is first
        wrong = {**settings, "password": "not-the-password"}
        assert client.put("/api/v1/securechange", json=wrong).status_code == 200
        refused = preview_by_id(client, ticket.id, "Firewall Change Request")
        assert refused.status_code == 422
        assert "refused the user name or password (401)" in refused.text
        assert client.put("/api/v1/securechange", json=settings).status_code == 200
        assert preview_by_id(client, ticket.id, "Firewall Change Request").status_code == 200
