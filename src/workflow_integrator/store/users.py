"""Local users of the web UI and their sign-in sessions."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, Timestamps, UTCDateTime, utcnow


class UserRow(Timestamps, Base):
    """A person who signs in to the web UI, with a role and an argon2 password hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Consecutive failed sign-ins; drives the growing lock-out below.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class UserSessionRow(Base):
    """A signed-in browser: the cookie holds a random token, the table its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def hash_session_token(token: str) -> str:
    """SHA-256 hex digest of a session cookie value (256 random bits: no need for more)."""
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(session: Session, name: str) -> UserRow | None:
    """The user named ``name``, or None."""
    return session.scalar(select(UserRow).where(UserRow.name == name))


def list_users(session: Session) -> list[UserRow]:
    """All users by name."""
    return list(session.scalars(select(UserRow).order_by(UserRow.name)))


def find_session(session: Session, token: str) -> UserSessionRow | None:
    """The session row for a presented cookie value, or None."""
    return session.scalar(
        select(UserSessionRow).where(UserSessionRow.token_hash == hash_session_token(token))
    )


def drop_sessions(session: Session, user_id: int) -> None:
    """Sign a user out everywhere (password change, deletion)."""
    session.execute(delete(UserSessionRow).where(UserSessionRow.user_id == user_id))
