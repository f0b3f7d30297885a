"""Counts for monitoring, read from the database so every process reports the same."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow_integrator.store.events import EventRow
from workflow_integrator.store.servers import OutboundServerRow


def events_by_state(session: Session) -> dict[str, int]:
    """How many stored events are in each state (pending, planned, failed …)."""
    rows = session.execute(select(EventRow.state, func.count()).group_by(EventRow.state))
    return {state: count for state, count in rows}


def server_states(session: Session) -> list[tuple[int, str, str]]:
    """Each outbound server's id, name and credential state (ok, needs_credentials)."""
    rows = session.execute(select(OutboundServerRow.id, OutboundServerRow.name,
                                  OutboundServerRow.state).order_by(OutboundServerRow.name))
    return [(server_id, name, state) for server_id, name, state in rows]
