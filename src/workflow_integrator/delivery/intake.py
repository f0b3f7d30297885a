"""Intake: validate a workflow event, store it once, and say which event it is.

The first step of delivery (``delivery.md``): nothing is planned or sent here, so
the answer to SecureChange is quick and means only "stored durably".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import logs
from workflow_integrator.domain.bounds import (
    MAX_DATE_CHARS,
    MAX_STEP_NAME_CHARS,
    MAX_SUBJECT_CHARS,
    ROW_ID_MAX,
    TICKET_ID_MAX,
    check_characters,
    row_id_in_range,
)
from workflow_integrator.domain.events import (
    EventSource,
    EventState,
    TicketInfo,
    TriggerEvent,
    dedupe_key,
    parse_event_name,
)
from workflow_integrator.domain.ticket import StepRef
from workflow_integrator.securechange.documents import DocumentError
from workflow_integrator.securechange.trigger_info import parse_ticket_info
from workflow_integrator.services.errors import (
    NotFound,
    ServiceError,
    UnsupportedMedia,
    describe_validation_errors,
)
from workflow_integrator.store import events as event_store
from workflow_integrator.store.events import EventFilter, EventRow, NewEvent

MAX_LIST_LIMIT = 1000


class BadEvent(ServiceError):
    """The event cannot be accepted as sent (HTTP 400); the message says why."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An accepted event as the interfaces show it."""

    id: int
    source: str
    ticket_id: int
    event: str
    update_date: str
    state: str
    state_reason: str | None
    received_at: datetime
    received_count: int
    info: dict[str, Any]
    content_type: str
    document: str
    request_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-able view without the raw document."""
        return {
            "id": self.id, "source": self.source, "ticket_id": self.ticket_id,
            "event": self.event, "update_date": self.update_date, "state": self.state,
            "state_reason": self.state_reason, "received_at": self.received_at.isoformat(),
            "received_count": self.received_count, "subject": self.info.get("subject", ""),
        }

    def detail(self) -> dict[str, Any]:
        """A JSON-able view with the parsed and the raw document."""
        return {**self.summary(), "info": self.info, "content_type": self.content_type,
                "document": self.document, "request_id": self.request_id}


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """The stored event and whether this call stored it (False: a retry of a stored one)."""

    event: StoredEvent
    created: bool


def _storable(value: str) -> str:
    return check_characters(value, "text")


#: A ticket or step id: a JSON integer (not a string, boolean or fraction) within bounds.
StrictId = Annotated[int, Field(strict=True, gt=0, le=TICKET_ID_MAX)]
StorableText = Annotated[str, Field(strict=True), AfterValidator(_storable)]


class _Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictId | None = None
    name: Annotated[StorableText, Field(max_length=MAX_STEP_NAME_CHARS)] = ""


class EventBody(BaseModel):
    """``POST /api/v1/events``: a workflow event as JSON."""

    model_config = ConfigDict(extra="forbid")

    event: str = Field(description="CREATE, ADVANCE, ... (SecureChange's SCW_EVENT names)",
                       strict=True, max_length=32)
    source: str = Field(default=EventSource.API.value, max_length=32, strict=True,
                        pattern=r"^[a-z][a-z0-9_-]*$")
    ticket: TicketBody


class TicketBody(BaseModel):
    """The ticket part of a JSON event: the fields of SecureChange's ``<ticket_info>``."""

    model_config = ConfigDict(extra="forbid")

    id: StrictId
    subject: Annotated[StorableText, Field(max_length=MAX_SUBJECT_CHARS)] = ""
    create_date: Annotated[StorableText, Field(max_length=MAX_DATE_CHARS)] = ""
    update_date: Annotated[StorableText, Field(max_length=MAX_DATE_CHARS)] = ""
    current_stage: _Stage | None = None
    open_request_stage: _Stage | None = None
    completion_stage: _Stage | None = None


EventBody.model_rebuild()


