"""End to end: simulator moves → real wi-trigger → WI (serving and delivering) → an HTTPS
receiver behind a real forward proxy → response written back into the simulator's ticket."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.responses import JSONResponse, Response

from tests.servers.live_wi import LiveWI
from tests.servers.outbound_plugin import TLSMaterial
from tests.servers.proxy import ProxyServer
from tests.servers.receiver import Received, Receiver
from tests.servers.simulator import SimulatorHandle

WORKFLOW = "Firewall Change Request"


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def incident(seen: Received) -> Response:
    if seen.method == "POST":
        return JSONResponse({"result": {"number": "INC0010001"}}, 201)
    return JSONResponse({"result": {"state": "approved"}})


def test_moves_become_requests_and_responses_are_written_back(
    live_wi_any_db: LiveWI, sc_simulator: SimulatorHandle, tls_receiver: Receiver,
    forward_proxy: ProxyServer, tls_material: TLSMaterial,
) -> None:
    live = live_wi_any_db
    tls_receiver.respond = incident
    with live.client() as client:
        assert client.put("/api/v1/securechange",
                          json=sc_simulator.connection_settings()).status_code == 200
        server = client.post("/api/v1/outbound-servers", json={
            "name": "servicenow", "host": tls_receiver.host, "protocol": "https",
            "verify_certificate": "certificate", "certificate": tls_material.ca_pem,
            "proxy": forward_proxy.address,
            "auth": {"method": "basic", "username": "wi", "password": "s3cret-pw-123"}})
        assert server.status_code == 201, server.text
        integration = client.post("/api/v1/integrations", json={
            "workflow": WORKFLOW, "default_server": "servicenow",
            "fields": {"Change Window": "text_field"},
            "points": [
                {"name": "open incident", "on": {"trigger": "CREATE"},
                 "request": {"method": "POST", "path": "/api/now/table/incident",
                             "body": '{"short_description": "{{ticket_subject}}", '
                                     '"correlation_id": "{{ticket_id}}"}'},
                 "response": {"fields": {"Change Window": "result.number"}}},
                {"name": "request done", "on": {"step": "Open request", "when": "outbound"},
                 "request": {"method": "PATCH",
                             "path": "/api/now/table/incident/{{Change Window}}",
                             "body": '{"state": "approved"}'}},
            ]})
        assert integration.status_code == 201, integration.text
    _, trigger_token = live.services.tokens.create("securechange", "trigger")
    sc_simulator.trigger_wi(live.url, trigger_token)

    ticket = sc_simulator.create_ticket('Open "443" to the web farm')
    until(lambda: (field := sc_simulator.ticket(ticket.id).field("Change Window")) is not None
          and field.value == "INC0010001", 90, "the incident number in the ticket")
    sc_simulator.move(ticket.id, "advance")
    until(lambda: len(tls_receiver.requests) >= 2, 90, "the second request")

    create, done = tls_receiver.requests[:2]
    assert (create.method, create.path) == ("POST", "/api/now/table/incident")
    assert (done.method, done.path) == ("PATCH", "/api/now/table/incident/INC0010001")
    assert create.headers["idempotency-key"] != done.headers["idempotency-key"]
    with live.client(live.viewer_token) as client:
        events = client.get("/api/v1/events", params={"ticket_id": ticket.id}).json()
    assert sorted(e["event"] for e in events) == ["ADVANCE", "CREATE"]
    assert {e["state"] for e in events} == {"planned"}
