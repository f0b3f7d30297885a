"""REST: ``/api/v1/events``: intake of workflow events and the event list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import json_object
from workflow_integrator.api.deps import EventsDep, EventSourceDep, MetricsDep, ViewerDep
from workflow_integrator.api.responses import BAD_EVENT
from workflow_integrator.api.timestamps import Timestamp
from workflow_integrator.delivery.intake import IntakeResult
from workflow_integrator.domain.bounds import ROW_ID_MAX, TICKET_ID_MAX
from workflow_integrator.services.errors import UnsupportedMedia
from workflow_integrator.services.metrics import Metrics
from workflow_integrator.store.events import EventFilter

router = APIRouter(prefix="/api/v1/events", tags=["events"])


def _accepted(metrics: Metrics, result: IntakeResult) -> JSONResponse:
    metrics.event_received(result.event.event, result.event.source,
                                    duplicate=not result.created)
    body = {**result.event.summary(), "stored": True, "duplicate": not result.created}
    return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"{router.prefix}/{result.event.id}"})


@router.post(
    "/securechange",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "SecureChange's <ticket_info> document, as a trigger script "
            "receives it on standard input. An empty <ticket_info/> is the test call.",
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
    responses={200: {"description": "the test call: nothing stored"}, **BAD_EVENT},
)
async def receive_securechange(
    request: Request,
    events: EventsDep,
    metrics: MetricsDep,
    _: EventSourceDep,
    event: Annotated[str | None, Query(description="SCW_EVENT, e.g. ADVANCE")] = None,
    x_scw_event: Annotated[str | None, Header(description="SCW_EVENT (instead of ?event=)")]
    = None,
) -> JSONResponse:
    """Store a SecureChange trigger event once; 202 with its id (also for a retry)."""
    charset = _charset(request.headers.get("content-type", ""))
    if charset not in ("", "utf-8", "utf8"):
        raise UnsupportedMedia(f"the document must be UTF-8, not {charset}")
    document = await request.body()
    # Parsed in a thread (an XML document may be large); stored without holding one.
    new = await run_in_threadpool(events.parse_securechange, document, event or x_scw_event)
    if new is None:
        return JSONResponse({"test": True, "stored": False,
                             "detail": "test call answered; nothing stored"})
    return _accepted(metrics, await events.store_async(new))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/EventBody"}}},
        }
    },
    responses=BAD_EVENT,
)
async def receive_json(
    request: Request, events: EventsDep, metrics: MetricsDep, _: EventSourceDep
) -> JSONResponse:
    """Store an event sent as JSON (other workflow sources, tests); idempotent like intake."""
    body = await json_object(request)
    # Validation is a small, bounded CPU step; storing waits for the shared commit.
    return _accepted(metrics, await events.store_async(events.parse_json(body)))


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


@router.get("", responses=BAD_EVENT)
def list_events(
    events: EventsDep,
    _: ViewerDep,
    ticket_id: Annotated[int | None, Query(ge=1, le=TICKET_ID_MAX)] = None,
    event: str | None = None,
    state: str | None = None,
    source: str | None = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX,
                                           description="page: events older than this id")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Events, newest first, filtered by ticket, event name, state, source and time."""
    flt = EventFilter(ticket_id=ticket_id, event=event, state=state, source=source,
                      since=since, until=until, before_id=before_id, limit=limit)
    return [e.summary() for e in events.list(flt)]


@router.get("/{event_id}")
def read_event(
    event_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], events: EventsDep, _: ViewerDep
) -> dict[str, Any]:
    """One event with its parsed and raw document."""
    return events.get(event_id).detail()
