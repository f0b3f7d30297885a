"""``/api/v1/events`` over real HTTP: status codes, reasons, auth, filters."""

from __future__ import annotations

import httpx2

from tests.servers.live_wi import LiveWI

DOC = b"<ticket_info><id>41</id><subject>Open 443</subject><updateDate>9</updateDate></ticket_info>"


def test_accepts_with_202_and_the_event_id(live_wi_any_db: LiveWI) -> None:
    with live_wi_any_db.client() as c:
        first = c.post("/api/v1/events/securechange", params={"event": "CREATE"}, content=DOC)
        retry = c.post("/api/v1/events/securechange", headers={"X-SCW-Event": "CREATE"},
                       content=DOC)
        shown = c.get(first.headers["location"])
    assert first.status_code == 202 and retry.status_code == 202
    assert first.json()["id"] == retry.json()["id"]
    assert (first.json()["duplicate"], retry.json()["duplicate"]) == (False, True)
    assert shown.json()["document"] == DOC.decode()
    assert shown.json()["subject"] == "Open 443"


def test_test_call_answers_200_and_stores_nothing(live_wi: LiveWI) -> None:
    with live_wi.client() as c:
        answer = c.post("/api/v1/events/securechange", content=b"<ticket_info/>")
        listed = c.get("/api/v1/events")
    assert answer.status_code == 200 and answer.json()["stored"] is False
    assert listed.json() == []


def test_bad_input_is_400_with_the_reason(live_wi: LiveWI) -> None:
    with live_wi.client() as c:
        no_event = c.post("/api/v1/events/securechange", content=DOC)
        bad_xml = c.post("/api/v1/events/securechange?event=CREATE", content=b"<ticket_info>")
        no_id = c.post("/api/v1/events/securechange?event=CREATE",
                       content=b"<ticket_info><subject>x</subject></ticket_info>")
        bomb = c.post("/api/v1/events/securechange?event=CREATE", content=(
            b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<ticket_info><id>1</id><subject>&b;</subject></ticket_info>"))
        bad_json = c.post("/api/v1/events", json={"event": "CREATE", "ticket": {"id": "x"}})
        listed = c.get("/api/v1/events")
    assert no_event.status_code == 400
    assert "event name is missing" in no_event.json()["detail"]
    assert bad_xml.status_code == 400 and "malformed XML" in bad_xml.json()["detail"]
    assert no_id.status_code == 400 and "has no <id>" in no_id.json()["detail"]
    assert bomb.status_code == 400 and "XML refused" in bomb.json()["detail"]
    assert bad_json.status_code == 400
    assert bad_json.json()["detail"].startswith("ticket.id: enter a whole number")
    assert listed.json() == []


def test_oversized_body_is_413(live_wi: LiveWI) -> None:
    huge = b"<ticket_info><id>1</id><subject>" + b"x" * (live_wi.settings.max_body_bytes + 1)
    with live_wi.client() as c:
        answer = c.post("/api/v1/events/securechange?event=CREATE", content=huge)
        listed = c.get("/api/v1/events")
    assert answer.status_code == 413
    assert listed.json() == []


def test_auth_token_required_and_viewers_only_read(live_wi: LiveWI) -> None:
    anonymous = httpx2.post(live_wi.url + "/api/v1/events/securechange?event=CREATE",
                            content=DOC, trust_env=False)
    with live_wi.client(live_wi.viewer_token) as viewer:
        write = viewer.post("/api/v1/events/securechange?event=CREATE", content=DOC)
        read = viewer.get("/api/v1/events")
    assert anonymous.status_code == 401
    assert write.status_code == 403
    assert read.status_code == 200


def test_list_filters_over_http(live_wi: LiveWI) -> None:
    with live_wi.client() as c:
        for ticket, event in ((1, "CREATE"), (2, "CREATE"), (1, "ADVANCE")):
            c.post("/api/v1/events", json={"event": event,
                                           "ticket": {"id": ticket, "update_date": "1"}})
        by_ticket = c.get("/api/v1/events", params={"ticket_id": 1})
        by_event = c.get("/api/v1/events", params={"event": "create", "limit": 1})
        bad_state = c.get("/api/v1/events", params={"state": "sent"})
        bad_limit = c.get("/api/v1/events", params={"limit": 0})
        missing = c.get("/api/v1/events/12345")
    assert [(e["ticket_id"], e["event"]) for e in by_ticket.json()] == [(1, "ADVANCE"),
                                                                        (1, "CREATE")]
    assert [(e["ticket_id"], e["event"]) for e in by_event.json()] == [(2, "CREATE")]
    assert bad_state.status_code == 400 and "unknown state 'sent'" in bad_state.json()["detail"]
    assert bad_limit.status_code == 422
    assert [e["loc"] for e in bad_limit.json()["detail"]] == [["query", "limit"]]
    assert "input" not in bad_limit.json()["detail"][0]
    assert missing.status_code == 404
