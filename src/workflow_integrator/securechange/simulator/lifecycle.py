"""Creating and moving simulated tickets, and firing the trigger for each move."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import Any

from workflow_integrator.domain.events import TicketInfo, TriggerEvent
from workflow_integrator.domain.ticket import (
    Field,
    JsonValue,
    Step,
    StepRef,
    Task,
    Ticket,
    TicketStatus,
    Workflow,
    empty_value,
)
from workflow_integrator.securechange.simulator.store import (
    SimulatorState,
    SimWorkflow,
    StoredTicket,
    TicketStore,
)
from workflow_integrator.securechange.simulator.triggers import TriggerRunner
from workflow_integrator.securechange.trigger_info import render_ticket_info


class SimulatorError(ValueError):
    """A move that the ticket's state does not allow, or an unknown ticket/step/field."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


class Move(StrEnum):
    """What a user can do to a ticket; each fires the matching trigger event."""

    ADVANCE = "advance"
    REDO = "redo"
    REJECT = "reject"
    CANCEL = "cancel"
    CLOSE = "close"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    RESUBMIT = "resubmit"
    AUTOMATION_FAILURE = "automation-failure"


_OPEN = TicketStatus.IN_PROGRESS.value


class Simulator:
    """The simulated SecureChange: a ticket store plus the trigger runner."""

    def __init__(self, store: TicketStore, triggers: TriggerRunner | None = None) -> None:
        self.store = store
        self.triggers = triggers or TriggerRunner()

    # ------------------------------------------------------------ reading

    def ticket(self, ticket_id: int) -> Ticket:
        """The ticket with this id; SimulatorError(404) when there is none."""
        with self.store.read() as state:
            return _stored(state, ticket_id).ticket

    def ticket_info(self, ticket_id: int) -> TicketInfo:
        """The trigger document SecureChange would send for this ticket now."""
        with self.store.read() as state:
            return _info(_stored(state, ticket_id))

    # ------------------------------------------------------------ moves

    def create_ticket(
        self,
        subject: str,
        workflow: str,
        *,
        requester: str = "api",
        priority: str = "Normal",
        domain_name: str = "",
        fields: Mapping[str, JsonValue] | None = None,
    ) -> Ticket:
        """Open a ticket in a workflow's first step, fill ``fields`` there; fires CREATE."""
        if not subject.strip():
            raise SimulatorError("subject must not be empty", 400)
        with self.store.change() as state:
            flow = state.workflow(workflow)
            if flow is None:
                known = ", ".join(sorted(state.workflows)) or "none"
                raise SimulatorError(f"unknown workflow {workflow!r}; known: {known}", 400)
            user = state.user_by_name(requester)
            first = _new_step(state, flow, 0, previous=None)
            first = _fill(first, fields or {})
            ticket = Ticket(
                id=state.new_ticket_id(),
                subject=subject,
                requester=requester,
                requester_id=user.id if user else None,
                priority=priority,
                status=_OPEN,
                domain_name=domain_name,
                workflow=Workflow(flow.id, flow.name),
                steps=(first,),
                current_step=StepRef(first.id, first.name),
            )
            now = _tick(state)
            stored = StoredTicket(ticket, now, now)
            state.tickets[ticket.id] = stored
            info = _info(stored)
        self.triggers.fire(ticket.id, TriggerEvent.CREATE, render_ticket_info(info))
        return ticket

    def move(
        self,
        ticket_id: int,
        move: Move | str,
        *,
        fields: Mapping[str, JsonValue] | None = None,
        to_step: str | None = None,
    ) -> Ticket:
        """Apply a move to a ticket and fire its trigger event.

        ``fields`` fills fields of the current step first (e.g. before an advance);
        ``to_step`` names the step a redo returns to (default: the previous step).
        """
        try:
            action = Move(move)
        except ValueError:
            valid = ", ".join(m.value for m in Move)
            raise SimulatorError(f"unknown move {move!r}; expected one of: {valid}", 400) from None
        with self.store.change() as state:
            stored = _stored(state, ticket_id)
            ticket = stored.ticket
            if fields:
                ticket = _fill_current(ticket, fields)
            ticket, event, completed = _apply(state, ticket, action, to_step)
            stored.ticket = ticket
            stored.update_date = _tick(state)
            info = _info(stored, completed)
        self.triggers.fire(ticket.id, event, render_ticket_info(info))
        return ticket

    def update_fields(
        self, ticket_id: int, step_id: int, task_id: int, updates: Sequence[Field]
    ) -> Ticket:
        """Replace field values of one task (matched by field id, else by name)."""
        with self.store.change() as state:
            stored = _stored(state, ticket_id)
            task = _task(stored.ticket, step_id, task_id)
            new_fields = list(task.fields)
            for update in updates:
                index = next(
                    (i for i, f in enumerate(new_fields)
                     if (update.id is not None and f.id == update.id)
                     or (update.id is None and f.name == update.name)),
                    None,
                )
                if index is None:
                    raise SimulatorError(
                        f"task {task_id} has no field {update.id or update.name!r}", 404
                    )
                current = new_fields[index]
                if current.type != update.type:
                    raise SimulatorError(
                        f"field {current.name!r} is a {current.type}, not a {update.type}", 400
                    )
                new_fields[index] = replace(current, value=update.value)
            stored.ticket = _replace_task(stored.ticket, step_id,
                                          replace(task, fields=tuple(new_fields)))
            stored.update_date = _tick(state)
            return stored.ticket


