"""Reading deliveries and their attempts, for the API, the UI and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.delivery.queue import DeliveryFilter
from workflow_integrator.store.deliveries import (
    DeliveryAttemptRow,
    DeliveryRow,
    filter_conditions,
)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery with every attempt of every series, oldest first."""

    delivery: DeliveryRow
    attempts: list[DeliveryAttemptRow]


def list_deliveries(
    sessions: sessionmaker[Session], flt: DeliveryFilter, *,
    before_id: int | None = None, limit: int = 100,
) -> list[DeliveryRow]:
    """Deliveries matching the filter, newest first; page on with ``before_id``."""
    query = select(DeliveryRow).where(*filter_conditions(flt))
    if before_id is not None:
        query = query.where(DeliveryRow.id < before_id)
    with sessions() as session:
        return list(session.scalars(query.order_by(DeliveryRow.id.desc()).limit(limit)))


def get_delivery(sessions: sessionmaker[Session], delivery_id: int) -> DeliveryRecord | None:
    """One delivery with its attempts, or None."""
    with sessions() as session:
        row = session.get(DeliveryRow, delivery_id)
        if row is None:
            return None
        attempts = session.scalars(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.delivery_id == delivery_id)
            .order_by(DeliveryAttemptRow.id)
        )
        return DeliveryRecord(row, list(attempts))
