"""Placeholder values for one ticket and event.

Lookup order for a name: custom placeholders (``custom_functions.py``), then the
predefined ones below, then the ticket's fields by field name (current step first,
then the latest step that has the field; names compare case-insensitively).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from workflow_integrator.domain.integration import fold
from workflow_integrator.domain.matching import LEAVING_EVENTS, WorkflowEvent, current_step_name
from workflow_integrator.domain.ticket import Field, Step, Ticket
from workflow_integrator.templating.plugins import CustomFunction, call_custom

PREDEFINED: dict[str, str] = {
    "ticket_id": "The ticket's id (a number)",
    "ticket_subject": "The ticket's subject",
    "ticket_comments": "All comments as a JSON list of {content, user, created, type}",
    "latest_comment_content": "Text of the newest comment",
    "workflow_name": "The workflow's name",
    "ticket_requester": "User name of the requester",
    "ticket_requester_full_name": "Full name of the requester (the user name when unknown)",
    "ticket_start_time": "When the ticket was opened, Y/m/d H:M:S",
    "ticket_end_time": "When the ticket was closed/resolved/rejected/cancelled, Y/m/d H:M:S",
    "domain_name": "The ticket's SecureChange domain",
    "ticket_task_url": "Link to the ticket's current task in SecureChange",
    "assignee": "Handler of the current step",
    "step_name": "Name of the current step",
    "current_step_id": "Id of the current step",
    "current_task_id": "Id of the current step's task",
    "redo_reason": "Why the step was sent back (REDO only)",
    "reject_reason": "Why the ticket was rejected (REJECT only)",
    "automatic_step_failure_reason": "Why an automatic step failed (AUTOMATION_FAILED only)",
    "current_time": "Now, Y/m/d H:M:S (UTC)",
    "date_only": "Today, YYYY-mm-dd (UTC)",
    "event": "The trigger name (CREATE, ADVANCE, ...)",
}

TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
_CLOSED = ("Ticket Closed", "Ticket Resolved", "Ticket Rejected", "Ticket Cancelled")
_REASON_EVENT = {
    "redo_reason": ("REDO", ("redo",)),
    "reject_reason": ("REJECT", ("reject",)),
    "automatic_step_failure_reason": ("AUTOMATION_FAILED", ("automat", "fail")),
}


def format_time(raw: str | None) -> str:
    """SecureChange dates (ISO 8601 or epoch milliseconds) as ``Y/m/d H:M:S``; "" if none."""
    if not raw:
        return ""
    text = raw.strip()
    try:
        if text.isdigit():
            number = int(text)
            moment = datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return text
    return moment.strftime(TIME_FORMAT)


class PlaceholderValues:
    """The values of every placeholder for one ticket and event, computed on demand."""

    def __init__(
        self,
        ticket: Ticket,
        event: WorkflowEvent,
        *,
        custom: Mapping[str, CustomFunction] | None = None,
        now: datetime | None = None,
        securechange_url: str | None = None,
        create_date: str | None = None,
        update_date: str | None = None,
        requester_full_name: str | None = None,
        declared_fields: Iterable[str] = (),
    ) -> None:
        self.ticket = ticket
        self.event = event
        self._custom = dict(custom or {})
        self._now = now or datetime.now(UTC)
        self._sc_url = (securechange_url or "").rstrip("/")
        self._create_date = create_date
        self._update_date = update_date
        self._full_name = requester_full_name
        self._custom_cache: dict[str, Any] = {}
        # Declared fields the ticket lacks (a step not reached yet) read as null.
        self._declared = {fold(name) for name in declared_fields}

    # -- lookup --------------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        """The value of ``name``; KeyError if nothing has that name.

        A failing custom function raises ``PlaceholderError`` naming it.
        """
        if name in self._custom:
            if name not in self._custom_cache:
                value = call_custom(name, self._custom[name], self.ticket, self._kwargs())
                self._custom_cache[name] = _jsonable(value)
            return self._custom_cache[name]
        getter = _PREDEFINED_GETTERS.get(name)
        if getter is not None:
            return getter(self)
        found = self.field(name)
        if found is None:
            if fold(name) in self._declared:
                return None
            raise KeyError(name)
        return found.value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return (
            name in self._custom
            or name in PREDEFINED
            or fold(name) in self._declared
            or self.field(name) is not None
        )

    def field(self, name: str) -> Field | None:
        """The ticket field called ``name``: current step first, then the latest step."""
        current = self.current_step
        if current is not None:
            found = current.field(name)
            if found is not None:
                return found
        for step in reversed(self.ticket.steps):
            found = step.field(name)
            if found is not None:
                return found
        return None

    def field_names(self) -> list[str]:
        """Names of every field of the ticket, once each, in document order."""
        seen: dict[str, str] = {}
        for step in self.ticket.steps:
            for item in step.fields():
                seen.setdefault(fold(item.name), item.name)
        return list(seen.values())

    def predefined(self) -> dict[str, Any]:
        """Every predefined placeholder's value (for previews and the placeholder list)."""
        return {name: getter(self) for name, getter in _PREDEFINED_GETTERS.items()}

    # -- facts ---------------------------------------------------------------------

    @property
    def current_step(self) -> Step | None:
        """The full current step of the ticket (after the event)."""
        name = current_step_name(self.event, self.ticket)
        if self.ticket.current is not None and (
            name is None or fold(self.ticket.current.name) == fold(name)
        ):
            return self.ticket.current
        return self.ticket.step(name) if name else None

    def _kwargs(self) -> dict[str, Any]:
        return {
            "event": self.event.name,
            "workflow": self.ticket.workflow.name,
            "step_name": _step_name(self),
            "completed_step": self.event.completed_step,
        }

    def _reason(self, placeholder: str) -> str:
        event, words = _REASON_EVENT[placeholder]
        if self.event.name != event or not self.ticket.comments:
            return ""
        for comment in reversed(self.ticket.comments):
            kind = comment.type.casefold()
            if any(word in kind for word in words):
                return comment.content
        # SecureChange puts the reason into the newest comment when no type tells.
        return self.ticket.comments[-1].content


