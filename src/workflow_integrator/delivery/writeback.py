"""Write a delivered request's mapped response values into its ticket.

Fields are found by name in the ticket's current step first, then in the latest
step that has them, and written through SecureChange's REST API. A write-back that
fails is retried on its own: the request is never sent again for it.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from workflow_integrator.delivery.queue import ClaimedWriteback
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.retry import backoff_delay
from workflow_integrator.domain.ticket import (
    MULTI_TEXT_TYPES,
    TEXT_TYPES,
    Field,
    FieldType,
    JsonValue,
    Step,
    Ticket,
)
from workflow_integrator.securechange.client import SecureChangeError
from workflow_integrator.securechange.tickets import NotConfigured, SecureChangeTicketReader

#: Statuses after which a later write-back may succeed once an admin fixed the settings.
_FIXABLE = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class WritebackResult:
    """What a write-back did: ``ok``; else ``retry_at`` (None: it failed for good)."""

    ok: bool
    detail: str
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    step: Step
    task_id: int
    field: Field


class TicketWriter:
    """Applies response mappings to tickets through the SecureChange REST API."""

    def __init__(
        self, securechange: SecureChangeTicketReader, clock: Clock,
        rng: random.Random | None = None, *, first_retry_seconds: float = 1.0,
        max_retry_seconds: float = 600.0,
    ) -> None:
        self._securechange = securechange
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._first = first_retry_seconds
        self._cap = max_retry_seconds

    async def write(self, item: ClaimedWriteback) -> WritebackResult:
        """Write ``item.fields`` into ticket ``item.ticket_id``."""
        if not item.fields:
            return WritebackResult(True, "nothing to write")
        try:
            async with self._securechange.client() as client:
                ticket = await client.ticket(item.ticket_id)
                targets, problems = _targets(ticket, item.fields)
                by_task: dict[tuple[int, int], list[Field]] = defaultdict(list)
                for target in targets:
                    assert target.step.id is not None
                    by_task[(target.step.id, target.task_id)].append(target.field)
                for (step_id, task_id), fields in by_task.items():
                    await client.update_fields(item.ticket_id, step_id, task_id, fields)
        except NotConfigured as exc:
            wait = backoff_delay(item.attempt, self._rng, first=self._first, cap=self._cap)
            return WritebackResult(False, str(exc), self._clock.now() + wait)
        except SecureChangeError as exc:
            if exc.retryable or exc.status in _FIXABLE:
                wait = backoff_delay(item.attempt, self._rng, first=self._first, cap=self._cap)
                return WritebackResult(False, str(exc), self._clock.now() + wait)
            return WritebackResult(False, str(exc))
        written = ", ".join(
            f"'{t.field.name}' = {json.dumps(t.field.value, ensure_ascii=False)} "
            f"(step '{t.step.name}')" for t in targets
        )
        detail = "; ".join(([f"wrote {written}"] if targets else []) + problems)
        # A field the ticket lacks stays missing on a retry: that is for an admin to fix.
        return WritebackResult(not problems, detail)


def _targets(ticket: Ticket, values: dict[str, Any]) -> tuple[list[_Target], list[str]]:
    targets: list[_Target] = []
    problems: list[str] = []
    steps = [ticket.current] if ticket.current is not None else []
    steps += list(reversed(ticket.steps))
    for name, value in values.items():
        found = next(
            ((step, task.id, field) for step in steps for task in step.tasks
             for field in task.fields if field.name.casefold() == name.casefold()
             and step.id is not None and task.id is not None),
            None,
        )
        if found is None:
            problems.append(f"ticket {ticket.id} has no field '{name}' to write into")
            continue
        step, task_id, field = found
        if field.read_only:
            problems.append(f"field '{field.name}' of ticket {ticket.id} is read-only")
            continue
        assert task_id is not None
        targets.append(_Target(step, task_id, replace(field, value=_typed(field.type, value))))
    return targets, problems


def _typed(field_type: str, value: Any) -> JsonValue:
    """A response value in the shape the field's type holds (text fields take text)."""
    if field_type in TEXT_TYPES or field_type in (FieldType.DROP_DOWN_LIST, FieldType.DATE,
                                                  FieldType.TIME):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if field_type in MULTI_TEXT_TYPES or field_type == FieldType.MULTIPLE_SELECTION:
        items = value if isinstance(value, list) else [value]
        return [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in items]
    if field_type == FieldType.CHECKBOX:
        if isinstance(value, str):
            return value.strip().casefold() in ("true", "yes", "1", "on")
        return bool(value)
    result: JsonValue = value
    return result
