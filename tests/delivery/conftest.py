"""A delivery queue on a migrated database (an SQLite file, then the suite's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.delivery.queue import ClaimedDelivery, PlannedDelivery
from workflow_integrator.domain.delivery import AttemptRecord, Outcome
from workflow_integrator.domain.events import dedupe_key
from workflow_integrator.store import events as event_store
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine, session_factory
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue, DeliveryRow
from workflow_integrator.store.events import NewEvent
from workflow_integrator.store.servers import OutboundServerRow

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@dataclass
class QueueDb:
    """A migrated database with a queue on it, and the few rows the tests need."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    queue: DatabaseDeliveryQueue

    def add_server(self, name: str = "itsm", *, max_concurrency: int = 8,
                   enabled: bool = True) -> int:
        """An outbound server row (the queue only reads enabled, state and the limit)."""
        with self.sessions() as session, session.begin():
            row = OutboundServerRow(
                name=name, config={"enabled": enabled, "max_concurrency": max_concurrency},
                state="ok",
            )
            session.add(row)
            session.flush()
            return row.id

    def set_server(self, server_id: int, *, enabled: bool | None = None,
                   state: str | None = None) -> None:
        """Disable/enable a server or mark it needs_credentials."""
        with self.sessions() as session, session.begin():
            row = session.get(OutboundServerRow, server_id)
            assert row is not None
            if enabled is not None:
                row.config = {**row.config, "enabled": enabled}
            if state is not None:
                row.state = state

    def add_event(self, ticket_id: int, update_date: str, event: str = "ADVANCE") -> int:
        """A stored event as intake stores it."""
        row, _ = event_store.insert_once(self.sessions, NewEvent(
            source="securechange", ticket_id=ticket_id, event=event, update_date=update_date,
            state="pending", info={"id": ticket_id, "update_date": update_date},
            document="<ticket_info/>", content_type="application/xml",
            dedupe_key=dedupe_key("securechange", ticket_id, event, update_date),
        ))
        return row.id

    def plan(self, event_id: int, *server_ids: int | None, now: datetime = T0,
             errors: dict[int, str] | None = None, writes_back: bool = False) -> None:
        """Plan an event the way the planner does: claim it, store one delivery per point
        (``writes_back``: every point maps response values into the ticket)."""
        worker = f"planner-{event_id}"
        with self.sessions() as session, session.begin():
            session.execute(update(event_store.EventRow)
                            .where(event_store.EventRow.id == event_id)
                            .values(plan_lease_owner=None, plan_lease_expires_at=None))
        claimed = self.queue.claim_events(worker, 1000, now, LEASE)
        assert event_id in [e.id for e in claimed]
        for other in claimed:
            if other.id != event_id:
                assert self.queue.postpone_event(other.id, worker, "not this test's", now)
        planned = [
            PlannedDelivery(f"point {i}", i, sid, (errors or {}).get(i), writes_back)
            for i, sid in enumerate(server_ids)
        ]
        ticket = {"id": 1, "workflow": {"name": "Firewall change"}}
        assert self.queue.store_plan(event_id, worker, ticket, planned, now)

    def deliveries(self, **where: Any) -> list[DeliveryRow]:
        """Delivery rows, by id."""
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        for name, value in where.items():
            query = query.where(getattr(DeliveryRow, name) == value)
        with self.sessions() as session:
            return list(session.scalars(query))

    def delivery(self, delivery_id: int) -> DeliveryRow:
        """One delivery row."""
        with self.sessions() as session:
            row = session.get(DeliveryRow, delivery_id)
            assert row is not None
            return row


def attempt(now: datetime = T0, status: int | None = 200, **extra: Any) -> AttemptRecord:
    """An attempt record as the sender builds it."""
    return AttemptRecord(started_at=now, duration_ms=12, method="POST",
                         url="https://itsm.example/api", response_status=status, **extra)


def delivered(now: datetime = T0, writeback: dict[str, Any] | None = None) -> Outcome:
    """A 201 outcome."""
    return Outcome("delivered", "201 Created", attempt(now, 201), status=201,
                   writeback=writeback)


def failed(retry_at: datetime, now: datetime = T0, status: int = 503) -> Outcome:
    """A retryable outcome."""
    return Outcome("retry", f"answered {status}", attempt(now, status), status=status,
                   retry_at=retry_at)


def keys(claimed: list[ClaimedDelivery]) -> list[tuple[int, str]]:
    """(event id, point name) of claimed deliveries, in claim order."""
    return [(c.event_id, c.point_name) for c in claimed]


def open_db(url: str) -> QueueDb:
    """A migrated database at ``url`` with a queue on it."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = session_factory(engine)
    return QueueDb(url, engine, sessions, DatabaseDeliveryQueue(engine, sessions))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueDb]:
    """The queue on an SQLite file, then on the suite's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wi.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = open_db(url)
    try:
        yield opened
    finally:
        opened.engine.dispose()
