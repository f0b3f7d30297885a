"""The SecureChange ticket as WI sees it: a plain, typed, immutable model.

Field values are JSON-able and typed by the field's ``xsi:type``:

==============================  ==================================================
field type                      ``Field.value``
==============================  ==================================================
text_field, text_area,          ``str`` ("" when empty)
manager, hyperlink
multi_text_field,               ``list[str]``
multi_text_area, multi_hyperlink
checkbox                        ``bool``
date                            ``str`` ``YYYY-MM-DD`` or ``None``
time                            ``str`` ``HH:MM`` or ``None``
drop_down_list                  ``str`` (the selected option) or ``None``
multiple_selection              ``list[str]`` (the selected options)
approve_reject                  ``{"approved": bool | None, "reason": str}``
multi_access_request            ``list`` of access requests: ``{"id", "order",
                                "action", "sources", "destinations", "services",
                                "targets", "users", "labels", ...}``
multi_group_change,             ``list`` of objects (their XML children by name;
multi_network_object,           attributes as ``"@type"``, ``"@xsi.type"``)
multi_service, multi_target,
multi_server_decommission_request
rule_decommission               one object
==============================  ==================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

JsonValue: TypeAlias = (
    "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
)


class FieldType(StrEnum):
    """The ``xsi:type`` of a SecureChange ticket field."""

    TEXT_FIELD = "text_field"
    TEXT_AREA = "text_area"
    MULTI_TEXT_FIELD = "multi_text_field"
    MULTI_TEXT_AREA = "multi_text_area"
    CHECKBOX = "checkbox"
    DATE = "date"
    TIME = "time"
    DROP_DOWN_LIST = "drop_down_list"
    MULTIPLE_SELECTION = "multiple_selection"
    APPROVE_REJECT = "approve_reject"
    MANAGER = "manager"
    HYPERLINK = "hyperlink"
    MULTI_HYPERLINK = "multi_hyperlink"
    MULTI_ACCESS_REQUEST = "multi_access_request"
    MULTI_GROUP_CHANGE = "multi_group_change"
    MULTI_NETWORK_OBJECT = "multi_network_object"
    MULTI_SERVICE = "multi_service"
    MULTI_TARGET = "multi_target"
    MULTI_SERVER_DECOMMISSION_REQUEST = "multi_server_decommission_request"
    RULE_DECOMMISSION = "rule_decommission"


#: Field types whose value is a single string.
TEXT_TYPES = frozenset(
    {FieldType.TEXT_FIELD, FieldType.TEXT_AREA, FieldType.MANAGER, FieldType.HYPERLINK}
)
#: Field types whose value is a list of strings.
MULTI_TEXT_TYPES = frozenset(
    {FieldType.MULTI_TEXT_FIELD, FieldType.MULTI_TEXT_AREA, FieldType.MULTI_HYPERLINK}
)
#: Field types whose value is a list of structured objects.
OBJECT_LIST_TYPES = frozenset(
    {
        FieldType.MULTI_ACCESS_REQUEST,
        FieldType.MULTI_GROUP_CHANGE,
        FieldType.MULTI_NETWORK_OBJECT,
        FieldType.MULTI_SERVICE,
        FieldType.MULTI_TARGET,
        FieldType.MULTI_SERVER_DECOMMISSION_REQUEST,
    }
)


class TicketStatus(StrEnum):
    """Ticket status strings as SecureChange spells them."""

    IN_PROGRESS = "In Progress"
    RESOLVED = "Ticket Resolved"
    CLOSED = "Ticket Closed"
    CANCELLED = "Ticket Cancelled"
    REJECTED = "Ticket Rejected"


def empty_value(field_type: str) -> JsonValue:
    """The value of a field of this type that nobody filled in."""
    if field_type in TEXT_TYPES:
        return ""
    if field_type in MULTI_TEXT_TYPES or field_type in OBJECT_LIST_TYPES:
        return []
    if field_type == FieldType.MULTIPLE_SELECTION:
        return []
    if field_type == FieldType.CHECKBOX:
        return False
    if field_type == FieldType.APPROVE_REJECT:
        return {"approved": None, "reason": ""}
    if field_type == FieldType.RULE_DECOMMISSION:
        return {}
    return None


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a task: its type decides the shape of ``value``."""

    name: str
    type: str
    value: JsonValue = None
    id: int | None = None
    read_only: bool = False
    #: The choices of a drop-down list or multiple selection, in order.
    options: tuple[str, ...] = ()

    @property
    def field_type(self) -> FieldType | None:
        """The known field type, or None for a type this version does not know."""
        try:
            return FieldType(self.type)
        except ValueError:
            return None

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the field."""
        out: dict[str, JsonValue] = {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "read_only": self.read_only,
            "value": self.value,
        }
        if self.options:
            out["options"] = list(self.options)
        return out


@dataclass(frozen=True, slots=True)
class Task:
    """A task of a step: who handles it, its status and its fields."""

    id: int | None
    assignee: str = ""
    assignee_id: int | None = None
    status: str = ""
    fields: tuple[Field, ...] = ()

    def field(self, name: str) -> Field | None:
        """The field with this name (case-insensitive, surrounding spaces ignored)."""
        wanted = _fold(name)
        return next((f for f in self.fields if _fold(f.name) == wanted), None)

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the task."""
        return {
            "id": self.id,
            "assignee": self.assignee,
            "assignee_id": self.assignee_id,
            "status": self.status,
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass(frozen=True, slots=True)
class Step:
    """A workflow step of the ticket with its tasks."""

    id: int | None
    name: str
    redone: bool = False
    skipped: bool = False
    tasks: tuple[Task, ...] = ()

    def fields(self) -> Iterator[Field]:
        """Every field of every task of the step, in document order."""
        for task in self.tasks:
            yield from task.fields

    def field(self, name: str) -> Field | None:
        """The first field with this name in any task of the step."""
        wanted = _fold(name)
        return next((f for f in self.fields() if _fold(f.name) == wanted), None)

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the step."""
        return {
            "id": self.id,
            "name": self.name,
            "redone": self.redone,
            "skipped": self.skipped,
            "tasks": [t.to_dict() for t in self.tasks],
        }


@dataclass(frozen=True, slots=True)
class StepRef:
    """A reference to a step by id and name (current step, trigger stages)."""

    id: int | None
    name: str

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the reference."""
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Workflow:
    """The workflow a ticket runs in."""

    id: int | None
    name: str

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the workflow."""
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a ticket."""

    content: str
    user: str = ""
    created: str = ""
    type: str = ""

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the comment."""
        return {"content": self.content, "user": self.user, "created": self.created,
                "type": self.type}


@dataclass(frozen=True, slots=True)
class Ticket:
    """A SecureChange ticket: header, workflow, steps → tasks → fields, comments."""

    id: int
    subject: str
    requester: str = ""
    requester_id: int | None = None
    priority: str = ""
    status: str = ""
    domain_name: str = ""
    workflow: Workflow = field(default_factory=lambda: Workflow(None, ""))
    steps: tuple[Step, ...] = ()
    current_step: StepRef | None = None
    comments: tuple[Comment, ...] = ()

    def step(self, name_or_id: str | int) -> Step | None:
        """The step with this id, or the last step with this name (steps can be redone)."""
        if isinstance(name_or_id, int):
            return next((s for s in self.steps if s.id == name_or_id), None)
        wanted = _fold(name_or_id)
        matches = [s for s in self.steps if _fold(s.name) == wanted]
        return matches[-1] if matches else None

    @property
    def current(self) -> Step | None:
        """The full current step, or None when the ticket has none (closed, rejected)."""
        if self.current_step is None:
            return None
        if self.current_step.id is not None:
            found = self.step(self.current_step.id)
            if found is not None:
                return found
        return self.step(self.current_step.name)

    def field(self, name: str, step: str | int | None = None) -> Field | None:
        """The field with this name in the current step (or in ``step`` when given).

        Without a current step (a closed ticket), the last step that has the field wins.
        """
        if step is not None:
            chosen = self.step(step)
            return chosen.field(name) if chosen else None
        current = self.current
        if current is not None:
            return current.field(name)
        for candidate in reversed(self.steps):
            found = candidate.field(name)
            if found is not None:
                return found
        return None

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view of the whole ticket (the shape placeholders read)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "requester": self.requester,
            "requester_id": self.requester_id,
            "priority": self.priority,
            "status": self.status,
            "domain_name": self.domain_name,
            "workflow": self.workflow.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "current_step": self.current_step.to_dict() if self.current_step else None,
            "comments": [c.to_dict() for c in self.comments],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ticket:
        """Build a ticket from :meth:`to_dict` output (the simulator's store format)."""
        current = data.get("current_step")
        workflow = data.get("workflow") or {}
        return cls(
            id=int(data["id"]),
            subject=str(data.get("subject", "")),
            requester=str(data.get("requester", "")),
            requester_id=_opt_int(data.get("requester_id")),
            priority=str(data.get("priority", "")),
            status=str(data.get("status", "")),
            domain_name=str(data.get("domain_name", "")),
            workflow=Workflow(_opt_int(workflow.get("id")), str(workflow.get("name", ""))),
            steps=tuple(_step_from_dict(s) for s in data.get("steps", ())),
            current_step=(
                StepRef(_opt_int(current.get("id")), str(current.get("name", "")))
                if current
                else None
            ),
            comments=tuple(
                Comment(
                    content=str(c.get("content", "")),
                    user=str(c.get("user", "")),
                    created=str(c.get("created", "")),
                    type=str(c.get("type", "")),
                )
                for c in data.get("comments", ())
            ),
        )


def _step_from_dict(data: Mapping[str, Any]) -> Step:
    return Step(
        id=_opt_int(data.get("id")),
        name=str(data.get("name", "")),
        redone=bool(data.get("redone", False)),
        skipped=bool(data.get("skipped", False)),
        tasks=tuple(
            Task(
                id=_opt_int(t.get("id")),
                assignee=str(t.get("assignee", "")),
                assignee_id=_opt_int(t.get("assignee_id")),
                status=str(t.get("status", "")),
                fields=tuple(_field_from_dict(f) for f in t.get("fields", ())),
            )
            for t in data.get("tasks", ())
        ),
    )


def _field_from_dict(data: Mapping[str, Any]) -> Field:
    options: Sequence[Any] = data.get("options") or ()
    return Field(
        name=str(data["name"]),
        type=str(data["type"]),
        value=data.get("value"),
        id=_opt_int(data.get("id")),
        read_only=bool(data.get("read_only", False)),
        options=tuple(str(o) for o in options),
    )


def _opt_int(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    return int(raw)


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()