def _step_name(values: PlaceholderValues) -> str:
    step = values.current_step
    if step is not None:
        return step.name
    return current_step_name(values.event, values.ticket) or ""


def _assignee(values: PlaceholderValues) -> str:
    step = values.current_step
    if step is None:
        return ""
    return next((t.assignee for t in step.tasks if t.assignee), "")


def _task_id(values: PlaceholderValues) -> int | None:
    step = values.current_step
    if step is None or not step.tasks:
        return None
    return step.tasks[-1].id


def _task_url(values: PlaceholderValues) -> str:
    if not values._sc_url:
        return ""
    ticket = values.ticket
    url = (
        f"{values._sc_url}/securechangeworkflow/pages/myRequest/myRequestsMain.seam"
        f"?ticketId={ticket.id}"
    )
    step = values.current_step
    task = _task_id(values)
    if step is not None and step.id is not None and task is not None:
        url += f"&stepId={step.id}&taskId={task}"
    return url


def _end_time(values: PlaceholderValues) -> str:
    if values.ticket.status in _CLOSED or values.event.name in LEAVING_EVENTS:
        return format_time(values._update_date) or values._now.strftime(TIME_FORMAT)
    return ""


_PREDEFINED_GETTERS: dict[str, Callable[[PlaceholderValues], Any]] = {
    "ticket_id": lambda v: v.ticket.id,
    "ticket_subject": lambda v: v.ticket.subject,
    "ticket_comments": lambda v: [c.to_dict() for c in v.ticket.comments],
    "latest_comment_content": lambda v: v.ticket.comments[-1].content if v.ticket.comments else "",
    "workflow_name": lambda v: v.ticket.workflow.name,
    "ticket_requester": lambda v: v.ticket.requester,
    "ticket_requester_full_name": lambda v: v._full_name or v.ticket.requester,
    "ticket_start_time": lambda v: format_time(v._create_date),
    "ticket_end_time": _end_time,
    "domain_name": lambda v: v.ticket.domain_name,
    "ticket_task_url": _task_url,
    "assignee": _assignee,
    "step_name": _step_name,
    "current_step_id": lambda v: v.current_step.id if v.current_step else None,
    "current_task_id": _task_id,
    "redo_reason": lambda v: v._reason("redo_reason"),
    "reject_reason": lambda v: v._reason("reject_reason"),
    "automatic_step_failure_reason": lambda v: v._reason("automatic_step_failure_reason"),
    "current_time": lambda v: v._now.strftime(TIME_FORMAT),
    "date_only": lambda v: v._now.strftime("%Y-%m-%d"),
    "event": lambda v: v.event.name,
}
assert set(_PREDEFINED_GETTERS) == set(PREDEFINED)


