"""Which integration points fire for an event, and which server each one goes to.

The rules (integrations.md):

==========================  =========================================================
point kind                  fires when
==========================  =========================================================
general trigger ``T``       the event is ``T``
step ``S`` inbound          CREATE whose current step is ``S``, or ADVANCE / REDO /
                            REOPEN / RESUBMIT landing in ``S``
step ``S`` outbound         ADVANCE whose completed step is ``S``, or CLOSE / REJECT /
                            CANCEL / RESOLVE while in ``S``
step ``S`` trigger ``T``    the event is ``T`` and it happens while in ``S``
==========================  =========================================================

"While in ``S``" is the step the event happened in: for ADVANCE the completed step
(where the handler pressed Done), otherwise the current step. When a step trigger
point fires, general trigger points for the same event are not sent. Points fire in
the order they are listed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from workflow_integrator.domain.conditions import evaluate
from workflow_integrator.domain.events import TriggerEvent as E
from workflow_integrator.domain.integration import Integration, IntegrationPoint, fold

_ENTERING = (E.CREATE, E.ADVANCE, E.REDO, E.REOPEN, E.RESUBMIT)
_LEAVING = (E.CLOSE, E.REJECT, E.CANCEL, E.RESOLVE)
ENTERING_EVENTS: frozenset[str] = frozenset(event.value for event in _ENTERING)
"""Events after which the ticket stands in a step (its ``inbound`` points fire)."""
LEAVING_EVENTS: frozenset[str] = frozenset(event.value for event in _LEAVING)
"""Events by which the ticket leaves its step (``outbound`` points fire)."""


class TicketFacts(Protocol):
    """What matching needs of a ticket (``domain.ticket.Ticket`` has it)."""

    @property
    def workflow(self) -> Any: ...  # .name

    @property
    def current_step(self) -> Any: ...  # .name or None

    @property
    def steps(self) -> Any: ...  # sequence of objects with .name


@dataclass(frozen=True, slots=True)
class WorkflowEvent:
    """The facts of one event that matching needs, beyond the ticket itself.

    ``current_step``: the step the ticket is in after the event, as the trigger reported
    it (SecureChange's ``current_stage``); None means "take it from the ticket".
    ``completed_step``: after ADVANCE, the step just completed (``completion_data``).
    """

    name: str
    completed_step: str | None = None
    current_step: str | None = None

    @classmethod
    def from_ticket_info(cls, name: str, info: Any) -> WorkflowEvent:
        """From a ``domain.events.TicketInfo`` (duck-typed to keep matching pure)."""
        current = getattr(info, "current_stage", None)
        completed = getattr(info, "completion_stage", None)
        return cls(
            name=str(name),
            completed_step=completed.name if completed is not None else None,
            current_step=current.name if current is not None else None,
        )


def current_step_name(event: WorkflowEvent, ticket: TicketFacts) -> str | None:
    """The step the ticket is in after the event.

    A closed or rejected ticket may report no current step; then the last step of the
    ticket is the one it was in.
    """
    if event.current_step:
        return event.current_step
    if ticket.current_step is not None and ticket.current_step.name:
        return str(ticket.current_step.name)
    if event.name in LEAVING_EVENTS and ticket.steps:
        return str(ticket.steps[-1].name)
    return None


def event_step_name(event: WorkflowEvent, ticket: TicketFacts) -> str | None:
    """The step the event happened in: the completed step for ADVANCE, else the current."""
    if event.name == E.ADVANCE:
        return event.completed_step
    return current_step_name(event, ticket)


def point_fires(point: IntegrationPoint, event: WorkflowEvent, ticket: TicketFacts) -> bool:
    """Whether this one point fires for the event (ignoring precedence and enabled)."""
    on = point.on
    name = event.name
    kind = on.kind
    if kind == "trigger":
        return on.trigger == name
    step = fold(on.step or "")
    if kind == "inbound":
        landed = current_step_name(event, ticket)
        return name in ENTERING_EVENTS and landed is not None and fold(landed) == step
    if kind == "outbound":
        if name == E.ADVANCE:
            return event.completed_step is not None and fold(event.completed_step) == step
        left = current_step_name(event, ticket)
        return name in LEAVING_EVENTS and left is not None and fold(left) == step
    happened_in = event_step_name(event, ticket)
    return on.trigger == name and happened_in is not None and fold(happened_in) == step


def match(
    integration: Integration,
    event: WorkflowEvent,
    ticket: TicketFacts,
    holds: Callable[[IntegrationPoint], bool] | None = None,
) -> list[IntegrationPoint]:
    """The points of ``integration`` that fire for ``event`` on ``ticket``, in list order.

    Nothing fires for a disabled integration, a disabled point or a ticket of another
    workflow. ``holds`` decides a point's ``condition`` (see :func:`condition_holds`);
    without it conditions are not looked at. A step trigger point that fires
    suppresses general trigger points.
    """
    if not integration.enabled:
        return []
    workflow = getattr(ticket.workflow, "name", "") or ""
    if workflow and fold(workflow) != fold(integration.workflow):
        return []
    fired = [
        p for p in integration.points
        if p.enabled and point_fires(p, event, ticket) and (holds is None or holds(p))
    ]
    if any(p.on.kind == "step_trigger" for p in fired):
        fired = [p for p in fired if p.on.kind != "trigger"]
    return fired


class Values(Protocol):
    """Placeholder values: ``lookup(name)`` returns one, or raises KeyError."""

    def lookup(self, name: str) -> Any: ...


def _lookup_of(values: Values | Mapping[str, Any]) -> Callable[[str], Any]:
    if isinstance(values, Mapping):
        return values.__getitem__
    return values.lookup


def condition_holds(point: IntegrationPoint, values: Values | Mapping[str, Any]) -> bool:
    """Whether the point's ``condition`` holds for the ticket (no condition: it does).

    May raise ``ConditionTimeout`` for a runaway pattern."""
    condition = point.parsed_condition
    return condition is None or evaluate(condition, _lookup_of(values))


def route(
    integration: Integration, point: IntegrationPoint, values: Values | Mapping[str, Any]
) -> str:
    """The server name a point's request goes to: the point's own, the first route that
    holds, or the default. May raise ``ConditionTimeout`` for a runaway pattern."""
    if point.server:
        return point.server
    lookup = _lookup_of(values)
    for candidate in integration.routes:
        if evaluate(candidate.condition, lookup):
            return candidate.server
    return integration.default_server
