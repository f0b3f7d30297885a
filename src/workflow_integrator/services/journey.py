"""A ticket's journey: everything WI did for one ticket, in time order.

Each kind of record (received events, the deliveries planned from them) is a source:
a function from a ticket id to entries. Adding a kind is adding a source, not changing
the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.services.deliveries import (
    MAX_PAGE,
    DeliveryQuery,
    DeliveryService,
    DeliveryView,
)
from workflow_integrator.store.events import EventFilter


@dataclass(frozen=True, slots=True)
class JourneyEntry:
    """One step of a ticket's journey; ``kind`` and ``ref`` let the UI link to its page."""

    at: datetime
    kind: str
    ref: int
    title: str
    state: str
    detail: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    children: tuple[JourneyEntry, ...] = field(default=())


JourneySource = Callable[[int], Iterable[JourneyEntry]]
"""Entries of one kind for a ticket id."""


def event_entries(intake: EventIntake, *, limit: int = 1000) -> JourneySource:
    """The ticket's received events as journey entries."""

    def entries(ticket_id: int) -> list[JourneyEntry]:
        events = intake.list(EventFilter(ticket_id=ticket_id, limit=limit))
        return [
            JourneyEntry(
                at=event.received_at,
                kind="event",
                ref=event.id,
                title=event.event,
                state=event.state,
                detail=event.state_reason,
                facts=tuple(
                    (label, value)
                    for label, value in (
                        ("Source", event.source),
                        ("Updated in SecureChange", event.update_date),
                        ("Received", f"{event.received_count} times")
                        if event.received_count > 1
                        else ("", ""),
                    )
                    if label and value
                ),
            )
            for event in reversed(events)  # the store answers newest first
        ]

    return entries


def delivery_entries(deliveries: DeliveryService, *, limit: int = 1000) -> JourneySource:
    """The deliveries planned for the ticket (one per workflow point and server)."""

    def entries(ticket_id: int) -> list[JourneyEntry]:
        found: list[DeliveryView] = []
        cursor: int | None = None
        while len(found) < limit:
            page = deliveries.list(
                DeliveryQuery(ticket_id=ticket_id),
                cursor=cursor,
                limit=min(MAX_PAGE, limit - len(found)),
            )
            found.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return [
            JourneyEntry(
                at=delivery.created_at,
                kind="delivery",
                ref=delivery.id,
                title=f"{delivery.point_name} to {delivery.server or 'a deleted server'}",
                state=delivery.state.value,
                detail=delivery.reason,
                facts=tuple(
                    (label, value)
                    for label, value in (
                        ("Integration", delivery.workflow),
                        ("Event", str(delivery.event_id)),
                        ("Attempts", str(delivery.attempts_made)),
                        ("Last answer", str(delivery.last_status or "")),
                        ("Write-back", delivery.writeback_state),
                    )
                    if value
                ),
            )
            for delivery in reversed(found)  # the service answers newest first
        ]

    return entries


def ticket_journey(ticket_id: int, sources: Sequence[JourneySource]) -> list[JourneyEntry]:
    """Every source's entries for the ticket, oldest first (ties keep the source order)."""
    found = [entry for source in sources for entry in source(ticket_id)]
    return sorted(found, key=lambda entry: entry.at)
