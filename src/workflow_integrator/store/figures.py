"""Counts for monitoring, read from the database so every process reports the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflow_integrator.store.deliveries import DeliveryRow as D
from workflow_integrator.store.deliveries import DeliveryServerRow as B
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


def deliveries_by_state(session: Session) -> dict[str, int]:
    """How many deliveries are in each state (pending, in_flight, delivered, dead …)."""
    rows = session.execute(select(D.state, func.count()).group_by(D.state))
    return {state: count for state, count in rows}


def pending_by_server(session: Session) -> list[tuple[str, int, datetime | None]]:
    """Per server with pending deliveries: its name, how many, and the oldest one's creation."""
    rows = session.execute(
        select(OutboundServerRow.name, func.count(), func.min(D.created_at))
        .select_from(D)
        .join(OutboundServerRow, OutboundServerRow.id == D.server_id)
        .where(D.state == "pending")
        .group_by(OutboundServerRow.name))
    return [(name, count, aware(oldest)) for name, count, oldest in rows]


def held_by_server(session: Session) -> list[tuple[str, str, dict[str, Any], int]]:
    """Per server with held deliveries: its name, credential state, configuration, count."""
    rows = session.execute(
        select(OutboundServerRow.name, OutboundServerRow.state, OutboundServerRow.config,
               func.count())
        .select_from(D)
        .join(OutboundServerRow, OutboundServerRow.id == D.server_id)
        .where(D.state == "held")
        .group_by(OutboundServerRow.name, OutboundServerRow.state, OutboundServerRow.id))
    return [(name, state, dict(config or {}), count) for name, state, config, count in rows]


def breakers(session: Session) -> list[tuple[str, int, datetime | None, int]]:
    """Each server's stored breaker: name, failures, open until, openings (none: closed)."""
    rows = session.execute(
        select(OutboundServerRow.name, B.breaker_failures, B.breaker_open_until,
               B.breaker_openings)
        .join(B, B.server_id == OutboundServerRow.id, isouter=True)
        .order_by(OutboundServerRow.name))
    return [(name, failures or 0, aware(until), openings or 0)
            for name, failures, until, openings in rows]


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC from aggregates: mark it UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
