"""The Events menu: received workflow events, one event's document, one ticket's journey."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET  # only serialises trees that parse_xml parsed
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from workflow_integrator.api.deps import DeliveriesDep, EventsDep
from workflow_integrator.domain.events import WORKFLOW_EVENTS, EventSource, EventState
from workflow_integrator.securechange.documents import parse_xml
from workflow_integrator.services.errors import NotFound, ServiceError
from workflow_integrator.services.journey import delivery_entries, event_entries, ticket_journey
from workflow_integrator.store.events import EventFilter
from workflow_integrator.web.deliveries import deliveries_url
from workflow_integrator.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
BACK_TO_EVENTS = ("/events", "Back to the events")


def _time(raw: str, label: str, problems: list[str]) -> datetime | None:
    text = raw.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        problems.append(f"{label}: enter a date and time such as 2026-01-31T14:05")
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _ticket_id(raw: str, problems: list[str], label: str = "Ticket") -> int | None:
    text = raw.strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or len(text) > 12:
        problems.append(f"{label}: enter a ticket number such as 1234")
        return None
    return int(text)


def _choice(raw: str, allowed: list[str], label: str, problems: list[str]) -> str | None:
    if not raw:
        return None
    if raw not in allowed:
        problems.append(f"{label}: choose one of {', '.join(allowed)}")
        return None
    return raw


@router.get("/events")
def event_list(
    request: Request,
    events: EventsDep,
    ticket: str = "",
    event: str = "",
    state: str = "",
    source: str = "",
    since: str = "",
    until: str = "",
    before: str = "",
) -> Response:
    """Received events, newest first, filtered and paged by id."""
    problems: list[str] = []
    events_allowed = [e.value for e in WORKFLOW_EVENTS] + ["PRE_ASSIGNMENT_SCRIPT"]
    states_allowed = [s.value for s in EventState]
    before_id = _ticket_id(before, problems, "Page")
    flt = EventFilter(
        ticket_id=_ticket_id(ticket, problems),
        event=_choice(event, events_allowed, "Event", problems),
        state=_choice(state, states_allowed, "State", problems),
        source=source.strip() or None,
        since=_time(since, "Received from", problems),
        until=_time(until, "Received until", problems),
        before_id=before_id,
        limit=PAGE_SIZE + 1,
    )
    found = [] if problems else events.list(flt)
    filters = {
        "ticket": ticket.strip(), "event": event, "state": state, "source": source.strip(),
        "since": since.strip(), "until": until.strip(),
    }
    active = {k: v for k, v in filters.items() if v}
    older = None
    if len(found) > PAGE_SIZE:
        found = found[:PAGE_SIZE]
        older = "/events?" + urlencode({**active, "before": found[-1].id})
    return render(
        request,
        "events/list.html",
        {
            "events": found,
            "f": filters,
            "filtered": bool(active),
            "problems": problems,
            "older": older,
            "first_page": ("/events?" + urlencode(active)) if before_id else None,
            "event_names": events_allowed,
            "states": states_allowed,
            "sources": [s.value for s in EventSource],
            "deliveries_url": deliveries_url,
        },
        status=400 if problems else 200,
    )


def pretty_document(text: str, content_type: str) -> str | None:
    """The document indented for reading, or None when it does not parse."""
    try:
        if "json" in content_type:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        root = parse_xml(text)
    except ValueError:  # DocumentError too
        return None
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode")


@router.get("/events/{event_id}")
def event_detail(request: Request, events: EventsDep, event_id: int) -> Response:
    """One event: what it says, its state, and the document as received."""
    try:
        stored = events.get(event_id)
    except NotFound as exc:
        return render(
            request,
            "message.html",
            {"title": "Not found", "message": exc.message, "back": BACK_TO_EVENTS},
            status=404,
        )
    return render(
        request,
        "events/detail.html",
        {
            "e": stored,
            "pretty": pretty_document(stored.document, stored.content_type),
            "info": _info_rows(stored.info),
            "deliveries_link": deliveries_url(event_id=stored.id),
        },
    )


def _info_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (label, str(info[key]))
        for label, key in (
            ("Subject", "subject"),
            ("Created in SecureChange", "create_date"),
            ("Updated in SecureChange", "update_date"),
        )
        if info.get(key)
    ]
    for label, key in (
        ("Completed step", "completion_stage"),
        ("Current step", "current_stage"),
        ("Open request step", "open_request_stage"),
    ):
        step = info.get(key)
        if isinstance(step, dict) and step.get("name"):
            rows.append((label, str(step["name"])))
    return rows


@router.get("/tickets")
def find_ticket(request: Request, ticket: str = "") -> Response:
    """The top bar's ticket search: straight to the ticket's page."""
    problems: list[str] = []
    found = _ticket_id(ticket, problems, "Ticket id")
    if found is None:
        return render(
            request,
            "message.html",
            {
                "title": "Ticket not found",
                "message": problems[0] if problems else "Ticket id: enter a ticket number",
                "back": BACK_TO_EVENTS,
            },
            status=400,
        )
    return RedirectResponse(f"/tickets/{found}", status_code=303)


@router.get("/tickets/{ticket_id}")
def ticket_page(
    request: Request, events: EventsDep, deliveries: DeliveriesDep, ticket_id: int
) -> Response:
    """One ticket's journey: every event received and every delivery, oldest first."""
    try:
        entries = ticket_journey(
            ticket_id, [event_entries(events), delivery_entries(deliveries)]
        )
    except ServiceError as exc:
        return render(request, "message.html", {"title": "Ticket", "message": exc.message}, 400)
    return render(
        request,
        "tickets/journey.html",
        {
            "ticket_id": ticket_id,
            "entries": entries,
            "deliveries_link": deliveries_url(ticket_id=ticket_id),
        },
    )
