"""The ``oauth_tokens`` table: each server's cached access token and current refresh token.

Both are SecretBox ciphertext. ``DatabaseTokenStore`` implements the outbound
``TokenStore`` protocol on top of it. Every ``wi`` command is a process of its own
beside ``wi serve``, so token fetching is single-flight across processes: a session
advisory lock on PostgreSQL, an exclusive file lock beside the database on SQLite.
Both are waited for by polling, never by a blocked thread, and only for so long.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, ForeignKey, Integer, Text, delete, text
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from workflow_integrator.outbound.errors import OutboundError
from workflow_integrator.outbound.tokens import AccessToken, ServerId
from workflow_integrator.store.base import Base, UTCDateTime, utcnow
from workflow_integrator.store.db import is_postgresql
from workflow_integrator.store.secretbox import SecretBox
from workflow_integrator.store.servers import replace_refresh_token, set_state

_ADVISORY_CLASS = 0x5749  # "WI": the first key of pg_advisory_lock(int, int)
LOCK_WAIT_SECONDS = 120.0
"""How long a process waits for another one's token fetch before giving up."""
_POLL_SECONDS = 0.02


class OAuthTokenRow(Base):
    """Token state of one outbound server (deleted with the server)."""

    __tablename__ = "oauth_tokens"

    server_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("outbound_servers.id", ondelete="CASCADE"), primary_key=True
    )
    access_token: Mapped[str | None] = mapped_column(Text, default=None)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    expires_in: Mapped[int | None] = mapped_column(Integer, default=None)
    scope: Mapped[str | None] = mapped_column(Text, default=None)
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def forget_tokens(session: Session, server_id: int) -> None:
    """Drop a server's tokens (its auth, TLS or proxy settings changed)."""
    session.execute(delete(OAuthTokenRow).where(OAuthTokenRow.server_id == server_id))


class DatabaseTokenStore:
    """``TokenStore`` in the WI database; secrets encrypted with the ``SecretBox``."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        box: SecretBox,
        *,
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._box = box
        self._lock_wait = lock_wait_seconds
        self._locks: dict[ServerId, asyncio.Lock] = {}

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def _row(self, session: Session, server_id: ServerId) -> OAuthTokenRow:
        row = session.get(OAuthTokenRow, int(server_id))
        if row is None:
            row = OAuthTokenRow(server_id=int(server_id))
            session.add(row)
        return row

    def _load_access(self, server_id: ServerId) -> AccessToken | None:
        with self._sessions() as session:
            row = session.get(OAuthTokenRow, int(server_id))
            if row is None or row.access_token is None or row.access_expires_at is None:
                return None
            return AccessToken(
                value=self._box.decrypt(row.access_token),
                expires_at=row.access_expires_at,
                scope=row.scope,
                expires_in=row.expires_in,
            )

    def _save_access(self, server_id: ServerId, token: AccessToken | None) -> None:
        with self._transaction() as session:
            row = self._row(session, server_id)
            row.access_token = self._box.encrypt(token.value) if token else None
            row.access_expires_at = token.expires_at if token else None
            row.expires_in = token.expires_in if token else None
            row.scope = token.scope if token else None

    def _load_refresh(self, server_id: ServerId) -> str | None:
        with self._sessions() as session:
            row = session.get(OAuthTokenRow, int(server_id))
            if row is None or row.refresh_token is None:
                return None
            return self._box.decrypt(row.refresh_token)

    def _save_refresh(self, server_id: ServerId, refresh_token: str | None) -> None:
        with self._transaction() as session:
            row = self._row(session, server_id)
            row.refresh_token = self._box.encrypt(refresh_token) if refresh_token else None
            if refresh_token:
                replace_refresh_token(session, self._box, int(server_id), refresh_token)

    def _mark(self, server_id: ServerId, reason: str) -> None:
        with self._transaction() as session:
            set_state(session, int(server_id), "needs_credentials", reason)

    async def load_access_token(self, server_id: ServerId) -> AccessToken | None:
        """The stored access token, if any."""
        return await asyncio.to_thread(self._load_access, server_id)

    async def save_access_token(self, server_id: ServerId, token: AccessToken) -> None:
        """Store a new access token, encrypted."""
        await asyncio.to_thread(self._save_access, server_id, token)

    async def drop_access_token(self, server_id: ServerId) -> None:
        """Forget the stored access token."""
        await asyncio.to_thread(self._save_access, server_id, None)

    async def load_refresh_token(self, server_id: ServerId) -> str | None:
        """The newest refresh token the server issued, if any."""
        return await asyncio.to_thread(self._load_refresh, server_id)

    async def save_refresh_token(self, server_id: ServerId, refresh_token: str | None) -> None:
        """Replace the refresh token; committed before this returns."""
        await asyncio.to_thread(self._save_refresh, server_id, refresh_token)

    async def mark_needs_credentials(self, server_id: ServerId, reason: str) -> None:
        """Set the server's state to ``needs_credentials`` with the reason."""
        await asyncio.to_thread(self._mark, server_id, reason)

    @contextlib.asynccontextmanager
    async def lock(self, server_id: ServerId) -> AsyncIterator[None]:
        """Per-server lock: asyncio in this process, plus one that other processes see."""
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            if is_postgresql(self._engine):
                async with self._advisory_lock(int(server_id)):
                    yield
                return
            folder = _lock_folder(self._engine)
            if folder is None:  # an in-memory database lives in this process only
                yield
                return
            async with self._file_lock(folder / f"server-{int(server_id)}.lock"):
                yield

    def _timed_out(self, server_id: ServerId) -> OutboundError:
        return OutboundError(
            "oauth_error",
            f"another WI process has been fetching a token for this server for over "
            f"{self._lock_wait:g} s; try again later",
        )

    @contextlib.asynccontextmanager
    async def _advisory_lock(self, server_id: int) -> AsyncIterator[None]:
        key = {"c": _ADVISORY_CLASS, "k": server_id}
        connection = await asyncio.to_thread(self._engine.connect)
        try:
            if not await self._poll(lambda: _try_advisory_lock(connection, key)):
                raise self._timed_out(server_id)
            yield
        finally:
            # Also after a cancelled wait whose last try took the lock: the pooled
            # connection's session outlives close(), and so would the lock.
            await asyncio.to_thread(_unlock_and_close, connection)

    @contextlib.asynccontextmanager
    async def _file_lock(self, path: Path) -> AsyncIterator[None]:
        fd = await asyncio.to_thread(_open_lock_file, path)
        try:
            if not await self._poll(lambda: _try_flock(fd)):
                raise self._timed_out(path.stem)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    async def _poll(self, attempt: Callable[[], bool]) -> bool:
        # Polled, not blocked on: a waiting thread could not be cancelled or timed out.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait
        while True:
            if await asyncio.to_thread(attempt):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)


def _try_advisory_lock(connection: Connection, key: dict[str, int]) -> bool:
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), key).scalar())


def _unlock_and_close(connection: Connection) -> None:
    try:
        connection.execute(text("SELECT pg_advisory_unlock_all()"))
    finally:
        connection.close()


def _lock_folder(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().parent / f".{Path(database).name}.locks"


def _open_lock_file(path: Path) -> int:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _try_flock(fd: int) -> bool:
    # flock locks belong to the open file, so two stores in one process exclude each other too.
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