def _jsonable(value: Any) -> Any:
    """Custom functions may return anything; what JSON cannot hold becomes its text."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


# -- sample values for checking templates before saving ------------------------------

SAMPLE_TEXT = 'Sample "quoted" text\\ with a\nnew line, ünïcödé ✓ and </script>'
_SAMPLE_BY_TYPE: dict[str, Any] = {
    "text_field": SAMPLE_TEXT,
    "text_area": SAMPLE_TEXT,
    "manager": "manager.user",
    "hyperlink": 'https://example.com/a?b=c&d="e"',
    "multi_text_field": [SAMPLE_TEXT, "second"],
    "multi_text_area": [SAMPLE_TEXT],
    "multi_hyperlink": ["https://example.com/"],
    "checkbox": True,
    "date": "2026-01-31",
    "time": "13:45",
    "drop_down_list": 'Option "A"',
    "multiple_selection": ["A", "B"],
    "approve_reject": {"approved": True, "reason": SAMPLE_TEXT},
    "multi_access_request": [
        {
            "order": "AR1",
            "action": "Accept",
            "sources": [{"ip_address": "10.0.0.0", "netmask": "255.0.0.0"}],
            "destinations": [{"ip_address": "8.8.8.8", "netmask": "255.255.255.255"}],
            "services": [{"protocol": "TCP", "port": "443"}],
        }
    ],
    "rule_decommission": {"action": "Remove"},
}


def sample_value(field_type: str) -> Any:
    """A value of this field type made to stress escaping (quotes, newlines, unicode)."""
    return _SAMPLE_BY_TYPE.get(field_type, [{"name": SAMPLE_TEXT}])


class SampleValues:
    """Placeholder values of a made-up ticket, for checking templates on save.

    Custom functions are not called (they may need a real ticket); they yield a sample.
    """

    def __init__(self, fields: Mapping[str, str], custom_names: list[str]) -> None:
        self._fields = {fold(name): kind for name, kind in fields.items()}
        self._custom = set(custom_names)
        self._predefined: dict[str, Any] = {
            "ticket_id": 1234,
            "ticket_subject": SAMPLE_TEXT,
            "ticket_comments": [{"content": SAMPLE_TEXT, "user": "a", "created": "", "type": ""}],
            "latest_comment_content": SAMPLE_TEXT,
            "workflow_name": "Sample workflow",
            "ticket_requester": "requester",
            "ticket_requester_full_name": "Ré Quester",
            "ticket_start_time": "2026/01/31 13:45:00",
            "ticket_end_time": "",
            "domain_name": "Default",
            "ticket_task_url": "https://securechange.example.com/securechangeworkflow/pages/"
            "myRequest/myRequestsMain.seam?ticketId=1234",
            "assignee": "handler",
            "step_name": "Sample step",
            "current_step_id": 10,
            "current_task_id": 20,
            "redo_reason": SAMPLE_TEXT,
            "reject_reason": SAMPLE_TEXT,
            "automatic_step_failure_reason": SAMPLE_TEXT,
            "current_time": "2026/01/31 13:45:00",
            "date_only": "2026-01-31",
            "event": "CREATE",
        }

    def lookup(self, name: str) -> Any:
        """A sample value of the right shape; KeyError for unknown names."""
        if name in self._custom:
            return SAMPLE_TEXT
        if name in self._predefined:
            return self._predefined[name]
        kind = self._fields.get(fold(name))
        if kind is None:
            raise KeyError(name)
        return sample_value(kind)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._custom or name in self._predefined or fold(name) in self._fields