def _stored(state: SimulatorState, ticket_id: int) -> StoredTicket:
    stored = state.tickets.get(ticket_id)
    if stored is None:
        raise SimulatorError(f"ticket {ticket_id} does not exist", 404)
    return stored


def _tick(state: SimulatorState) -> int:
    # Strictly increasing so two moves never share an updateDate (WI dedupes on it).
    now = max(int(time.time() * 1000), state.last_update_ms + 1)
    state.last_update_ms = now
    return now


def _info(stored: StoredTicket, completed: Step | None = None) -> TicketInfo:
    ticket = stored.ticket
    current = ticket.current_step
    if current is None and ticket.steps:
        current = StepRef(ticket.steps[-1].id, ticket.steps[-1].name)
    first = ticket.steps[0] if ticket.steps else None
    return TicketInfo(
        id=ticket.id,
        subject=ticket.subject,
        create_date=str(stored.create_date),
        update_date=str(stored.update_date),
        current_stage=current,
        open_request_stage=StepRef(first.id, first.name) if first else None,
        completion_stage=StepRef(completed.id, completed.name) if completed else None,
    )


def _apply(
    state: SimulatorState, ticket: Ticket, action: Move, to_step: str | None
) -> tuple[Ticket, TriggerEvent, Step | None]:
    status = ticket.status
    current = ticket.current
    if action in (Move.ADVANCE, Move.REDO, Move.REJECT, Move.CANCEL, Move.RESOLVE,
                  Move.AUTOMATION_FAILURE) and (status != _OPEN or current is None):
        raise SimulatorError(f"ticket {ticket.id} is {status!r}; {action} needs an open ticket")
    if action is Move.ADVANCE:
        assert current is not None
        ticket = _replace_task_status(ticket, current, "DONE")
        flow = state.workflow(ticket.workflow.name)
        index = flow.step_index(current.name) if flow else None
        if flow is None or index is None or index + 1 >= len(flow.steps):
            resolved = replace(ticket, status=TicketStatus.RESOLVED.value, current_step=None)
            return resolved, TriggerEvent.RESOLVE, current
        done_step = ticket.current
        nxt = _new_step(state, flow, index + 1, previous=done_step)
        advanced = replace(ticket, steps=(*ticket.steps, nxt),
                           current_step=StepRef(nxt.id, nxt.name))
        return advanced, TriggerEvent.ADVANCE, done_step
    if action is Move.REDO:
        assert current is not None
        target = _redo_target(ticket, current, to_step)
        again = Step(
            id=state.new_id(), name=target.name, redone=True,
            tasks=tuple(
                replace(t, id=state.new_id(), status="ASSIGNED",
                        fields=tuple(replace(f, id=state.new_id()) for f in t.fields))
                for t in target.tasks
            ),
        )
        redone = replace(ticket, steps=(*ticket.steps, again),
                         current_step=StepRef(again.id, again.name))
        return redone, TriggerEvent.REDO, None
    if action is Move.REJECT:
        return replace(ticket, status=TicketStatus.REJECTED.value), TriggerEvent.REJECT, None
    if action is Move.CANCEL:
        return replace(ticket, status=TicketStatus.CANCELLED.value), TriggerEvent.CANCEL, None
    if action is Move.RESOLVE:
        resolved = replace(ticket, status=TicketStatus.RESOLVED.value, current_step=None)
        return resolved, TriggerEvent.RESOLVE, None
    if action is Move.AUTOMATION_FAILURE:
        return ticket, TriggerEvent.AUTOMATION_FAILED, None
    if action is Move.CLOSE:
        if status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
            raise SimulatorError(f"ticket {ticket.id} is already {status!r}")
        closed = replace(ticket, status=TicketStatus.CLOSED.value, current_step=None)
        return closed, TriggerEvent.CLOSE, None
    if action is Move.REOPEN:
        if status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            raise SimulatorError(f"ticket {ticket.id} is {status!r}; only a resolved or "
                                 "closed ticket can be reopened")
        last = ticket.steps[-1]
        reopened = replace(ticket, status=_OPEN, current_step=StepRef(last.id, last.name))
        return _replace_task_status(reopened, last, "ASSIGNED"), TriggerEvent.REOPEN, None
    # RESUBMIT: a rejected ticket goes back to its first step.
    if status != TicketStatus.REJECTED:
        raise SimulatorError(f"ticket {ticket.id} is {status!r}; only a rejected ticket "
                             "can be resubmitted")
    first = ticket.steps[0]
    resubmitted = replace(ticket, status=_OPEN, current_step=StepRef(first.id, first.name))
    return _replace_task_status(resubmitted, first, "ASSIGNED"), TriggerEvent.RESUBMIT, None


