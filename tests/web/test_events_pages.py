"""The Events, ticket and SecureChange connection pages over real HTTP (no browser)."""

from __future__ import annotations

import html

import httpx2

from tests.web.conftest import WebUsers, csrf_of

HOSTILE = "<script>alert(1)</script> & \"quotes\""


def send_events(web: WebUsers) -> list[int]:
    """Four events of two tickets, one with a subject that must be escaped."""
    ids = []
    with web.live.client() as api:
        for ticket, event, stamp, subject in (
            (41, "CREATE", "1", "Open 443"),
            (42, "CREATE", "2", HOSTILE),
            (41, "ADVANCE", "3", "Open 443"),
        ):
            answer = api.post(
                "/api/v1/events",
                json={"event": event, "source": "api",
                      "ticket": {"id": ticket, "update_date": stamp, "subject": subject}},
            )
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        xml = (b"<ticket_info><id>41</id><subject>Open 443</subject>"
               b"<updateDate>4</updateDate><current_stage><id>3</id><name>Review &amp; approve"
               b"</name></current_stage></ticket_info>")
        answer = api.post("/api/v1/events/securechange", params={"event": "ADVANCE"}, content=xml)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def test_event_list_filters_pages_and_escapes(
    web: WebUsers, viewer_client: httpx2.Client
) -> None:
    ids = send_events(web)
    page = viewer_client.get("/events")
    assert page.status_code == 200
    assert page.text.count("<tr data-event=") == 4
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in page.text
    assert 'aria-current="page">Events<' in page.text

    ticket = viewer_client.get("/events", params={"ticket": "41"})
    assert ticket.text.count("<tr data-event=") == 3
    advance = viewer_client.get("/events", params={"ticket": "41", "event": "ADVANCE"})
    assert advance.text.count("<tr data-event=") == 2
    source = viewer_client.get("/events", params={"source": "securechange"})
    assert [f'data-event="{ids[3]}"' in source.text, source.text.count("<tr data-event=")] == [
        True, 1]
    late = viewer_client.get("/events", params={"since": "2999-01-01T00:00"})
    assert "No events match these filters." in late.text
    early = viewer_client.get("/events", params={"until": "2000-01-01T00:00", "state": "pending"})
    assert "No events match these filters." in early.text

    # Bad filter values: a 400 naming the filter and the fix, never a 500.
    bad = viewer_client.get("/events", params={"ticket": "abc", "since": "yesterday",
                                               "state": "sent"})
    assert bad.status_code == 400
    assert "Ticket: enter a ticket number such as 1234" in bad.text
    assert "Received from: enter a date and time" in bad.text
    assert "State: choose one of pending, planned, ignored, failed" in bad.text


def test_event_list_pages_by_fifty(web: WebUsers, viewer_client: httpx2.Client) -> None:
    with web.live.client() as api:
        for stamp in range(53):
            api.post("/api/v1/events",
                     json={"event": "ADVANCE", "ticket": {"id": 7, "update_date": str(stamp)}})
    first = viewer_client.get("/events", params={"ticket": "7"})
    assert first.text.count("<tr data-event=") == 50
    assert "Newest events" not in first.text
    older = html.unescape(first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    second = viewer_client.get(older)
    assert second.text.count("<tr data-event=") == 3
    assert "Older events" not in second.text and "Newest events" in second.text


def test_event_detail_shows_the_document_indented_and_escaped(
    web: WebUsers, viewer_client: httpx2.Client
) -> None:
    ids = send_events(web)
    xml_event = viewer_client.get(f"/events/{ids[3]}")
    assert xml_event.status_code == 200
    assert "Review &amp;amp; approve" in xml_event.text  # the document's own escape, escaped
    assert "\n  &lt;subject&gt;Open 443&lt;/subject&gt;" in xml_event.text
    assert "Current step</dt><dd>Review &amp; approve" in xml_event.text
    json_event = viewer_client.get(f"/events/{ids[1]}")
    assert '&#34;subject&#34;: &#34;&lt;script&gt;' in json_event.text
    assert "<script>alert" not in json_event.text
    assert 'href="/tickets/42"' in json_event.text
    missing = viewer_client.get("/events/999999")
    assert missing.status_code == 404 and "event 999999 does not exist" in missing.text
    assert 'href="/events">Back to the events' in missing.text


def test_ticket_page_lists_the_journey_oldest_first(
    web: WebUsers, viewer_client: httpx2.Client
) -> None:
    ids = send_events(web)
    journey = viewer_client.get("/tickets/41")
    assert journey.status_code == 200
    order = [journey.text.index(f'href="/events/{i}"') for i in (ids[0], ids[2], ids[3])]
    assert order == sorted(order)
    assert f'href="/events/{ids[1]}"' not in journey.text
    none = viewer_client.get("/tickets/5")
    assert "WI has received no events for ticket 5." in none.text
    # The top bar's search box.
    found = viewer_client.get("/tickets", params={"ticket": " #41 "})
    assert found.status_code == 303 and found.headers["location"] == "/tickets/41"
    bad = viewer_client.get("/tickets", params={"ticket": "forty-one"})
    assert bad.status_code == 400 and "enter a ticket number" in bad.text


def test_securechange_page_saves_keeps_the_password_and_viewers_read(
    web: WebUsers, admin_client: httpx2.Client, viewer_client: httpx2.Client
) -> None:
    page = admin_client.get("/securechange")
    assert page.status_code == 200 and "Not configured yet" in page.text
    form = {"csrf_token": csrf_of(page.text), "host": "https://sc.example.com:8443",
            "protocol": "https", "username": "", "password": "sc-secret-1",
            "verify_certificate": "certificate", "certificate": "", "timeout_seconds": "0"}
    refused = admin_client.post("/securechange", data=form)
    assert refused.status_code == 422
    assert "sc-secret-1" not in refused.text and 'name="carried_password"' in refused.text
    for label in ("REST API user", "Timeout (seconds)"):
        assert f'">{label}</a>:' in refused.text, label
    services = web.live.services

    settings = services.securechange
    assert settings.connection() is None

    again = {**form, "csrf_token": csrf_of(refused.text), "username": "wi",
             "verify_certificate": "enable", "timeout_seconds": "20", "password": "********",
             "carried_password": _hidden(refused.text, "carried_password")}
    saved = admin_client.post("/securechange", data=again)
    assert saved.status_code == 303, saved.text
    connection = settings.connection()
    assert connection is not None and connection.password is not None
    assert connection.password.get_secret_value() == "sc-secret-1"
    assert connection.host == "sc.example.com:8443"

    shown = viewer_client.get("/securechange")
    assert 'value="********"' in shown.text and "sc-secret-1" not in shown.text
    assert "You have the viewer role" in shown.text and ">Save<" not in shown.text
    forged = viewer_client.post("/securechange", data={**again, "csrf_token": csrf_of(shown.text),
                                                       "host": "evil.example.com"})
    assert forged.status_code == 403
    assert settings.connection().host == "sc.example.com:8443"  # type: ignore[union-attr]


def _hidden(page: str, name: str) -> str:
    return html.unescape(page.split(f'name="{name}" value="', 1)[1].split('"', 1)[0])
