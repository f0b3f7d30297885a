"""The ``oauth_tokens`` table: each server's cached access token and current refresh token.

Both are SecretBox ciphertext. ``DatabaseTokenStore`` implements the outbound
``TokenStore`` protocol on top of it; on PostgreSQL a session-level advisory lock
makes token fetching single-flight across processes. On SQLite the lock holds
within one process only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

from sqlalchemy import Engine, Float, ForeignKey, Integer, Text, delete, text
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from workflow_integrator.outbound.tokens import AccessToken, ServerId
from workflow_integrator.store.base import Base, utcnow
from workflow_integrator.store.db import is_postgresql
from workflow_integrator.store.secretbox import SecretBox
from workflow_integrator.store.servers import replace_refresh_token, set_state

_ADVISORY_CLASS = 0x5749  # "WI": the first key of pg_advisory_lock(int, int)


class OAuthTokenRow(Base):
    """Token state of one outbound server (deleted with the server)."""

    __tablename__ = "oauth_tokens"

    server_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("outbound_servers.id", ondelete="CASCADE"), primary_key=True
    )
    access_token: Mapped[str | None] = mapped_column(Text, default=None)
    access_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    expires_in: Mapped[int | None] = mapped_column(Integer, default=None)
    scope: Mapped[str | None] = mapped_column(Text, default=None)
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def forget_tokens(session: Session, server_id: int) -> None:
    """Drop a server's tokens (its auth, TLS or proxy settings changed)."""
    session.execute(delete(OAuthTokenRow).where(OAuthTokenRow.server_id == server_id))


class DatabaseTokenStore:
    """``TokenStore`` in the WI database; secrets encrypted with the ``SecretBox``."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], box: SecretBox) -> None:
        self._engine = engine
        self._sessions = sessions
        self._box = box
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
        """Per-server lock: asyncio in this process, plus an advisory lock on PostgreSQL."""
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            if not is_postgresql(self._engine):
                yield  # SQLite: this process only; another process (a `wi` command) may fetch too
                return
            connection = await asyncio.to_thread(self._engine.connect)
            try:
                key = {"c": _ADVISORY_CLASS, "k": int(server_id)}
                await asyncio.to_thread(
                    connection.execute, text("SELECT pg_advisory_lock(:c, :k)"), key
                )
                try:
                    yield
                finally:
                    await asyncio.to_thread(
                        connection.execute, text("SELECT pg_advisory_unlock(:c, :k)"), key
                    )
            finally:
                await asyncio.to_thread(connection.close)