def _redo_target(ticket: Ticket, current: Step, to_step: str | None) -> Step:
    if to_step is not None:
        target = ticket.step(to_step)
        if target is None:
            raise SimulatorError(f"ticket {ticket.id} has no step {to_step!r}", 400)
        return target
    names = [s.name for s in ticket.steps]
    position = max(i for i, s in enumerate(ticket.steps) if s.id == current.id)
    for step in reversed(ticket.steps[:position]):
        if step.name != current.name:
            return step
    raise SimulatorError(f"ticket {ticket.id} has no earlier step to redo ({names})")


def _new_step(
    state: SimulatorState, flow: SimWorkflow, index: int, previous: Step | None
) -> Step:
    name, templates = flow.steps[index]
    carried = {f.name: f for f in previous.fields()} if previous else {}
    fields = []
    for template in templates:
        old = carried.get(template.name)
        if old is not None and old.type == template.type:
            value = old.value
        elif template.default is not None:
            value = template.default
        else:
            value = empty_value(template.type)
        fields.append(Field(name=template.name, type=template.type, value=value,
                            id=state.new_id(), options=template.options))
    task = Task(id=state.new_id(), assignee="", status="ASSIGNED", fields=tuple(fields))
    return Step(id=state.new_id(), name=name, tasks=(task,))


def _fill(step: Step, values: Mapping[str, Any]) -> Step:
    remaining = dict(values)
    tasks = []
    for task in step.tasks:
        new_fields = []
        for field_ in task.fields:
            if field_.name in remaining:
                new_fields.append(replace(field_, value=remaining.pop(field_.name)))
            else:
                new_fields.append(field_)
        tasks.append(replace(task, fields=tuple(new_fields)))
    if remaining:
        names = ", ".join(f.name for f in step.fields())
        raise SimulatorError(
            f"step {step.name!r} has no field {sorted(remaining)[0]!r}; its fields: {names}", 400
        )
    return replace(step, tasks=tuple(tasks))


def _fill_current(ticket: Ticket, values: Mapping[str, Any]) -> Ticket:
    current = ticket.current
    if current is None:
        raise SimulatorError(f"ticket {ticket.id} has no current step to fill")
    filled = _fill(current, values)
    return replace(ticket, steps=tuple(filled if s.id == current.id else s for s in ticket.steps))


def _replace_task_status(ticket: Ticket, step: Step, status: str) -> Ticket:
    new_step = replace(step, tasks=tuple(replace(t, status=status) for t in step.tasks))
    return replace(ticket, steps=tuple(new_step if s.id == step.id else s for s in ticket.steps))


def _task(ticket: Ticket, step_id: int, task_id: int) -> Task:
    step = ticket.step(step_id)
    if step is None:
        raise SimulatorError(f"ticket {ticket.id} has no step {step_id}", 404)
    task = next((t for t in step.tasks if t.id == task_id), None)
    if task is None:
        raise SimulatorError(f"step {step_id} has no task {task_id}", 404)
    return task


def _replace_task(ticket: Ticket, step_id: int, task: Task) -> Ticket:
    steps = tuple(
        replace(s, tasks=tuple(task if t.id == task.id else t for t in s.tasks))
        if s.id == step_id else s
        for s in ticket.steps
    )
    return replace(ticket, steps=steps)
