"""The REST API of integrations, against a live WI over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integrations.conftest import SERVERS
from tests.servers.live_wi import LiveWI

DATA = Path(__file__).parent / "data"


def add_servers(live: LiveWI) -> None:
    with live.client() as client:
        for server in SERVERS:
            assert client.post("/api/v1/outbound-servers", json=server).status_code == 201


def errors_of(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {".".join(str(p) for p in e["loc"][1:]): e["msg"] for e in response.json()["detail"]}


def test_create_read_list_change_delete(live_wi_any_db: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi_any_db)
    with live_wi_any_db.client() as client:
        created = client.post("/api/v1/integrations", json=example)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == "/api/v1/integrations/Access Request"
        view = client.get("/api/v1/integrations/Access Request").json()
        assert view["default_server"] == "servicenow-prod"
        assert view["routes"][0]["server"] == "jira-emea"
        assert [p["name"] for p in view["points"]] == ["open incident", "approval done"]
        assert view["points"][0]["response"]["fields"] == {"ITSM reference": "result.number"}
        assert view["notify_on_failure"]["addresses"] == ["noc@example.com"]
        # Workflow names are found however they are typed.
        assert client.get("/api/v1/integrations/access  REQUEST").status_code == 200
        assert [i["workflow"] for i in client.get("/api/v1/integrations").json()] == [
            "Access Request"
        ]
        again = client.post("/api/v1/integrations", json={**example, "workflow": "access request"})
        assert again.status_code == 409
        assert "already has an integration" in again.json()["detail"]

        patched = client.patch("/api/v1/integrations/Access Request", json={"enabled": False})
        assert patched.status_code == 200 and patched.json()["enabled"] is False
        assert any("disabled" in w for w in patched.json()["warnings"])
        replaced = client.put(
            "/api/v1/integrations/Access Request",
            json={**example, "default_server": "jira-emea", "routes": []},
        )
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["default_server"] == "jira-emea"
        assert replaced.json()["revision"] == view["revision"] + 2

        assert client.delete("/api/v1/integrations/Access Request").status_code == 204
        assert client.get("/api/v1/integrations/Access Request").status_code == 404


def test_server_references_survive_renames_and_block_deletes(
    live_wi_any_db: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi_any_db)
    with live_wi_any_db.client() as client:
        assert client.post("/api/v1/integrations", json=example).status_code == 201
        renamed = client.post("/api/v1/outbound-servers/jira-emea/rename", json={"name": "jira-eu"})
        assert renamed.status_code == 200, renamed.text
        view = client.get("/api/v1/integrations/Access Request").json()
        assert view["routes"][0]["server"] == "jira-eu"

        refused = client.delete("/api/v1/outbound-servers/jira-eu")
        assert refused.status_code == 409
        assert refused.json()["used_by"] == ["integration 'Access Request'"]
        assert "Access Request" in refused.json()["detail"]
        assert client.get("/api/v1/outbound-servers/jira-eu").status_code == 200

        # Once no route uses it, the server can go.
        assert client.patch("/api/v1/integrations/Access Request", json={"routes": []}).is_success
        assert client.delete("/api/v1/outbound-servers/jira-eu").status_code == 204


def test_unknown_servers_and_placeholders_are_named_with_the_fix(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    example["default_server"] = "servicenow"
    example["points"][0]["server"] = "nowhere"
    example["fields"] = {"Regin": "drop_down_list"}
    with live_wi.client() as client:
        errors = errors_of(client.post("/api/v1/integrations", json=example))
    assert "no outbound server named 'servicenow'" in errors["default_server"]
    assert "servicenow-prod" in errors["default_server"]
    assert "'nowhere'" in errors["points.0.server"]
    assert "unknown placeholder 'Region'" in errors["routes.0.when"]
    assert "did you mean 'Regin'" in errors["routes.0.when"]
    assert "unknown placeholder 'ITSM reference'" in errors["points.1.request.path"]
    assert "not declared" in errors["points.0.response.fields.ITSM reference"]


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        (
            {"request": {"body": '{\n  "a": "{{ticket_id}}",\n  "b": oops\n}'}},
            "points.0.request.body",
            "line 3",
        ),
        ({"request": {"body": '{"a": "{{ticket_id"}'}}, "points.0.request.body", "not closed"),
        (
            {"request": {"body": '{"a": "{{ticket_id | attr(\'x\')}}"}'}},
            "points.0.request.body",
            "not available",
        ),
        (
            {"response": {"fields": {"ITSM reference": "result.[number"}}},
            "points.0.response.fields",
            "not a valid JMESPath",
        ),
        ({"on": {"step": "Business Approval"}}, "points.0.on.when", "exactly one"),
        ({"on": {"trigger": "CLOSED"}}, "points.0.on.trigger", "CLOSE"),
        ({"request": {"method": "FETCH"}}, "points.0.request.method", "GET"),
        (
            {"request": {"path": "https://evil.example.com/x"}},
            "points.0.request.path",
            "only the path",
        ),
        ({"request": {"headers": {"Bad Header": "x"}}}, "points.0.request.headers", "not a valid"),
    ],
)
def test_bad_points_get_a_422_naming_the_field(
    live_wi: LiveWI, example: dict[str, Any], change: dict[str, Any], where: str, words: str
) -> None:
    add_servers(live_wi)
    example["points"][0].update(change)
    with live_wi.client() as client:
        errors = errors_of(client.post("/api/v1/integrations", json=example))
        assert where in errors, errors
        assert words in errors[where]
        # Nothing was saved.
        assert client.get("/api/v1/integrations").json() == []


def test_bad_conditions_and_addresses(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    example["routes"][0]["when"] = {"any": [{"field": "Region", "op": "like", "value": "x"}]}
    example["notify_on_failure"]["addresses"] = ["not-an-address"]
    with live_wi.client() as client:
        errors = errors_of(client.post("/api/v1/integrations", json=example))
    assert "any.0.op" in errors["routes.0.when"] and "one of equals" in errors["routes.0.when"]
    assert "not an e-mail" in errors["notify_on_failure.addresses"]


def test_viewers_read_but_cannot_write(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    with live_wi.client(live_wi.viewer_token) as viewer:
        refused = viewer.post("/api/v1/integrations", json=example)
        assert refused.status_code == 403
        assert viewer.get("/api/v1/integrations").status_code == 200
    with live_wi.client("not-a-token") as stranger:
        assert stranger.get("/api/v1/integrations").status_code == 401


def test_validate_checks_without_saving(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        ok = client.post("/api/v1/integrations/validate", json=example)
        assert ok.status_code == 200 and ok.json()["valid"] is True
        assert client.get("/api/v1/integrations").json() == []
        bad = client.post("/api/v1/integrations/validate", json={**example, "points": "x"})
        assert bad.status_code == 422


def test_placeholder_catalog(live_wi: LiveWI, example: dict[str, Any]) -> None:
    add_servers(live_wi)
    plugins = live_wi.settings.resolved_plugin_dir
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "custom_functions.py").write_text("def cmdb_owner(ticket, **kw):\n    return 'x'\n")
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=example).status_code == 201
        catalog = client.get("/api/v1/integrations/Access Request/placeholders").json()
    kinds = {p["name"]: p["kind"] for p in catalog["placeholders"]}
    assert kinds["cmdb_owner"] == "custom"
    assert kinds["ticket_subject"] == "predefined"
    assert kinds["ITSM reference"] == "field"
    assert catalog["custom_functions_error"] is None


def test_the_openapi_document_describes_the_integration_endpoints(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/integrations"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/integrations/{workflow}"])
    assert "post" in paths["/api/v1/integrations/{workflow}/preview"]
    body = paths["/api/v1/integrations"]["post"]["requestBody"]["content"]["application/json"]
    # The body is the Integration component (so nested models resolve: no $defs left).
    assert body["schema"] == {"$ref": "#/components/schemas/Integration"}
    assert "points" in spec["components"]["schemas"]["Integration"]["properties"]


def test_random_documents_never_cause_a_server_error(live_wi: LiveWI) -> None:
    add_servers(live_wi)
    documents: list[Any] = [
        [],
        {"workflow": 5},
        {"workflow": "W", "default_server": "servicenow-prod", "points": [{"on": "CREATE"}]},
        {"workflow": "W", "default_server": "servicenow-prod", "routes": [{"when": []}]},
        {"workflow": "W", "default_server": "servicenow-prod", "fields": "Region"},
        {"workflow": "W\n", "default_server": "servicenow-prod"},
    ]
    with live_wi.client() as client:
        for document in documents:
            response = client.post("/api/v1/integrations", json=document)
            assert response.status_code == 422, (document, response.text)
        raw = client.post(
            "/api/v1/integrations",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert raw.status_code == 422


def test_put_with_another_workflow_renames_unless_taken(
    live_wi: LiveWI, example: dict[str, Any]
) -> None:
    add_servers(live_wi)
    with live_wi.client() as client:
        assert client.post("/api/v1/integrations", json=example).status_code == 201
        other = {**example, "workflow": "Other"}
        assert client.post("/api/v1/integrations", json=other).status_code == 201
        taken = client.put("/api/v1/integrations/Other", json=example)
        assert taken.status_code == 409
        renamed = client.put("/api/v1/integrations/Other", json={**example, "workflow": "Third"})
        assert renamed.status_code == 200 and renamed.json()["workflow"] == "Third"
        assert client.get("/api/v1/integrations/Other").status_code == 404
        assert client.get("/api/v1/integrations/Third").status_code == 200