class EventIntake:
    """Validates, dedupes and stores events; lists them for the API, CLI and UI."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        #: Called (in the storing thread) after new events are stored: delivery looks at once.
        self.on_stored: list[Callable[[], None]] = []
        self._writer = event_store.EventWriter(sessions, self.on_stored)

    def receive_securechange(
        self, document: bytes, event_name: str | None
    ) -> IntakeResult | None:
        """Accept a SecureChange trigger document; None for the empty test document.

        UnsupportedMedia when the bytes are not UTF-8: the stored document is shown as is.
        """
        new = self.parse_securechange(document, event_name)
        return self.store(new) if new is not None else None

    def store(self, new: NewEvent) -> IntakeResult:
        """Store a parsed event once; returns when it is committed."""
        row, created = self._writer.insert_once(new)
        return IntakeResult(_view(row), created)

    async def store_async(self, new: NewEvent) -> IntakeResult:
        """Like :meth:`store`, awaited: no thread waits while the shared commit is made.

        Shielded: a caller that goes away does not unstore the event, and the writer is
        not left holding a cancelled future.
        """
        row, created = await asyncio.shield(asyncio.wrap_future(self._writer.submit(new)))
        return IntakeResult(_view(row), created)

    def parse_securechange(self, document: bytes, event_name: str | None) -> NewEvent | None:
        """The event in a SecureChange trigger document (None: the empty test document).

        BadEvent or UnsupportedMedia when it cannot be accepted.
        """
        try:
            text = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedMedia(
                f"ticket_info: the document is not valid UTF-8 (byte {exc.start}); "
                "send it encoded as UTF-8"
            ) from None
        try:
            info = parse_ticket_info(text)
        except DocumentError as exc:
            raise BadEvent(f"ticket_info: {exc}") from None
        if info is None:
            return None
        event = self._event(event_name)
        return _new_event(EventSource.SECURECHANGE.value, event, info, text, "application/xml")

    def parse_json(self, body: dict[str, Any]) -> NewEvent:
        """The event in a JSON body (:class:`EventBody`); BadEvent naming the first problem."""
        try:
            parsed = EventBody.model_validate(body)
        except ValidationError as exc:
            first = describe_validation_errors(exc.errors(), body)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise BadEvent(f"{where}: {first['msg']}{more}") from None
        event = self._event(parsed.event)
        t = parsed.ticket
        info = TicketInfo(
            id=t.id, subject=t.subject, create_date=t.create_date, update_date=t.update_date,
            current_stage=_ref(t.current_stage), open_request_stage=_ref(t.open_request_stage),
            completion_stage=_ref(t.completion_stage),
        )
        text = json.dumps(body, sort_keys=True)
        return _new_event(parsed.source, event, info, text, "application/json")

    def get(self, event_id: int) -> StoredEvent:
        """One event; NotFound when there is none."""
        row = event_store.get(self._sessions, event_id) if row_id_in_range(event_id) else None
        if row is None:
            raise NotFound(f"event {event_id} does not exist")
        return _view(row)

    def list(self, flt: EventFilter) -> list[StoredEvent]:
        """Events matching the filter, newest first; BadEvent for bad filter values."""
        if not 1 <= flt.limit <= MAX_LIST_LIMIT:
            raise BadEvent(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {flt.limit}")
        if flt.ticket_id is not None and not 1 <= flt.ticket_id <= TICKET_ID_MAX:
            raise BadEvent(f"ticket_id must be between 1 and {TICKET_ID_MAX}, "
                           f"got {flt.ticket_id}")
        if flt.before_id is not None and not row_id_in_range(flt.before_id):
            raise BadEvent(f"before_id must be between 1 and {ROW_ID_MAX}, got {flt.before_id}")
        if flt.event is not None:
            flt = replace(flt, event=self._event(flt.event).value)
        if flt.state is not None and flt.state not in {s.value for s in EventState}:
            valid = ", ".join(s.value for s in EventState)
            raise BadEvent(f"unknown state {flt.state!r}; expected one of: {valid}")
        return [_view(r) for r in event_store.list_events(self._sessions, flt)]

    @staticmethod
    def _event(name: str | None) -> TriggerEvent:
        try:
            return parse_event_name(name)
        except ValueError as exc:
            raise BadEvent(str(exc)) from None



def _new_event(
    source: str, event: TriggerEvent, info: TicketInfo, text: str, content_type: str
) -> NewEvent:
    # Without updateDate a retry is recognised by its identical document instead.
    stamp = info.update_date or "doc:" + hashlib.sha256(text.encode()).hexdigest()
    return NewEvent(
        source=source,
        ticket_id=info.id,
        event=event.value,
        update_date=info.update_date,
        state=(EventState.PENDING if event.actionable else EventState.IGNORED).value,
        info=info.to_dict(),
        document=text,
        content_type=content_type,
        dedupe_key=dedupe_key(source, info.id, event.value, stamp),
        request_id=logs.context_fields().get("request_id"),
    )


def _ref(stage: _Stage | None) -> StepRef | None:
    return StepRef(stage.id, stage.name) if stage is not None else None


def _view(row: EventRow) -> StoredEvent:
    return StoredEvent(
        id=row.id, source=row.source, ticket_id=row.ticket_id, event=row.event,
        update_date=row.update_date, state=row.state, state_reason=row.state_reason,
        received_at=row.received_at, received_count=row.received_count, info=dict(row.info),
        content_type=row.content_type, document=row.document, request_id=row.request_id,
    )
