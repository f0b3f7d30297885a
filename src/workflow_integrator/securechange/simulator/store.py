"""The simulator's state: tickets, users and workflows, kept in one JSON file."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from workflow_integrator.domain.ticket import Field, FieldType, JsonValue, Ticket, empty_value
from workflow_integrator.securechange.documents import child_text, parse_xml
from workflow_integrator.securechange.ticket_format import ticket_from_element


@dataclass(frozen=True, slots=True)
class SimUser:
    """A SecureChange user as ``GET /users/{id}`` shows it."""

    id: int
    name: str
    email: str
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view."""
        return {
            "id": self.id, "name": self.name, "email": self.email,
            "display_name": self.display_name, "first_name": self.first_name,
            "last_name": self.last_name,
        }


@dataclass(frozen=True, slots=True)
class FieldTemplate:
    """A field a workflow step shows, with its choices and an optional default value."""

    name: str
    type: str
    options: tuple[str, ...] = ()
    default: JsonValue = None

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view."""
        return {"name": self.name, "type": self.type, "options": list(self.options),
                "default": self.default}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldTemplate:
        """Read a template; ValueError naming a bad field type."""
        ftype = str(data.get("type", ""))
        try:
            FieldType(ftype)
        except ValueError:
            valid = ", ".join(t.value for t in FieldType)
            raise ValueError(f"field {data.get('name')!r}: unknown type {ftype!r}; "
                             f"expected one of: {valid}") from None
        return cls(
            name=str(data["name"]),
            type=ftype,
            options=tuple(str(o) for o in data.get("options") or ()),
            default=data.get("default"),
        )


@dataclass(frozen=True, slots=True)
class SimWorkflow:
    """A workflow definition: ordered steps, each with its field templates."""

    id: int
    name: str
    steps: tuple[tuple[str, tuple[FieldTemplate, ...]], ...]

    def to_dict(self) -> dict[str, JsonValue]:
        """A JSON-able view."""
        return {
            "id": self.id,
            "name": self.name,
            "steps": [
                {"name": name, "fields": [f.to_dict() for f in fields]}
                for name, fields in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimWorkflow:
        """Read a definition; ValueError on a workflow without steps."""
        steps = tuple(
            (str(s["name"]), tuple(FieldTemplate.from_dict(f) for f in s.get("fields") or ()))
            for s in data.get("steps") or ()
        )
        if not steps:
            raise ValueError(f"workflow {data.get('name')!r} needs at least one step")
        return cls(id=int(data["id"]), name=str(data["name"]), steps=steps)

    def step_index(self, name: str) -> int | None:
        """Position of the step with this name in the workflow."""
        folded = name.casefold()
        return next((i for i, (n, _) in enumerate(self.steps) if n.casefold() == folded), None)


@dataclass(slots=True)
class StoredTicket:
    """A ticket plus what SecureChange keeps beside it (dates in epoch milliseconds)."""

    ticket: Ticket
    create_date: int
    update_date: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to the state file."""
        return {"ticket": self.ticket.to_dict(), "create_date": self.create_date,
                "update_date": self.update_date}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredTicket:
        """Read the state-file form."""
        return cls(Ticket.from_dict(data["ticket"]), int(data["create_date"]),
                   int(data["update_date"]))


@dataclass(slots=True)
class SimulatorState:
    """Everything the simulator knows."""

    tickets: dict[int, StoredTicket] = field(default_factory=dict)
    users: dict[int, SimUser] = field(default_factory=dict)
    workflows: dict[str, SimWorkflow] = field(default_factory=dict)
    next_object_id: int = 100_000
    last_update_ms: int = 0

    def new_id(self) -> int:
        """A fresh id for a step, task or field."""
        self.next_object_id += 1
        return self.next_object_id

    def new_ticket_id(self) -> int:
        """The next ticket number."""
        return max(self.tickets, default=0) + 1

    def workflow(self, name: str) -> SimWorkflow | None:
        """The workflow with this name (case-insensitive)."""
        folded = name.casefold()
        return next((w for w in self.workflows.values() if w.name.casefold() == folded), None)

    def user_by_name(self, name: str) -> SimUser | None:
        """The user with this login name."""
        return next((u for u in self.users.values() if u.name == name), None)


