"""Engines and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, busy_timeout_ms: int = 5000) -> Engine:
    """Create the engine for ``url``; SQLite gets WAL mode, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: an accepted event or saved secret survives a power loss, not only a crash.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def begin_writing(session: Session) -> None:
    """Make the session's transaction a writer before its first read.

    A read-modify-write must not interleave with another one. SQLite's driver opens a
    transaction only at the first write, so two updates would both read the old row;
    ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the busy timeout).
    PostgreSQL callers lock the rows they read instead (``SELECT ... FOR UPDATE``).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if not getattr(dbapi_connection, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgresql(engine: Engine) -> bool:
    """True on PostgreSQL, where row locks and SKIP LOCKED are available."""
    return engine.dialect.name == "postgresql"
