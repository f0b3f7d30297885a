"""The Deliveries page: filters, a live table, one delivery's attempts, replay and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from workflow_integrator.api.deps import DeliveriesDep, ServersDep
from workflow_integrator.domain.delivery import DeliveryState
from workflow_integrator.services.deliveries import (
    DeliveryQuery,
    DeliveryService,
    replayed_message,
)
from workflow_integrator.services.errors import InvalidInput, NotFound, ServiceError
from workflow_integrator.services.principals import Principal
from workflow_integrator.web.templating import principal_of, render

router = APIRouter(include_in_schema=False)

FILTERS = ("state", "server", "workflow", "ticket_id", "event_id", "since", "until")
"""The list's filters, as query parameters (and hidden fields of the bulk replay form)."""
PAGE = 50
REFRESH_SECONDS = 3


def deliveries_url(**filters: str | int) -> str:
    """The Deliveries page filtered, e.g. ``deliveries_url(event_id=7)`` for an event's link."""
    return "/deliveries" + (f"?{urlencode(filters)}" if filters else "")


def _filters(values: dict[str, str]) -> tuple[dict[str, str], DeliveryQuery, dict[str, str]]:
    """The filter values as typed, the query they make, and what is wrong with each."""
    given = {name: values.get(name, "").strip() for name in FILTERS}
    errors: dict[str, str] = {}
    numbers: dict[str, int | None] = {}
    for name in ("ticket_id", "event_id"):
        text = given[name]
        numbers[name] = None
        if text:
            if text.isdigit():
                numbers[name] = int(text)
            else:
                errors[name] = "a whole number"
    times: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        text = given[name]
        times[name] = None
        if text:
            try:
                times[name] = datetime.fromisoformat(text)
            except ValueError:
                errors[name] = "a date and time such as 2026-03-01T09:30"
    query = DeliveryQuery(
        states=(given["state"],) if given["state"] else (), server=given["server"] or None,
        workflow=given["workflow"] or None, ticket_id=numbers["ticket_id"],
        event_id=numbers["event_id"], since=times["since"], until=times["until"],
    )
    return given, query, errors


def _table_context(
    deliveries: DeliveryService, values: dict[str, str], cursor: str | None
) -> dict[str, Any]:
    given, query, errors = _filters(values)
    page = None
    if not errors:
        try:
            before = int(cursor) if cursor and cursor.isdigit() else None
            page = deliveries.list(query, cursor=before, limit=PAGE)
        except InvalidInput as exc:
            errors = {str(e["loc"][-1]): e["msg"] for e in exc.errors}
    active = {k: v for k, v in given.items() if v}
    return {
        "filters": given, "errors": errors, "page": page,
        "query_string": urlencode(active),
        "more_url": deliveries_url(**active, cursor=page.next_cursor)
        if page and page.next_cursor else None,
        "cursor": cursor if cursor and cursor.isdigit() else "",
        "refresh_seconds": REFRESH_SECONDS,
    }


@router.get("/deliveries")
def delivery_list(
    request: Request, deliveries: DeliveriesDep, servers: ServersDep,
    cursor: str | None = None, notice: str | None = None, error: str | None = None,
) -> Response:
    """Deliveries, newest first, filtered; the table refreshes itself every few seconds."""
    context = _table_context(deliveries, dict(request.query_params), cursor)
    return render(request, "deliveries/list.html", {
        **context, "states": [s.value for s in DeliveryState], "servers": servers.names(),
        "notice": notice, "error": error,
    }, status=422 if context["errors"] else 200)


@router.get("/deliveries/table")
def delivery_table(request: Request, deliveries: DeliveriesDep, cursor: str | None = None
                   ) -> Response:
    """The table alone (htmx polls it for live states)."""
    context = _table_context(deliveries, dict(request.query_params), cursor)
    return render(request, "deliveries/table.html", context)


@router.get("/deliveries/{delivery_id}")
def delivery_detail(
    request: Request, deliveries: DeliveriesDep, delivery_id: str,
    notice: str | None = None, error: str | None = None,
) -> Response:
    """One delivery with the timeline of its attempts."""
    try:
        view = deliveries.get(int(delivery_id) if delivery_id.isdigit() else 0)
    except NotFound:
        return render(request, "message.html", {
            "title": "No such delivery", "message": f"There is no delivery {delivery_id}."},
            status=404)
    return render(request, "deliveries/detail.html", {
        "d": view, "notice": notice, "error": error, "refresh_seconds": REFRESH_SECONDS,
    })


def _admin(request: Request) -> Principal | Response:
    """The signed-in admin, or the page that refuses everyone else."""
    principal = principal_of(request)
    if principal is not None and principal.can_write:
        return principal
    return render(request, "message.html", {
        "title": "Not allowed", "message": "Only admins replay or cancel deliveries."},
        status=403)


def _to_detail(delivery_id: int, **message: str) -> Response:
    return RedirectResponse(f"/deliveries/{delivery_id}?{urlencode(message)}", status_code=303)


@router.post("/deliveries/replay")
def replay_matching(
    request: Request, deliveries: DeliveriesDep,
    state: Annotated[str, Form()] = "", server: Annotated[str, Form()] = "",
    workflow: Annotated[str, Form()] = "", ticket_id: Annotated[str, Form()] = "",
    event_id: Annotated[str, Form()] = "", since: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    """Replay every delivery the current filters select (dead unless a state is chosen)."""
    admin = _admin(request)
    if isinstance(admin, Response):
        return admin
    given, query, errors = _filters({
        "state": state, "server": server, "workflow": workflow, "ticket_id": ticket_id,
        "event_id": event_id, "since": since, "until": until,
    })
    active = {k: v for k, v in given.items() if v}
    try:
        if errors:
            raise InvalidInput([{"loc": [k], "msg": v} for k, v in errors.items()])
        count = deliveries.replay_matching(query, admin.name)
    except ServiceError as exc:
        return RedirectResponse(deliveries_url(**active, error=exc.message), status_code=303)
    return RedirectResponse(
        deliveries_url(**active, notice=replayed_message(count)), status_code=303
    )


@router.post("/deliveries/{delivery_id}/replay")
def replay_one(request: Request, deliveries: DeliveriesDep, delivery_id: int) -> Response:
    """Replay one delivery (admins)."""
    admin = _admin(request)
    if isinstance(admin, Response):
        return admin
    try:
        view = deliveries.replay(delivery_id, admin.name)
    except ServiceError as exc:
        return _to_detail(delivery_id, error=exc.message)
    return _to_detail(delivery_id, notice=f"Replaying: series {view.replay_series} is pending.")


@router.post("/deliveries/{delivery_id}/cancel")
def cancel_one(
    request: Request, deliveries: DeliveriesDep, delivery_id: int,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Cancel one pending or held delivery with a reason (admins)."""
    admin = _admin(request)
    if isinstance(admin, Response):
        return admin
    try:
        deliveries.cancel(delivery_id, admin.name, reason)
    except ServiceError as exc:
        return _to_detail(delivery_id, error=exc.message)
    return _to_detail(delivery_id, notice="Cancelled.")