class TicketStore:
    """Thread-safe holder of the simulator state, saved to a JSON file after each change.

    Without a path the state lives in memory only.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        if path is not None and path.exists():
            self._state = _load(path)
        else:
            self._state = seed_state()
            self._save()

    @contextmanager
    def change(self) -> Iterator[SimulatorState]:
        """Change the state under the lock; saved when the block ends without error."""
        with self._lock:
            yield self._state
            self._save()

    @contextmanager
    def read(self) -> Iterator[SimulatorState]:
        """Read the state under the lock."""
        with self._lock:
            yield self._state

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "tickets": [t.to_dict() for t in self._state.tickets.values()],
            "users": [u.to_dict() for u in self._state.users.values()],
            "workflows": [w.to_dict() for w in self._state.workflows.values()],
            "next_object_id": self._state.next_object_id,
            "last_update_ms": self._state.last_update_ms,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a crash never leaves a half-written state file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".sim-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, self.path)


def _load(path: Path) -> SimulatorState:
    data = json.loads(path.read_text(encoding="utf-8"))
    state = SimulatorState(
        next_object_id=int(data.get("next_object_id", 100_000)),
        last_update_ms=int(data.get("last_update_ms", 0)),
    )
    for raw in data.get("tickets", []):
        stored = StoredTicket.from_dict(raw)
        state.tickets[stored.ticket.id] = stored
    for raw in data.get("users", []):
        user = SimUser(**raw)
        state.users[user.id] = user
    for raw in data.get("workflows", []):
        workflow = SimWorkflow.from_dict(raw)
        state.workflows[workflow.name] = workflow
    return state


def sample_text(name: str) -> str:
    """One of the shipped SecureChange sample documents."""
    return (resources.files("workflow_integrator.securechange.samples") / name).read_text(
        encoding="utf-8"
    )


#: A demo workflow whose first step shows every field type SecureChange has.
DEMO_WORKFLOW = {
    "id": 900,
    "name": "Firewall Change Request",
    "steps": [
        {
            "name": "Open request",
            "fields": [
                {"name": "Business Justification", "type": "text_area"},
                {"name": "Change Window", "type": "text_field"},
                {"name": "Contacts", "type": "multi_text_field"},
                {"name": "Notes", "type": "multi_text_area"},
                {"name": "Urgent", "type": "checkbox"},
                {"name": "Due Date", "type": "date"},
                {"name": "Start Time", "type": "time"},
                {"name": "Environment", "type": "drop_down_list",
                 "options": ["Production", "Staging", "Development"]},
                {"name": "Regions", "type": "multiple_selection",
                 "options": ["EMEA", "AMER", "APAC"]},
                {"name": "Manager", "type": "manager"},
                {"name": "Reference", "type": "hyperlink"},
                {"name": "Links", "type": "multi_hyperlink"},
                {"name": "Required Access", "type": "multi_access_request"},
                {"name": "Group Changes", "type": "multi_group_change"},
                {"name": "Network Objects", "type": "multi_network_object"},
                {"name": "Services", "type": "multi_service"},
                {"name": "Targets", "type": "multi_target"},
                {"name": "Servers", "type": "multi_server_decommission_request"},
                {"name": "Rule Decommission", "type": "rule_decommission"},
            ],
        },
        {"name": "Business Approval",
         "fields": [{"name": "Approval", "type": "approve_reject"}]},
        {"name": "Implementation",
         "fields": [{"name": "External Ticket", "type": "text_field"},
                    {"name": "External Status", "type": "text_field"}]},
        {"name": "Verification", "fields": [{"name": "Verified", "type": "checkbox"}]},
    ],
}


def seed_state() -> SimulatorState:
    """The initial state: the sample ticket(s), users and workflows of the samples."""
    state = SimulatorState(last_update_ms=1_700_000_000_000)
    tickets_root = parse_xml(sample_text("tickets.xml"))
    tickets = [ticket_from_element(e) for e in tickets_root.iterfind("ticket")]
    # ticket.xml is the richer copy of ticket 445; it wins over the list entry.
    single = ticket_from_element(parse_xml(sample_text("ticket.xml")))
    by_id = {t.id: t for t in tickets} | {single.id: single}
    for ticket in by_id.values():
        state.tickets[ticket.id] = StoredTicket(ticket, state.last_update_ms,
                                                state.last_update_ms)
        if ticket.workflow.name and state.workflow(ticket.workflow.name) is None:
            state.workflows[ticket.workflow.name] = _workflow_of(ticket)
    demo = SimWorkflow.from_dict(DEMO_WORKFLOW)
    state.workflows[demo.name] = demo
    user_root = parse_xml(sample_text("user.xml"))
    sample_user = SimUser(
        id=int(child_text(user_root, "id") or 0),
        name=child_text(user_root, "name") or "",
        email=child_text(user_root, "email") or "",
        display_name=child_text(user_root, "display_name") or "",
        first_name=child_text(user_root, "first_name") or "",
        last_name=child_text(user_root, "last_name") or "",
    )
    state.users[sample_user.id] = sample_user
    for ticket in by_id.values():
        if ticket.requester_id is not None and ticket.requester_id not in state.users:
            state.users[ticket.requester_id] = SimUser(
                id=ticket.requester_id, name=ticket.requester,
                email=f"{ticket.requester}@example.com", display_name=ticket.requester,
            )
    state.users.setdefault(1, SimUser(id=1, name="api", email="api@example.com",
                                      display_name="API user"))
    state.next_object_id = max(
        [state.next_object_id, *(_max_id(t.ticket) for t in state.tickets.values())]
    )
    return state


def _workflow_of(ticket: Ticket) -> SimWorkflow:
    steps = []
    for step in ticket.steps:
        templates = tuple(
            FieldTemplate(f.name, f.type, f.options, _template_default(f))
            for f in step.fields()
        )
        steps.append((step.name, templates))
    return SimWorkflow(id=ticket.workflow.id or 0, name=ticket.workflow.name, steps=tuple(steps))


def _template_default(field_: Field) -> JsonValue:
    return None if field_.value == empty_value(field_.type) else field_.value


def _max_id(ticket: Ticket) -> int:
    ids = [0]
    for step in ticket.steps:
        ids.append(step.id or 0)
        for task in step.tasks:
            ids.append(task.id or 0)
            ids.extend(f.id or 0 for f in task.fields)
    return max(ids)
