"""Hostile input at intake and on reads: a clear 4xx, nothing stored, the same on both databases.

Each case here once stored something a read could not show, or answered 500, or
stored a different value on SQLite than on PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.servers.live_wi import LiveWI

SC = "/api/v1/events/securechange?event=CREATE"


def _nothing_stored(live: LiveWI) -> None:
    with live.client() as c:
        listed = c.get("/api/v1/events")
    assert listed.status_code == 200, listed.text
    assert listed.json() == []


def test_lone_surrogate_is_refused_and_reads_keep_working(live_wi_any_db: LiveWI) -> None:
    raw = b'{"event":"CREATE","ticket":{"id":36,"subject":"\\ud800","update_date":"s"}}'
    with live_wi_any_db.client() as c:
        answer = c.post("/api/v1/events", content=raw,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert "U+D800" in answer.text
    _nothing_stored(live_wi_any_db)


def test_nul_in_text_is_refused_on_both_databases(live_wi_any_db: LiveWI) -> None:
    with live_wi_any_db.client() as c:
        answer = c.post("/api/v1/events", json={"event": "CREATE",
                                                "ticket": {"id": 3, "update_date": "a\x00b"}})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("ticket.update_date: ")
    assert "U+0000" in answer.text
    _nothing_stored(live_wi_any_db)


def test_ticket_ids_past_32_bits_are_stored_and_read_back(live_wi_any_db: LiveWI) -> None:
    big = 2**31  # PostgreSQL's int4 refused this with a 500
    largest = 2**53 - 1
    with live_wi_any_db.client() as c:
        xml = c.post(SC, content=f"<ticket_info><id>{big}</id></ticket_info>".encode())
        js = c.post("/api/v1/events", json={"event": "CREATE",
                                            "ticket": {"id": largest, "update_date": "1"}})
        by_ticket = c.get("/api/v1/events", params={"ticket_id": largest})
    assert xml.status_code == 202 and xml.json()["ticket_id"] == big
    assert js.status_code == 202, js.text
    assert [e["ticket_id"] for e in by_ticket.json()] == [largest]


@pytest.mark.parametrize("raw_id", [
    "9223372036854775808", "9007199254740992", "0", "-1", "1_000", "\u0661\u0662", "+7", "1e3",
])
def test_ticket_ids_out_of_bounds_or_not_ascii_digits_are_400(
    live_wi_any_db: LiveWI, raw_id: str
) -> None:
    doc = f"<ticket_info><id>{raw_id}</id></ticket_info>".encode()
    with live_wi_any_db.client() as c:
        answer = c.post(SC, content=doc)
    assert answer.status_code == 400, answer.text
    assert "ticket_info <id> must be" in answer.json()["detail"]
    _nothing_stored(live_wi_any_db)


@pytest.mark.parametrize("value", [True, "32", 32.0, 2**53, 2**63, None, [1]])
def test_json_ticket_id_must_be_a_json_integer_in_range(
    live_wi_any_db: LiveWI, value: Any
) -> None:
    body = json.dumps({"event": "CREATE", "ticket": {"id": value}})
    with live_wi_any_db.client() as c:
        answer = c.post("/api/v1/events", content=body,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("ticket.id: ")
    _nothing_stored(live_wi_any_db)


def test_long_update_date_is_400_on_both_databases(live_wi_any_db: LiveWI) -> None:
    doc = f"<ticket_info><id>1</id><updateDate>{'9' * 65}</updateDate></ticket_info>"
    with live_wi_any_db.client() as c:
        answer = c.post(SC, content=doc.encode())
    assert answer.status_code == 400
    assert "<updateDate> is 65 characters long; at most 64" in answer.json()["detail"]
    _nothing_stored(live_wi_any_db)


def test_deep_xml_is_refused(live_wi_any_db: LiveWI) -> None:
    depth = 100_000
    doc = b"<ticket_info><id>1</id><subject>" + b"<a>" * depth + b"</a>" * depth
    doc += b"</subject></ticket_info>"
    with live_wi_any_db.client() as c:
        answer = c.post(SC, content=doc)
    assert answer.status_code == 400, answer.text
    assert "nested more than 32 elements deep" in answer.json()["detail"]
    _nothing_stored(live_wi_any_db)


def test_utf16_document_is_415(live_wi_any_db: LiveWI) -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?><ticket_info><id>5</id>' \
          "<subject>Ünïcode</subject></ticket_info>"
    with live_wi_any_db.client() as c:
        utf16 = c.post(SC, content=doc.encode("utf-16"))
        declared = c.post(SC, content=b"<ticket_info><id>5</id></ticket_info>",
                          headers={"Content-Type": "application/xml; charset=ISO-8859-1"})
        json16 = c.post("/api/v1/events", headers={"Content-Type": "application/json"},
                        content=json.dumps({"event": "CREATE", "ticket": {"id": 1}})
                        .encode("utf-16"))
    assert utf16.status_code == 415 and "not valid UTF-8" in utf16.json()["detail"]
    assert declared.status_code == 415 and "iso-8859-1" in declared.json()["detail"]
    assert json16.status_code == 415
    _nothing_stored(live_wi_any_db)


def test_utf8_document_is_stored_as_sent(live_wi_any_db: LiveWI) -> None:
    doc = "<ticket_info><id>5</id><subject>Ünïcode ✓</subject></ticket_info>".encode()
    with live_wi_any_db.client() as c:
        answer = c.post(SC, content=doc)
        shown = c.get(answer.headers["location"])
    assert answer.status_code == 202
    assert shown.json()["subject"] == "Ünïcode ✓"
    assert shown.json()["document"] == doc.decode()


@pytest.mark.parametrize("path", [
    "/api/v1/events?before_id=-326974530294941941760",
    "/api/v1/events?before_id=0",
    "/api/v1/events?ticket_id=9223372036854775808",
    "/api/v1/events?ticket_id=-1",
    "/api/v1/events/2906741753765820618584865299972174643",
    "/api/v1/events/2147483648",
    "/api/v1/events/0",
])
def test_reads_with_ids_out_of_range_are_422(live_wi_any_db: LiveWI, path: str) -> None:
    with live_wi_any_db.client() as c:
        answer = c.get(path)
    assert answer.status_code == 422, answer.text


def test_read_of_the_largest_id_is_404(live_wi_any_db: LiveWI) -> None:
    with live_wi_any_db.client() as c:
        answer = c.get(f"/api/v1/events/{2**31 - 1}")
    assert answer.status_code == 404
