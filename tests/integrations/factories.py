"""Tickets and integrations for the integration tests, built directly from the model."""

from __future__ import annotations

from typing import Any

from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.ticket import Comment, Field, Step, StepRef, Task, Ticket, Workflow

WORKFLOW = "Access Request"
STEPS = ("Open Request", "Business Approval", "Technical Design")


def make_ticket(
    *,
    current: str | None = "Business Approval",
    workflow: str = WORKFLOW,
    fields: dict[str, tuple[str, Any]] | None = None,
    subject: str = "Open port 443",
    comments: tuple[Comment, ...] = (),
    status: str = "In Progress",
) -> Ticket:
    """A ticket in ``workflow`` with the three usual steps; ``fields`` go into every step."""
    steps = []
    for index, name in enumerate(STEPS):
        step_fields = tuple(
            Field(name=n, type=t, value=v, id=100 + i)
            for i, (n, (t, v)) in enumerate((fields or {}).items())
        )
        steps.append(
            Step(
                id=10 + index,
                name=name,
                tasks=(Task(id=20 + index, assignee=f"handler{index}", fields=step_fields),),
            )
        )
        if name == current:
            break
    ref = None
    if current is not None:
        step = next(s for s in steps if s.name == current)
        ref = StepRef(step.id, step.name)
    return Ticket(
        id=445,
        subject=subject,
        requester="alice",
        priority="Normal",
        status=status,
        domain_name="Default",
        workflow=Workflow(7, workflow),
        steps=tuple(steps),
        current_step=ref,
        comments=comments,
    )


def point(name: str, on: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A point document."""
    return {"name": name, "on": on, **extra}


def make_integration(*points: dict[str, Any], **extra: Any) -> Integration:
    """A valid integration with these points."""
    doc: dict[str, Any] = {
        "workflow": WORKFLOW,
        "default_server": "default",
        "points": list(points),
    }
    doc.update(extra)
    return Integration.model_validate(doc)
