"""Schema upgrades keep data: rows written by the previous release read back the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from workflow_integrator.settings import Settings
from workflow_integrator.store import migrate
from workflow_integrator.store.db import make_engine, session_factory
from workflow_integrator.store.events import EventRow
from workflow_integrator.store.tokens import OAuthTokenRow
from workflow_integrator.store.users import UserRow, UserSessionRow

STAMP = datetime(2026, 3, 29, 0, 30, 15, 250000, tzinfo=UTC)  # a DST night in Europe
EXPIRY = datetime(2026, 3, 29, 1, 30, 15, tzinfo=UTC)
AWARE = sa.DateTime(timezone=True)


@pytest.fixture
def engine(any_db_settings: Settings) -> Iterator[Engine]:
    any_db_settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(any_db_settings.resolved_database_url)
    yield engine
    engine.dispose()


def _rows_of_0005(engine: Engine) -> None:
    """Rows as release 0005 wrote them (through its column types)."""
    servers = sa.table(
        "outbound_servers",
        *(sa.column(n) for n in ("id", "name", "state", "revision")),
        sa.column("config", sa.JSON()),
        sa.column("created_at", AWARE),
        sa.column("updated_at", AWARE),
    )
    tokens = sa.table(
        "oauth_tokens",
        sa.column("server_id"),
        sa.column("access_token"),
        sa.column("access_expires_at", sa.Float()),
        sa.column("expires_in"),
        sa.column("updated_at", AWARE),
    )
    events = sa.table(
        "events",
        *(sa.column(n) for n in ("id", "source", "ticket_id", "event", "update_date", "state")),
        *(sa.column(n) for n in ("document", "content_type", "dedupe_key", "received_count")),
        sa.column("info", sa.JSON()),
        sa.column("received_at", AWARE),
        sa.column("state_changed_at", AWARE),
    )
    users = sa.table(
        "users",
        *(sa.column(n) for n in ("id", "name", "role", "password_hash", "failed_logins")),
        sa.column("locked_until", AWARE),
        sa.column("last_login_at", AWARE),
        sa.column("created_at", AWARE),
        sa.column("updated_at", AWARE),
    )
    sessions = sa.table(
        "user_sessions",
        *(sa.column(n) for n in ("id", "token_hash", "user_id", "csrf_token")),
        sa.column("created_at", AWARE),
        sa.column("last_seen_at", AWARE),
    )
    with engine.begin() as connection:
        connection.execute(
            servers.insert().values(
                id=1,
                name="itsm",
                config={},
                state="ok",
                revision=1,
                created_at=STAMP,
                updated_at=STAMP,
            )
        )
        connection.execute(
            tokens.insert().values(
                server_id=1,
                access_token="ciphertext",
                access_expires_at=EXPIRY.timestamp(),
                expires_in=3600,
                updated_at=STAMP,
            )
        )
        connection.execute(
            events.insert().values(
                id=1,
                source="securechange",
                ticket_id=7,
                event="CREATE",
                update_date="",
                state="pending",
                document="<ticket/>",
                content_type="application/xml",
                dedupe_key="k",
                received_count=1,
                info={},
                received_at=STAMP,
                state_changed_at=STAMP,
            )
        )
        connection.execute(
            users.insert().values(
                id=1,
                name="ana",
                role="admin",
                password_hash="h",
                failed_logins=5,
                locked_until=STAMP + timedelta(minutes=15),
                last_login_at=STAMP,
                created_at=STAMP,
                updated_at=STAMP,
            )
        )
        connection.execute(
            sessions.insert().values(
                id=1,
                token_hash="t" * 64,
                user_id=1,
                csrf_token="c",
                created_at=STAMP,
                last_seen_at=STAMP,
            )
        )


def test_upgrade_to_aware_timestamps_keeps_every_row(engine: Engine) -> None:
    migrate.upgrade(engine, "0005_integrations")
    _rows_of_0005(engine)
    # Through 0006 and every later revision: the rows must survive the whole chain.
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    with session_factory(engine)() as session:
        token = session.get(OAuthTokenRow, 1)
        assert token is not None and token.access_token == "ciphertext"
        assert token.access_expires_at == EXPIRY
        assert token.updated_at == STAMP
        event = session.get(EventRow, 1)
        assert event is not None
        assert (event.received_at, event.state_changed_at) == (STAMP, STAMP)
        user = session.get(UserRow, 1)
        assert user is not None
        assert user.locked_until == STAMP + timedelta(minutes=15)
        assert user.last_login_at == STAMP and user.created_at == STAMP
        user_session = session.get(UserSessionRow, 1)
        assert user_session is not None and user_session.last_seen_at == STAMP
        for moment in (token.access_expires_at, event.received_at, user.locked_until):
            assert moment is not None and moment.utcoffset() == timedelta(0)


def test_downgrade_from_aware_timestamps_restores_epoch_expiry(engine: Engine) -> None:
    migrate.upgrade(engine, "0005_integrations")
    _rows_of_0005(engine)
    migrate.upgrade(engine)
    config = migrate._config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_integrations")
    with engine.connect() as connection:
        epoch = connection.execute(sa.text("SELECT access_expires_at FROM oauth_tokens")).scalar()
    assert epoch == pytest.approx(EXPIRY.timestamp())
