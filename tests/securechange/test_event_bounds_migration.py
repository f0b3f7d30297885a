"""The ``0008_event_bounds`` migration keeps stored events and widens ticket ids to 64 bits."""

from __future__ import annotations

from sqlalchemy import text

from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine

INSERT = text(
    "INSERT INTO events (source, ticket_id, event, update_date, received_at, state, "
    "state_changed_at, info, document, content_type, dedupe_key, received_count) VALUES "
    "('api', :ticket, 'CREATE', '1', CURRENT_TIMESTAMP, 'pending', CURRENT_TIMESTAMP, "
    "'{}', '<ticket_info/>', 'application/xml', :key, 1)"
)


def test_upgrade_keeps_events_and_stores_64_bit_ticket_ids(any_db_settings: Settings) -> None:
    any_db_settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(any_db_settings.resolved_database_url)
    try:
        migrate.upgrade(engine, "0007_deliveries")  # the revision before 0008
        with engine.begin() as connection:
            connection.execute(INSERT, {"ticket": 2**31 - 1, "key": "before"})
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()  # through 0008 and on
        with engine.begin() as connection:
            connection.execute(INSERT, {"ticket": 2**53 - 1, "key": "after"})
            rows = connection.execute(
                text("SELECT dedupe_key, ticket_id FROM events ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("before", 2**31 - 1), ("after", 2**53 - 1)]
