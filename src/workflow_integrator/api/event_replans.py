"""REST: plan failed events again (``/api/v1/events/{id}/replan``, ``/api/v1/events/replan``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import model_body, schema_body
from workflow_integrator.api.deps import AdminDep, ServicesDep
from workflow_integrator.api.responses import BAD_EVENT, CONFLICT
from workflow_integrator.api.timestamps import Timestamp
from workflow_integrator.delivery.intake import BadEvent
from workflow_integrator.domain.bounds import ROW_ID_MAX, TICKET_ID_MAX
from workflow_integrator.domain.events import parse_event_name
from workflow_integrator.store.events import EventFilter

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class ReplanFilter(BaseModel):
    """Which failed events to plan again (all failed events when empty)."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: int | None = Field(default=None, gt=0, le=TICKET_ID_MAX)
    event: str | None = Field(default=None, description="e.g. CREATE")
    source: str | None = None
    since: Timestamp | None = Field(default=None, description="received at or after")
    until: Timestamp | None = Field(default=None, description="received before")


class Replanned(BaseModel):
    """How many failed events went back to pending."""

    replanned: int


@router.post("/replan", response_model=Replanned, responses=BAD_EVENT,
             openapi_extra=schema_body("ReplanFilter", "Which failed events to plan again."))
async def replan_failed(request: Request, services: ServicesDep, _: AdminDep) -> Replanned:
    """Plan every failed event the filter selects again (after fixing the integration)."""
    body = await model_body(request, ReplanFilter)
    event = None
    if body.event is not None:
        try:
            event = parse_event_name(body.event).value
        except ValueError as exc:
            raise BadEvent(f"event: {exc}") from None
    flt = EventFilter(ticket_id=body.ticket_id, event=event, source=body.source,
                      since=body.since, until=body.until)
    count = await run_in_threadpool(services.replans.replan_failed, flt)
    return Replanned(replanned=count)


@router.post("/{event_id}/replan", responses={409: CONFLICT[409]})
async def replan_one(
    event_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)], services: ServicesDep, _: AdminDep
) -> dict[str, Any]:
    """Plan one failed event again; 409 when it is not failed."""
    await run_in_threadpool(services.replans.replan, event_id)
    event = await run_in_threadpool(services.events.get, event_id)
    return event.summary()
