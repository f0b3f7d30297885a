"""End to end: the simulator moves a ticket through its workflow → the real wi-trigger → WI
(serving and delivering) → HTTPS receivers, one behind the real forward proxy, one server per
authentication method → each response written back into the simulator's ticket; then the
Events, ticket and Deliveries pages in real Chromium show what happened."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page, expect
from starlette.responses import JSONResponse, Response

from tests.servers.browser import screenshot
from tests.servers.live_wi import LiveWI
from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME, OAuthServer
from tests.servers.outbound_plugin import TLSMaterial
from tests.servers.proxy import ProxyServer
from tests.servers.receiver import Received, Receiver, run_receiver
from tests.servers.simulator import SimulatorHandle
from tests.servers.token_scripts import counting, runs

pytestmark = pytest.mark.browser

WORKFLOW = "Firewall Change Request"
BASIC_PASSWORD = "Basic-Pw-4711-secret"
STATIC_TOKEN = "static-token-0815-secret"
ADMIN = ("alice", "alice-password-123")


def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def _proxied_receiver(tls_material: TLSMaterial) -> Iterator[Receiver]:
    with run_receiver(certfile=tls_material.certfile, keyfile=tls_material.keyfile) as receiver:
        yield receiver


@pytest.fixture
def proxied_receiver(_proxied_receiver: Receiver) -> Receiver:
    """An HTTPS receiver only the proxied server talks to (so the proxy log names its port)."""
    _proxied_receiver.clear()
    return _proxied_receiver


def json_answer(seen: Received, authorized: bool, status: int, body: dict[str, Any]) -> Response:
    """``body`` when the request carried the server's credentials, else 401."""
    if not authorized:
        return JSONResponse({"error": "unauthorized"}, 401)
    return JSONResponse(body, status)


def servicenow(seen: Received) -> Response:
    """The ITSM behind the proxy: Basic credentials, answers with the incident number."""
    expected = "Basic " + base64.b64encode(f"wi:{BASIC_PASSWORD}".encode()).decode()
    answer = json_answer(seen, seen.headers.get("authorization") == expected, 201,
                         {"result": {"number": "INC0010001"}})
    # Closing the connection ends the tunnel, which is when the proxy logs it.
    answer.headers["Connection"] = "close"
    return answer


def answers_by_server(oauth: OAuthServer, script_token: str) -> Callable[[Received], Response]:
    """The four direct servers share one receiver, told apart by their base path."""

    def respond(seen: Received) -> Response:
        auth = seen.headers.get("authorization")
        if seen.path.startswith("/approvals/"):
            return json_answer(seen, oauth.grant_of(auth) == "password", 201,
                               {"approval": {"link": "https://approvals.example.com/APR-7"}})
        if seen.path.startswith("/jira/"):
            return json_answer(seen, oauth.grant_of(auth) == "refresh_token", 201,
                               {"key": "CHG-42", "self": "https://jira.example.com/CHG-42"})
        if seen.path.startswith("/cmdb/"):
            return json_answer(seen, auth == f"Bearer {STATIC_TOKEN}", 200,
                               {"status": "implemented"})
        if seen.path.startswith("/closer/"):
            return json_answer(seen, auth == f"Bearer {script_token}", 200, {"closed": True})
        return JSONResponse({"error": f"no such path {seen.path}"}, 404)

    return respond


