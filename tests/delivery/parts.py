"""Pieces the delivery engine tests share: claimed deliveries, ticket values, points."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from workflow_integrator.delivery.queue import ClaimedDelivery
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.domain.integration import IntegrationPoint
from workflow_integrator.domain.matching import WorkflowEvent
from workflow_integrator.domain.ticket import Field, Step, StepRef, Task, Ticket, Workflow
from workflow_integrator.templating.placeholders import PlaceholderValues

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def clock() -> ManualClock:
    """A manual clock at a fixed start."""
    return ManualClock(START)


def claimed(delivery_id: int = 41, attempt: int = 1, **changes: Any) -> ClaimedDelivery:
    """A claimed delivery as the queue hands it out."""
    base = ClaimedDelivery(
        id=delivery_id, event_id=7, ticket_id=1001, workflow="Firewall Change Request",
        point_name="open incident", server_id=1, attempt=attempt,
        idempotency_key=f"wi-delivery-{delivery_id}", order_at=START, late=False,
        replay_series=0, lease_expires_at=START + timedelta(minutes=5),
        give_up_at=START + timedelta(hours=24),
    )
    return replace(base, **changes)


def ticket(subject: str = 'Open "443" to the web farm', reference: str = "") -> Ticket:
    """A ticket in step 'Business Approval' with a text field 'ITSM reference'."""
    step = Step(id=11, name="Business Approval", tasks=(Task(id=21, fields=(
        Field(name="ITSM reference", type="text_field", value=reference, id=31),
    )),))
    return Ticket(
        id=1001, subject=subject, requester="alice",
        workflow=Workflow(5, "Firewall Change Request"), steps=(step,),
        current_step=StepRef(11, "Business Approval"),
    )


def values(the_ticket: Ticket | None = None, event: str = "CREATE") -> PlaceholderValues:
    """Placeholder values of a ticket for an event."""
    return PlaceholderValues(the_ticket or ticket(), WorkflowEvent(event),
                             declared_fields=["ITSM reference"])


def point(path: str = "/api/now/table/incident", **request: Any) -> IntegrationPoint:
    """A CREATE point sending a JSON body with the subject and ticket id."""
    body = request.pop(
        "body", '{"short_description": "{{ticket_subject}}", "correlation_id": "{{ticket_id}}"}'
    )
    response = request.pop("response", None)
    return IntegrationPoint.model_validate({
        "name": "open incident", "on": {"trigger": "CREATE"},
        "request": {"method": "POST", "path": path, "body": body, **request},
        **({"response": response} if response else {}),
    })
