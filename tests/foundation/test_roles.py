"""Token roles: admin changes, viewer reads, trigger only delivers workflow events."""

from __future__ import annotations

import pytest

from tests.servers.live_wi import LiveWI
from workflow_integrator.services.errors import InvalidInput

EVENT = b"<ticket_info><id>7</id><subject>Open</subject><updateDate>1</updateDate></ticket_info>"
SERVER = {"name": "itsm", "host": "itsm.example.com", "auth": {"method": "none"}}


def test_a_trigger_token_delivers_events_and_sees_nothing_else(live_wi: LiveWI) -> None:
    _, trigger = live_wi.services.tokens.create("securechange-host", "trigger")
    with live_wi.client() as admin:
        assert admin.post("/api/v1/outbound-servers", json=SERVER).status_code == 201
    with live_wi.client(trigger) as client:
        accepted = client.post(
            "/api/v1/events/securechange", params={"event": "CREATE"}, content=EVENT
        )
        as_json = client.post(
            "/api/v1/events", json={"event": "CLOSE", "ticket": {"id": 8, "update_date": "2"}}
        )
        probe = client.post("/api/v1/events/securechange", content=b"<ticket_info/>")
        servers = client.get("/api/v1/outbound-servers")
        server = client.get("/api/v1/outbound-servers/itsm")
        repoint = client.patch("/api/v1/outbound-servers/itsm", json={"host": "evil.example"})
        events = client.get("/api/v1/events")
    assert accepted.status_code == 202, accepted.text
    assert as_json.status_code == 202, as_json.text
    assert probe.status_code == 200  # wi-trigger --check works with this token
    for refused in (servers, server, repoint, events):
        assert refused.status_code == 403, refused.text
        assert "only delivers workflow events" in refused.json()["detail"] or (
            "cannot change configuration" in refused.json()["detail"]
        )
    assert live_wi.services.servers.get("itsm").host == "itsm.example.com"


def test_a_viewer_token_cannot_deliver_events(live_wi: LiveWI) -> None:
    with live_wi.client(live_wi.viewer_token) as viewer:
        refused = viewer.post(
            "/api/v1/events/securechange", params={"event": "CREATE"}, content=EVENT
        )
    assert refused.status_code == 403
    assert "--role trigger" in refused.json()["detail"]


def test_token_roles_are_checked_and_people_cannot_be_triggers(live_wi: LiveWI) -> None:
    with pytest.raises(InvalidInput) as caught:
        live_wi.services.tokens.create("x", "superuser")
    assert caught.value.errors[0]["msg"] == "role must be one of admin, viewer, trigger"
    with pytest.raises(InvalidInput) as refused:
        live_wi.services.users.add("bob", "trigger", "a-long-password-1")
    assert "role must be one of admin, viewer" in refused.value.errors[0]["msg"]