def configure(client: httpx2.Client, *, proxied: Receiver, direct: Receiver,
              proxy: ProxyServer, oauth: OAuthServer, ca_pem: str, script: str) -> None:
    """Five servers (one per auth method) and one integration that uses each on one move."""
    tls = {"protocol": "https", "verify_certificate": "certificate", "certificate": ca_pem}
    oauth2 = {"method": "oauth2", "token_url": oauth.token_url, "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET}
    servers = [
        {"name": "servicenow", "host": proxied.host, "proxy": proxy.address,
         "auth": {"method": "basic", "username": "wi", "password": BASIC_PASSWORD}},
        {"name": "approvals", "host": f"{direct.host}/approvals",
         "auth": {**oauth2, "grant_type": "password", "username": USERNAME,
                  "password": PASSWORD}},
        {"name": "jira", "host": f"{direct.host}/jira",
         "auth": {**oauth2, "grant_type": "refresh_token",
                  "refresh_token": oauth.issue_refresh_token()}},
        {"name": "cmdb", "host": f"{direct.host}/cmdb",
         "auth": {"method": "bearer", "token": STATIC_TOKEN}},
        {"name": "closer", "host": f"{direct.host}/closer",
         "auth": {"method": "bearer", "token_script": script}},
    ]
    for server in servers:
        saved = client.post("/api/v1/outbound-servers", json={**server, **tls})
        assert saved.status_code == 201, saved.text
    integration = client.post("/api/v1/integrations", json={
        "workflow": WORKFLOW, "default_server": "servicenow",
        "fields": {"Change Window": "text_field", "Reference": "hyperlink",
                   "External Ticket": "text_field", "External Status": "text_field",
                   "Verified": "checkbox"},
        "points": [
            {"name": "open incident", "on": {"trigger": "CREATE"},
             "request": {"method": "POST", "path": "/api/now/table/incident",
                         "body": '{"short_description": "{{ticket_subject}}", '
                                 '"correlation_id": "{{ticket_id}}"}'},
             "response": {"fields": {"Change Window": "result.number"}}},
            {"name": "ask approval", "server": "approvals",
             "on": {"step": "Open request", "when": "outbound"},
             "request": {"method": "POST", "path": "/requests",
                         "body": '{"incident": "{{Change Window}}"}'},
             "response": {"fields": {"Reference": "approval.link"}}},
            {"name": "open change", "server": "jira",
             "on": {"step": "Implementation", "when": "inbound"},
             "request": {"method": "POST", "path": "/rest/api/2/issue",
                         "body": '{"summary": "{{ticket_subject}}", '
                                 '"incident": "{{Change Window}}"}'},
             "response": {"fields": {"External Ticket": "key"}}},
            {"name": "change done", "server": "cmdb",
             "on": {"step": "Implementation", "when": "outbound"},
             "request": {"method": "PUT", "path": "/changes/{{External Ticket}}",
                         "body": '{"state": "done"}'},
             "response": {"fields": {"External Status": "status"}}},
            {"name": "close change", "server": "closer",
             "on": {"step": "Verification", "when": "outbound"},
             "request": {"method": "POST", "path": "/close/{{External Ticket}}"},
             "response": {"fields": {"Verified": "closed"}}},
        ]})
    assert integration.status_code == 201, integration.text


def ticket_fields(sim: SimulatorHandle, ticket_id: int) -> dict[str, Any]:
    """Field name → value (as its JSON document writes it) of the ticket's fields, first step
    first, read through SecureChange's REST API."""
    answer = httpx2.get(f"{sim.api_url}/tickets/{ticket_id}", auth=(sim.username, sim.password),
                        headers={"Accept": "application/json"}, trust_env=False, timeout=10)
    assert answer.status_code == 200, answer.text
    values: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "@xsi.type" in node:  # a field: its value is under text, url or value
                values.setdefault(node["name"], next(
                    (node[k] for k in ("text", "url", "value") if k in node), None))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(answer.json())
    return values


def test_a_ticket_moved_through_its_workflow_reaches_every_server_and_is_written_back(
    live_wi_any_db: LiveWI, sc_simulator: SimulatorHandle, tls_receiver: Receiver,
    proxied_receiver: Receiver, forward_proxy: ProxyServer, oauth_server_tls: OAuthServer,
    tls_material: TLSMaterial, tmp_path: Path, page: Page,
) -> None:
    live, oauth = live_wi_any_db, oauth_server_tls
    # A token endpoint as slow as many are: later moves are planned while a token is awaited.
    oauth.delay_seconds = 1.0
    script = counting(tmp_path, "script-token")
    proxied_receiver.respond = servicenow
    tls_receiver.respond = answers_by_server(oauth, "script-token-1")
    with live.client() as client:
        assert client.put("/api/v1/securechange",
                          json=sc_simulator.connection_settings()).status_code == 200
        configure(client, proxied=proxied_receiver, direct=tls_receiver, proxy=forward_proxy,
                  oauth=oauth, ca_pem=tls_material.ca_pem, script=script)
        first_refresh_token = oauth.live_refresh_tokens()[0]
    _, trigger_token = live.services.tokens.create("securechange", "trigger")
    sc_simulator.trigger_wi(live.url, trigger_token)

    # A requester opens the ticket; handlers finish every step without waiting for WI.
    ticket = sc_simulator.create_ticket('Open "443" to the web farm')
    sc_simulator.wait_for_triggers()
    for _ in range(4):  # Open request → Business Approval → Implementation → Verification → done
        sc_simulator.move(ticket.id, "advance")
        sc_simulator.wait_for_triggers()

    def finished() -> list[dict[str, Any]]:
        with live.client(live.viewer_token) as client:
            found: list[dict[str, Any]] = client.get(
                "/api/v1/deliveries", params={"ticket_id": ticket.id}).json()["items"]
        return found

    until(lambda: len(done := finished()) == 5 and all(
        d["state"] == "delivered" and d["writeback"]["state"] == "done" for d in done),
        90, "five deliveries delivered and written back")

    # Each server got its request once, in the workflow's order, with its own credentials.
    direct = tls_receiver.requests
    assert [(r.method, r.path) for r in proxied_receiver.requests] == [
        ("POST", "/api/now/table/incident")]
    assert [(r.method, r.path) for r in direct] == [
        ("POST", "/approvals/requests"), ("POST", "/jira/rest/api/2/issue"),
        ("PUT", "/cmdb/changes/CHG-42"), ("POST", "/closer/close/CHG-42")]
    assert forward_proxy.saw(f"CONNECT 127.0.0.1:{proxied_receiver.port}")
    create = proxied_receiver.requests[0]
    assert create.headers["authorization"] == "Basic " + base64.b64encode(
        f"wi:{BASIC_PASSWORD}".encode()).decode()
    assert json.loads(create.body) == {"short_description": 'Open "443" to the web farm',
                                       "correlation_id": ticket.id}
    approval, change, implemented, close = direct
    assert oauth.grant_of(approval.headers["authorization"]) == "password"
    assert oauth.grant_of(change.headers["authorization"]) == "refresh_token"
    assert implemented.headers["authorization"] == f"Bearer {STATIC_TOKEN}"
    assert close.headers["authorization"] == "Bearer script-token-1"
    assert runs(tmp_path) == 1
    # Later requests carry what earlier responses wrote into the ticket.
    assert json.loads(approval.body) == {"incident": "INC0010001"}
    assert json.loads(change.body) == {"summary": 'Open "443" to the web farm',
                                       "incident": "INC0010001"}
    keys = {r.headers["idempotency-key"] for r in [create, *direct]}
    assert len(keys) == 5
    # The rotated refresh token was stored and the first one used exactly once.
    assert oauth.requests["refresh_token"] == 1 and oauth.refresh_reused == 0
    assert first_refresh_token not in oauth.live_refresh_tokens()

    fields = ticket_fields(sc_simulator, ticket.id)
    assert fields["Change Window"] == "INC0010001"
    assert fields["Reference"] == "https://approvals.example.com/APR-7"
    assert fields["External Ticket"] == "CHG-42"
    assert fields["External Status"] == "implemented"
    assert fields["Verified"] == "true"

    with live.client(live.viewer_token) as client:
        events = client.get("/api/v1/events", params={"ticket_id": ticket.id}).json()
        details = [client.get(f"/api/v1/deliveries/{d['id']}").text for d in finished()]
    assert sorted(e["event"] for e in events) == ["ADVANCE", "ADVANCE", "ADVANCE", "CREATE",
                                                  "RESOLVE"]
    assert {e["state"] for e in events} == {"planned"}
    # The records keep every attempt without a credential WI sent.
    oauth_tokens = [approval.headers["authorization"][7:], change.headers["authorization"][7:]]
    for secret in (BASIC_PASSWORD, STATIC_TOKEN, "script-token-1", *oauth_tokens):
        assert not any(secret in detail for detail in details), secret

    check_pages(page, live, ticket.id)


def check_pages(page: Page, live: LiveWI, ticket_id: int) -> None:
    """The Events page, the ticket's page and the Deliveries pages, as an admin reads them."""
    live.services.users.add(ADMIN[0], "admin", ADMIN[1])
    page.goto(live.url + "/events")
    page.get_by_label("User name", exact=True).fill(ADMIN[0])
    page.get_by_label("Password", exact=True).fill(ADMIN[1])
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Events")).to_be_visible()
    rows = page.locator("#event-list tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.locator(".badge")).to_have_text(["planned"] * 5)
    expect(rows.first).to_contain_text("RESOLVE")
    screenshot(page, "end-to-end-events")

    page.get_by_role("link", name=f"Ticket {ticket_id}", exact=True).first.click()
    expect(page.get_by_role("heading", name=f"Ticket {ticket_id}")).to_be_visible()
    journey = page.locator("#journey > li")
    expect(journey).to_have_count(10)
    events = page.locator('#journey li[data-kind="event"]')
    expect(events.locator(".badge")).to_have_text(["planned"] * 5)
    for title in ("open incident to servicenow", "ask approval to approvals",
                  "open change to jira", "change done to cmdb", "close change to closer"):
        entry = page.locator('#journey li[data-kind="delivery"]', has_text=title)
        expect(entry.locator(".badge")).to_have_text("delivered")
        expect(entry).to_contain_text("Write-back: done")
    screenshot(page, "end-to-end-ticket")

    page.get_by_role("link", name="This ticket's deliveries").click()
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    table = page.locator("#delivery-list tbody tr")
    expect(table).to_have_count(5)
    expect(table.locator(".badge")).to_have_text(["delivered"] * 5)
    assert sorted(table.locator("td:nth-child(6)").all_inner_texts()) == [
        "approvals", "closer", "cmdb", "jira", "servicenow"]
    table.filter(has_text="servicenow").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"Delivery \d+"))).to_be_visible()
    expect(page.locator("#delivery-state")).to_have_text("delivered")
    expect(page.locator("#delivery-facts")).to_contain_text(
        "done: wrote 'Change Window' = \"INC0010001\"")
    attempt = page.locator("#attempts li.attempt")
    expect(attempt).to_have_count(1)
    expect(attempt.locator("h3")).to_contain_text("Attempt 1: delivered")
    expect(attempt.locator(".request-line")).to_have_text(
        re.compile(r"^POST https://127\.0\.0\.1:\d+/api/now/table/incident$"))
    expect(attempt.locator(".response-status")).to_have_text("201")
    attempt.get_by_text("Request headers and body").click()
    expect(attempt.locator("pre.headers").first).to_contain_text(
        re.compile(r"authorization: Basic \*{8}\n", re.IGNORECASE))
    screenshot(page, "end-to-end-delivery")
