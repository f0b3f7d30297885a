"""Retention: the engine's pruning step, run by the clock, on an SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.delivery.conftest import LEASE, QueueDb, delivered
from workflow_integrator.app import build_services
from workflow_integrator.delivery.engine import delivery_engine
from workflow_integrator.delivery.retention import Retention
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.store import events as event_store
from workflow_integrator.store.audit import AuditFilter
from workflow_integrator.store.deliveries import DeliveryAttemptRow
from workflow_integrator.store.events import EventFilter

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def tickets_of_events(db: QueueDb) -> list[int]:
    """Ticket ids of the stored events."""
    return sorted(e.ticket_id for e in event_store.list_events(db.sessions, EventFilter()))


def attempts(db: QueueDb) -> int:
    """How many attempt records are stored."""
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(DeliveryAttemptRow)) or 0


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_old_finished_records_are_pruned_on_schedule_recent_and_unfinished_stay(
    db: QueueDb,
) -> None:
    # Intake stamps events with the real time, so the clock starts there.
    clock = ManualClock(datetime.now(UTC))
    retention = Retention(db.queue, clock, keep=30 * DAY, every=5 * MINUTE, batch=1)
    server = db.add_server()
    for ticket in (1, 2, 3):
        db.plan(db.add_event(ticket, "2024-05-01T10:00:00Z"), server, now=clock.now())
    one, two, three = db.queue.claim("w", 10, clock.now(), LEASE)
    db.queue.record(one.id, "w", delivered(clock.now()), clock.now())
    db.queue.record(two.id, "w", delivered(clock.now()), clock.now())
    db.plan(db.add_event(4, "2024-05-01T10:00:00Z"), server, now=clock.now())  # stays pending

    assert await retention.prune_if_due() == 0  # first run at once; nothing is old yet

    clock.advance(10 * DAY)
    db.queue.record(three.id, "w", delivered(clock.now()), clock.now())
    clock.advance(21 * DAY)

    # Tickets 1 and 2 finished 31 days ago: deliveries, attempts and events go, one row
    # per batch; ticket 3 finished 21 days ago and ticket 4 never finished.
    assert await retention.prune_if_due() == 4
    assert sorted(d.ticket_id for d in db.deliveries()) == [3, 4]
    assert attempts(db) == 1
    assert tickets_of_events(db) == [3, 4]

    clock.advance(9 * DAY - 2 * MINUTE)
    assert await retention.prune_if_due() == 0  # ticket 3 is two minutes short of 30 days
    clock.advance(3 * MINUTE)
    assert await retention.prune_if_due() is None  # old now, but a run is due every 5 minutes
    assert [d.ticket_id for d in db.deliveries()] == [3, 4]
    clock.advance(2 * MINUTE)
    assert await retention.prune_if_due() == 2
    assert [d.ticket_id for d in db.deliveries()] == [4]
    assert attempts(db) == 0
    assert tickets_of_events(db) == [4]


def test_wi_retention_days_sets_how_long_the_engine_keeps_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WI_RETENTION_DAYS", "7")
    settings = make_settings(tmp_path / "data")
    assert settings.retention_days == 7
    services = build_services(settings)
    try:
        engine = delivery_engine(services)
        assert engine.retention.keep == 7 * DAY
        assert engine.retention.every == 5 * MINUTE
    finally:
        services.close()
    monkeypatch.delenv("WI_RETENTION_DAYS")
    assert make_settings(tmp_path / "data").retention_days == 30


async def test_the_retention_run_prunes_the_audit_log_by_its_own_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WI_AUDIT_RETENTION_DAYS", "90")
    services = build_services(make_settings(tmp_path / "data"))
    try:
        services.tokens.create("reader", "viewer")  # one audit record, stamped now
        clock = ManualClock(datetime.now(UTC) + 89 * DAY)
        engine = delivery_engine(services, clock=clock)
        assert await engine.retention.prune_if_due() == 0  # 89 days: kept
        clock.advance(2 * DAY)
        engine.retention.next_run = None
        assert await engine.retention.prune_if_due() == 1  # 91 days: pruned
        assert services.audit.list(AuditFilter()) == []
    finally:
        services.close()
