"""Workflow events: what SecureChange's trigger tells WI, before any ticket is read."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from workflow_integrator.domain.ticket import JsonValue, StepRef


class TriggerEvent(StrEnum):
    """The event names SecureChange puts in ``SCW_EVENT``."""

    CREATE = "CREATE"
    CLOSE = "CLOSE"
    CANCEL = "CANCEL"
    REJECT = "REJECT"
    ADVANCE = "ADVANCE"
    REDO = "REDO"
    RESUBMIT = "RESUBMIT"
    REOPEN = "REOPEN"
    RESOLVE = "RESOLVE"
    AUTOMATION_FAILED = "AUTOMATION_FAILED"
    #: Sent by SecureChange before a step is assigned; WI accepts and ignores it.
    PRE_ASSIGNMENT_SCRIPT = "PRE_ASSIGNMENT_SCRIPT"

    @property
    def actionable(self) -> bool:
        """Whether WI acts on this event (all but the pre-assignment script)."""
        return self is not TriggerEvent.PRE_ASSIGNMENT_SCRIPT


#: The ten trigger events WI acts on, in SecureChange's documentation order.
WORKFLOW_EVENTS: tuple[TriggerEvent, ...] = tuple(e for e in TriggerEvent if e.actionable)


class EventState(StrEnum):
    """Where a stored event stands in WI's pipeline."""

    PENDING = "pending"  # stored, not yet planned
    PLANNED = "planned"  # deliveries created
    IGNORED = "ignored"  # accepted but nothing to do (pre-assignment script)
    FAILED = "failed"  # planning gave up


class EventSource(StrEnum):
    """Where an event came from."""

    SECURECHANGE = "securechange"
    API = "api"


def parse_event_name(raw: str | None) -> TriggerEvent:
    """The event for ``SCW_EVENT``; ValueError naming the valid names otherwise."""
    name = (raw or "").strip().upper()
    if not name:
        raise ValueError("the event name is missing (SCW_EVENT)")
    try:
        return TriggerEvent(name)
    except ValueError:
        valid = ", ".join(e.value for e in TriggerEvent)
        raise ValueError(f"unknown event name {raw!r}; expected one of: {valid}") from None


@dataclass(frozen=True, slots=True)
class TicketInfo:
    """The ``<ticket_info>`` document a trigger script receives on standard input."""

    id: int
    subject: str = ""
    create_date: str = ""
    update_date: str = ""
    current_stage: StepRef | None = None
    open_request_stage: StepRef | None = None
    #: The step just completed; only after an ADVANCE.
    completion_stage: StepRef | None = None

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view (the body of ``POST /api/v1/events``)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "create_date": self.create_date,
            "update_date": self.update_date,
            "current_stage": self.current_stage.to_dict() if self.current_stage else None,
            "open_request_stage": (
                self.open_request_stage.to_dict() if self.open_request_stage else None
            ),
            "completion_stage": (
                self.completion_stage.to_dict() if self.completion_stage else None
            ),
        }


def _step_ref(data: object) -> StepRef | None:
    if not isinstance(data, dict):
        return None
    raw_id = data.get("id")
    return StepRef(int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit()
                   else None, str(data.get("name") or ""))


def ticket_info_from_dict(data: dict[str, JsonValue]) -> TicketInfo:
    """The inverse of :meth:`TicketInfo.to_dict` (the stored event's ``info``)."""
    return TicketInfo(
        id=int(str(data["id"])),
        subject=str(data.get("subject") or ""),
        create_date=str(data.get("create_date") or ""),
        update_date=str(data.get("update_date") or ""),
        current_stage=_step_ref(data.get("current_stage")),
        open_request_stage=_step_ref(data.get("open_request_stage")),
        completion_stage=_step_ref(data.get("completion_stage")),
    )


def dedupe_key(source: str, ticket_id: int, event: str, update_date: str) -> str:
    """The idempotency key of an event: one stored event per (source, ticket, event, date).

    SecureChange retries a failing trigger with the same document, so a retry maps
    to the event already stored.
    """
    raw = "\x1f".join((source, str(ticket_id), event, update_date))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
