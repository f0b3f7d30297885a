"""Planning a failed event again: back to ``pending`` with a fresh planning budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.events import EventState
from workflow_integrator.store.events import EventFilter, EventRow


def _conditions(flt: EventFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if flt.ticket_id is not None:
        found.append(EventRow.ticket_id == flt.ticket_id)
    if flt.event is not None:
        found.append(EventRow.event == flt.event)
    if flt.source is not None:
        found.append(EventRow.source == flt.source)
    if flt.since is not None:
        found.append(EventRow.received_at >= flt.since)
    if flt.until is not None:
        found.append(EventRow.received_at < flt.until)
    return found


def replan(
    sessions: sessionmaker[Session], target: Sequence[int] | EventFilter, now: datetime
) -> list[int]:
    """Move the failed events among ``target`` (ids, or a filter) back to pending.

    Returns the ids moved; events in another state are left alone.
    """
    where = [EventRow.state == EventState.FAILED.value]
    if isinstance(target, EventFilter):
        where += _conditions(target)
    else:
        where.append(EventRow.id.in_(list(target)))
    with sessions() as session, session.begin():
        ids = list(session.scalars(select(EventRow.id).where(*where).order_by(EventRow.id)
                                  .with_for_update()))
        if ids:
            session.execute(
                update(EventRow)
                .where(EventRow.id.in_(ids), EventRow.state == EventState.FAILED.value)
                .values(state=EventState.PENDING.value, state_reason=None, state_changed_at=now,
                        plan_attempts=0, next_plan_at=None, plan_lease_owner=None,
                        plan_lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
    return ids
