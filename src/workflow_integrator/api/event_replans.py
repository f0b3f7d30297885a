"""REST: plan failed events again (``/api/v1/events/{id}/replan``, ``/api/v1/events/replan``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.deps import AdminDep, ServicesDep
from workflow_integrator.delivery.intake import BadEvent
from workflow_integrator.domain.events import parse_event_name
from workflow_integrator.store.events import EventFilter

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class ReplanFilter(BaseModel):
    """Which failed events to plan again (all failed events when empty)."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: int | None = Field(default=None, gt=0)
    event: str | None = Field(default=None, description="e.g. CREATE")
    source: str | None = None
    since: datetime | None = Field(default=None, description="received at or after")
    until: datetime | None = Field(default=None, description="received before")


class Replanned(BaseModel):
    """How many failed events went back to pending."""

    replanned: int


@router.post("/replan", response_model=Replanned)
async def replan_failed(body: ReplanFilter, services: ServicesDep, _: AdminDep) -> Replanned:
    """Plan every failed event the filter selects again (after fixing the integration)."""
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


@router.post("/{event_id}/replan")
async def replan_one(event_id: int, services: ServicesDep, _: AdminDep) -> dict[str, Any]:
    """Plan one failed event again; 409 when it is not failed."""
    await run_in_threadpool(services.replans.replan, event_id)
    event = await run_in_threadpool(services.events.get, event_id)
    return event.summary()
