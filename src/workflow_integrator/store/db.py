"""Engines and sessions: SQLite (WAL, busy timeout) by default, PostgreSQL alike."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, busy_timeout_ms: int = 5000) -> Engine:
    """Create the engine for ``url``; SQLite gets WAL mode, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_sqlite_files(Path(parsed.database))
        writer = threading.Lock()
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000,
                          "factory": _writer_connection(writer, busy_timeout_ms / 1000)},
        )

        @event.listens_for(engine, "before_cursor_execute")
        def _take_writer(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            dbapi = conn.connection.dbapi_connection
            if isinstance(dbapi, WriterConnection) and _writes(statement):
                dbapi.take_writer()

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


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


def _writes(statement: str) -> bool:
    return statement.lstrip()[:15].upper().startswith(_WRITES)


class WriterConnection(sqlite3.Connection):
    """A SQLite connection that takes its engine's writer lock before its first write and
    holds it until its transaction ends.

    SQLite has one writer at a time. Writers of one process wait their turn on this lock,
    in order and without sleeping; left to SQLite's busy handler they poll with sleeps of
    up to 100 ms, leave the database idle meanwhile and may starve (``database is
    locked``). Other processes still meet SQLite's own lock and busy timeout.
    """

    _writer: threading.Lock
    _wait_seconds: float
    _holds_writer = False

    def take_writer(self) -> None:
        """Hold the writer lock for this connection's transaction (once per transaction)."""
        if self._holds_writer:
            return
        if not self._writer.acquire(timeout=self._wait_seconds):
            raise sqlite3.OperationalError("database is locked")
        self._holds_writer = True

    def _drop_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            self._writer.release()

    def commit(self) -> None:
        """Commit, then let the next writer in."""
        try:
            super().commit()
        finally:
            self._drop_writer()

    def rollback(self) -> None:
        """Roll back, then let the next writer in."""
        try:
            super().rollback()
        finally:
            self._drop_writer()

    def close(self) -> None:
        """Close (an open transaction ends with it)."""
        try:
            super().close()
        finally:
            self._drop_writer()


def _writer_connection(writer: threading.Lock, wait_seconds: float) -> type[WriterConnection]:
    """The connection class of one engine: its writers share ``writer``."""
    return type("EngineWriterConnection", (WriterConnection,),
                {"_writer": writer, "_wait_seconds": wait_seconds})


def private_data_dir(folder: Path) -> None:
    """Create the data folder 0700, or make an existing one 0700.

    It holds the database, the key file and first-start credentials: nobody else
    needs to list or enter it.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):  # not ours: its owner decides
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)


def private_sqlite_files(database: Path) -> None:
    """Create the SQLite file 0600 (and make an existing one and its -wal/-shm 0600).

    They hold token and session hashes and every event. SQLite gives the -wal and
    -shm files it creates the mode of the database file, so creating that one
    private first is enough for new installations.
    """
    if database.parent.is_dir():
        os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        # Another user's file is theirs to fix; WI still opens what it may.
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)


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
