"""Every migration from the first released schema (0001) to the newest keeps data.

The walk follows the shipped revision chain one step at a time; after each step every
table that is still empty gets a row (written through the reflected schema of that
moment, as that release wrote it), so each later migration runs over data in every
table. At the newest revision every table holds data and every row written on the way
is still there with the same values (unless a migration changed the column's type).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine

FIRST_RELEASED = "0001_foundation"
STAMP = datetime(2026, 3, 29, 0, 30, 15, tzinfo=UTC)  # a DST night in Europe

# Values that mean something to the product where a made-up string would not.
KNOWN: dict[str, dict[str, Any]] = {
    "outbound_servers": {"name": "itsm", "state": "ok", "revision": 1, "config": {
        "name": "itsm", "host": "itsm.example.com", "protocol": "https",
        "headers": "Content-Type: application/json", "verify_certificate": "enable",
        "timeout_seconds": 30, "max_concurrency": 8, "enabled": True,
        "auth": {"method": "none"}}},
    "api_tokens": {"role": "admin"},
    "users": {"role": "admin", "failed_logins": 0},
    "events": {"source": "securechange", "event": "CREATE", "state": "pending",
               "update_date": "2026-03-29T00:30:15Z", "content_type": "application/xml",
               "document": "<ticket_info><id>7</id></ticket_info>", "received_count": 1,
               "info": {"id": 7, "workflow_name": "Firewall change"}},
    "integrations": {"workflow": "Firewall change", "workflow_key": "firewall change",
                     "enabled": True, "revision": 1,
                     "config": {"workflow": "Firewall change", "points": []}},
    "smtp_settings": {"config": {"host": "mail.example.com", "security": "starttls",
                                 "sender": "wi@example.com"}},
}


@pytest.fixture
def engine(any_db_settings: Settings) -> Iterator[Engine]:
    any_db_settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(any_db_settings.resolved_database_url)
    yield engine
    engine.dispose()


def _chain() -> list[str]:
    scripts = ScriptDirectory.from_config(migrate._config_without_engine())
    revisions = [r.revision for r in scripts.walk_revisions("base", "heads")]
    return list(reversed(revisions))


def _value(table: sa.Table, column: sa.Column[Any], engine: Engine) -> Any:
    known = KNOWN.get(table.name, {})
    if column.name in known:
        return known[column.name]
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 7
    if isinstance(kind, sa.Float | sa.Numeric):
        return 1.5
    if isinstance(kind, sa.DateTime):
        # SQLite keeps no offset: earlier releases wrote UTC without one.
        return STAMP if engine.dialect.name == "postgresql" else STAMP.replace(tzinfo=None)
    if isinstance(kind, sa.JSON):
        return {"table": table.name}
    if isinstance(kind, sa.LargeBinary):
        return b"\x00wi"
    if isinstance(kind, sa.String):
        text = f"{table.name}.{column.name}"
        return text[: kind.length] if kind.length else text
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({kind!r})")


def _fill_empty_tables(engine: Engine, written: dict[str, dict[str, Any]]) -> None:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:  # parents before children
            if table.name == "alembic_version" or table.name in written:
                continue
            if connection.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                continue
            row: dict[str, Any] = {}
            for column in table.columns:
                references = list(column.foreign_keys)
                if references:
                    target = references[0].column
                    row[column.name] = connection.execute(
                        sa.select(target).select_from(target.table).limit(1)).scalar_one()
                elif column.primary_key and isinstance(column.type, sa.Integer):
                    row[column.name] = 1
                else:
                    row[column.name] = _value(table, column, engine)
            connection.execute(table.insert().values(**row))
            written[table.name] = row


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, datetime) and isinstance(after, datetime):
        def utc(moment: datetime) -> datetime:
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        return utc(before) == utc(after)
    return bool(before == after)


def test_every_step_from_the_first_release_keeps_data_in_every_table(engine: Engine) -> None:
    chain = _chain()
    assert chain[0] == FIRST_RELEASED
    assert chain[-1] == migrate.head_revision()
    written: dict[str, dict[str, Any]] = {}
    for revision in chain:
        migrate.upgrade(engine, revision)
        assert migrate.current_revision(engine) == revision
        _fill_empty_tables(engine, written)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    tables = {name for name in metadata.tables if name != "alembic_version"}
    assert tables == set(written), "a table was created without data to carry"
    with engine.connect() as connection:
        for name, row in written.items():
            table = metadata.tables[name]
            found = [dict(r._mapping) for r in connection.execute(sa.select(table))]
            assert len(found) == 1, (name, found)
            for column, before in row.items():
                if column not in found[0]:
                    continue  # dropped or renamed by a later migration
                after = found[0][column]
                if type(before) is not type(after) and not (
                    isinstance(before, datetime) and isinstance(after, datetime)
                ):
                    continue  # a migration changed the column's type
                assert _same(before, after), (name, column, before, after)
