"""The OpenAPI document and the answers agree on what schemathesis found wrong once:
methods in ``Allow``, 405 on a fixed path, resolvable references, undeclared errors and
dates that are not dates."""

from __future__ import annotations

import json

from tests.servers.live_wi import LiveWI


def test_options_and_405_name_every_method_of_the_resource(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        options = api.options("/api/v1/integrations/some-workflow")
        refused = api.post("/api/v1/integrations/some-workflow")
        fixed = api.options("/api/v1/outbound-servers/fetch-token")
        unknown = api.options("/api/v1/nothing-here")
    assert options.status_code == 204
    assert options.headers["allow"] == "DELETE, GET, OPTIONS, PATCH, PUT"
    assert refused.status_code == 405
    assert refused.headers["allow"] == "DELETE, GET, OPTIONS, PATCH, PUT"
    assert fixed.headers["allow"] == "OPTIONS, POST"
    assert unknown.status_code == 404


def test_get_on_the_trigger_intake_is_405_not_a_bad_event_id(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        answer = api.get("/api/v1/events/securechange")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "OPTIONS, POST"


def test_dates_must_be_iso_8601(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        answer = api.get("/api/v1/events", params={"until": "0.5"})
        fine = api.get("/api/v1/events", params={"until": "2026-03-01T12:00:00Z"})
        replan = api.post("/api/v1/events/replan", json={"since": 1700000000})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "until"]
    assert "ISO 8601" in answer.json()["detail"][0]["msg"]
    assert fine.status_code == 200
    assert replan.status_code == 422
    assert replan.json()["detail"][0]["loc"] == ["body", "since"]


def test_filter_bodies_refuse_bad_json_like_every_body(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        broken = api.post("/api/v1/deliveries/replay", content=b"{not json",
                          headers={"content-type": "application/json"})
        latin1 = api.post("/api/v1/events/replan", content=b"\xff\xfe",
                          headers={"content-type": "application/json"})
        deep = api.post("/api/v1/events/replan", content=b"[" * 40 + b"]" * 40,
                        headers={"content-type": "application/json"})
    assert broken.status_code == 422
    assert "not valid JSON" in broken.json()["detail"][0]["msg"]
    assert latin1.status_code == 415
    assert deep.status_code == 422
    assert deep.json()["detail"][0]["msg"] == "body is nested more than 32 levels deep"


def test_the_document_declares_errors_and_resolves_every_reference(live_wi: LiveWI) -> None:
    with live_wi.client() as api:
        document = api.get("/openapi.json").json()
    text = json.dumps(document)
    assert "#/$defs/" not in text
    components = document["components"]["schemas"]
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in components, ref
    servers = document["paths"]["/api/v1/outbound-servers/{name}"]
    assert set(servers["put"]["responses"]) >= {"200", "401", "403", "404", "409", "412",
                                                  "413", "415", "422"}
    assert set(servers["delete"]["responses"]) >= {"204", "401", "403", "404", "409"}
    creating = document["paths"]["/api/v1/integrations"]["post"]
    assert creating["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Integration"}
    assert components["Integration"]["additionalProperties"] is False
    assert components["PreviewBody"]["additionalProperties"] is False
    patching = servers["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patching == {"$ref": "#/components/schemas/OutboundServerPatch"}
    assert components["OutboundServerPatch"]["additionalProperties"] is False
    assert "auth" in components["OutboundServerPatch"]["properties"]


def test_allow_follows_a_route_added_later_and_the_path_memory_stays_bounded() -> None:
    from fastapi import APIRouter

    from workflow_integrator.api.methods import RouteMethods

    router = APIRouter()
    router.add_api_route("/things/{name}", lambda name: name, methods=["GET"])
    methods = RouteMethods(lambda: router.routes)
    assert methods.allowed("/things/a") == ["GET", "OPTIONS"]
    router.add_api_route("/things/{name}", lambda name: name, methods=["DELETE"])
    assert methods.allowed("/things/a") == ["DELETE", "GET", "OPTIONS"]
    for number in range(RouteMethods.CACHED_PATHS + 10):
        assert methods.resource(f"/things/{number}") == (frozenset({"GET", "DELETE"}), False)
    assert len(methods._by_path) == RouteMethods.CACHED_PATHS
    assert methods.allowed("/elsewhere") == []
