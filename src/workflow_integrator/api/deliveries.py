"""REST: ``/api/v1/deliveries``: read deliveries with their attempts, replay and cancel them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from workflow_integrator.api.body import model_body, schema_body
from workflow_integrator.api.deps import AdminDep, DeliveriesDep, ViewerDep
from workflow_integrator.api.timestamps import Timestamp
from workflow_integrator.domain.delivery import DeliveryState
from workflow_integrator.services.deliveries import MAX_ID, MAX_PAGE, MAX_REASON, DeliveryQuery
from workflow_integrator.services.errors import InvalidInput

router = APIRouter(prefix="/api/v1/deliveries", tags=["deliveries"])

T = TypeVar("T")

_STATES = ", ".join(s.value for s in DeliveryState)
_READ: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or an unknown API token"},
    403: {"description": "the token's role may not read deliveries"},
}
_CHANGE: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or an unknown API token"},
    403: {"description": "only admins replay and cancel deliveries"},
}
_BAD_FILTER: dict[int | str, dict[str, Any]] = {
    422: {"description": "a filter is malformed; the entry names it"},
}
_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "no delivery with this id"},
    422: {"description": "the id is not a whole number from 1 to 2^63-1"},
}

DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID, description="the delivery's id")]


class FilterBody(BaseModel):
    """Which deliveries a bulk replay sends again (``dead`` ones unless ``state`` is given)."""

    model_config = ConfigDict(extra="forbid")

    state: list[str] = Field(
        default_factory=list, description=f"states to replay: dead (default), delivered, "
        f"cancelled (of {_STATES})",
    )
    server: str | None = Field(default=None, description="outbound server name")
    workflow: str | None = None
    ticket_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    event_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    since: Timestamp | None = Field(default=None, description="created at or after (ISO 8601)")
    until: Timestamp | None = Field(default=None, description="created before (ISO 8601)")

    def query(self) -> DeliveryQuery:
        """As the service takes it."""
        return DeliveryQuery(
            states=tuple(self.state), server=self.server, workflow=self.workflow,
            ticket_id=self.ticket_id, event_id=self.event_id, since=self.since,
            until=self.until,
        )


class CancelBody(BaseModel):
    """Why the delivery is cancelled (recorded with who cancelled it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class Replayed(BaseModel):
    """How many deliveries are pending again."""

    replayed: int


def _in(where: str, action: Callable[[], T]) -> T:
    """Run ``action``; its InvalidInput answers 422 naming the field under ``where``."""
    try:
        return action()
    except InvalidInput as exc:
        detail = [{**e, "loc": [where, *e["loc"]]} for e in exc.errors]
        raise HTTPException(422, detail=detail) from None


@router.get("", responses={**_READ, **_BAD_FILTER})
def list_deliveries(
    deliveries: DeliveriesDep,
    _: ViewerDep,
    state: Annotated[list[str] | None, Query(
        description=f"one or more of {_STATES} (repeat or separate by commas)")] = None,
    server: Annotated[str | None, Query(description="outbound server name")] = None,
    workflow: Annotated[str | None, Query(description="workflow name")] = None,
    ticket_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    event_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    since: Annotated[Timestamp | None, Query(description="created at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="created before")] = None,
    cursor: Annotated[int | None, Query(
        ge=1, le=MAX_ID, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """Deliveries, newest first, by state, server, workflow, ticket, event and time; paged."""
    query = DeliveryQuery(
        states=tuple(state or ()), server=server, workflow=workflow, ticket_id=ticket_id,
        event_id=event_id, since=since, until=until,
    )
    page = _in("query", lambda: deliveries.list(query, cursor=cursor, limit=limit))
    return {"items": [d.summary() for d in page.items], "next_cursor": page.next_cursor}


@router.post("/replay", response_model=Replayed, responses={**_CHANGE, **_BAD_FILTER},
             openapi_extra=schema_body("FilterBody", "Which deliveries to replay."))
async def replay_matching(
    request: Request, deliveries: DeliveriesDep, admin: AdminDep
) -> Replayed:
    """Replay every delivery the filters select: ``dead`` ones unless ``state`` says otherwise.

    Replaying delivered requests creates their records at the receiver again.
    """
    body = await model_body(request, FilterBody)
    count = await run_in_threadpool(
        _in, "body", lambda: deliveries.replay_matching(body.query(), admin.name))
    return Replayed(replayed=count)


@router.get("/{delivery_id}", responses={**_READ, **_UNKNOWN})
def read_delivery(
    delivery_id: DeliveryId, deliveries: DeliveriesDep, _: ViewerDep
) -> dict[str, Any]:
    """One delivery with every attempt of every series (secrets masked when recorded)."""
    return deliveries.get(delivery_id).detail()


@router.post(
    "/{delivery_id}/replay",
    responses={**_CHANGE, **_UNKNOWN,
               409: {"description": "not dead, delivered or cancelled, or without a server"}},
)
def replay_one(delivery_id: DeliveryId, deliveries: DeliveriesDep, admin: AdminDep
               ) -> dict[str, Any]:
    """Send the delivery again: a new attempt series, same id and ``Idempotency-Key``."""
    return deliveries.replay(delivery_id, admin.name).detail()


@router.post(
    "/{delivery_id}/cancel",
    responses={**_CHANGE, **_UNKNOWN, 409: {"description": "not pending or held"}},
    openapi_extra=schema_body("CancelBody", "Why the delivery is cancelled."),
)
async def cancel_one(
    delivery_id: DeliveryId, request: Request, deliveries: DeliveriesDep, admin: AdminDep
) -> dict[str, Any]:
    """Cancel a pending or held delivery; who and why are recorded."""
    body = await model_body(request, CancelBody)
    cancelled = await run_in_threadpool(
        _in, "body", lambda: deliveries.cancel(delivery_id, admin.name, body.reason))
    return cancelled.detail()
