"""Migration 0007 on a database that already holds events (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.delivery.conftest import LEASE, T0
from workflow_integrator.delivery.queue import PlannedDelivery
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine, session_factory
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue
from workflow_integrator.store.events import EventRow

#: The revision before the one that adds ``deliveries.writes_back``.
BEFORE_WRITES_BACK = "0010_secret_headers"
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UPDATE_DATES = {
    "2024-05-01T10:15:30.123+02:00": datetime(2024, 5, 1, 8, 15, 30, 123000, tzinfo=UTC),
    "2024-05-01T10:15:30Z": datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC),
    "yesterday at noon": RECEIVED,  # unparseable: the arrival time orders it
    "": RECEIVED,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def old_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    """A database at revision 0005 (before deliveries)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate.upgrade(engine, "0005_integrations")
    return engine


def _insert_event(engine: Engine, ticket_id: int, update_date: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO events (source, ticket_id, event, update_date, received_at, state,"
                " state_changed_at, info, document, content_type, dedupe_key, received_count)"
                " VALUES ('securechange', :ticket, 'ADVANCE', :date, :received, 'pending',"
                " :received, :info, '<ticket_info/>', 'application/xml', :key, 1)"
            ),
            {"ticket": ticket_id, "date": update_date, "received": RECEIVED,
             "info": json.dumps({"id": ticket_id}), "key": f"key-{ticket_id}"},
        )


def test_upgrade_keeps_events_and_orders_them_by_their_update_time(old_engine: Engine) -> None:
    for ticket, update_date in enumerate(UPDATE_DATES, start=1):
        _insert_event(old_engine, ticket, update_date)
    with old_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO outbound_servers (name, config, state, revision, created_at, updated_at)"
            " VALUES ('itsm', '{}', 'ok', 1, :t, :t)"), {"t": RECEIVED})

    migrate.upgrade(old_engine)

    assert migrate.current_revision(old_engine) == migrate.head_revision()
    sessions = session_factory(old_engine)
    with sessions() as session:
        rows = session.query(EventRow).order_by(EventRow.ticket_id).all()
    assert [(r.update_date, r.order_at, r.plan_attempts, r.state) for r in rows] == [
        (date, when, 0, "pending") for date, when in UPDATE_DATES.items()
    ]
    # The stored events are planned and their deliveries claimed like new ones.
    queue = DatabaseDeliveryQueue(old_engine, sessions)
    events = queue.claim_events("p", 10, T0, LEASE)
    assert [e.ticket_id for e in events] == [1, 2, 3, 4]
    for claimed in events:
        assert queue.store_plan(claimed.id, "p", {}, [PlannedDelivery("p", 0, 1)], T0)
    assert len(queue.claim("w", 10, T0, LEASE)) == 4
    old_engine.dispose()


def test_downgrade_drops_the_queue_and_keeps_the_events(old_engine: Engine) -> None:
    _insert_event(old_engine, 1, "2024-05-01T10:15:30Z")
    migrate.upgrade(old_engine)

    migrate.downgrade(old_engine, "0005_integrations")

    with old_engine.connect() as connection:
        assert connection.execute(text("SELECT ticket_id FROM events")).scalars().all() == [1]
    migrate.upgrade(old_engine)
    assert migrate.current_revision(old_engine) == migrate.head_revision()
    old_engine.dispose()


def test_writes_back_is_added_to_stored_deliveries_which_keep_waiting_as_before(
    old_engine: Engine,
) -> None:
    migrate.upgrade(old_engine, BEFORE_WRITES_BACK)
    _insert_event(old_engine, 1, "2024-05-01T10:15:30Z")
    with old_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO deliveries (event_id, ticket_id, workflow, point_name, point_index,"
            " order_at, state, due_at, attempts, idempotency_key, late, replay_series,"
            " writeback_state, writeback_attempts, created_at, updated_at)"
            " SELECT id, ticket_id, 'Firewall change', 'open incident', 0, :t, 'pending', :t,"
            " 0, 'key-1', false, 0, 'none', 0, :t, :t FROM events"), {"t": RECEIVED})

    migrate.upgrade(old_engine)

    with old_engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT point_name, state, writes_back FROM deliveries")).all()
    assert [(name, state, bool(flag)) for name, state, flag in rows] == [
        ("open incident", "pending", False)]
    migrate.downgrade(old_engine, BEFORE_WRITES_BACK)
    with old_engine.connect() as connection:
        assert connection.execute(text("SELECT point_name FROM deliveries")).scalars().all() == [
            "open incident"]
    old_engine.dispose()
