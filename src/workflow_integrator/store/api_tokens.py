"""API tokens: stored as SHA-256 hashes, shown in clear only once at creation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, UTCDateTime, utcnow

TOKEN_PREFIX = "wi_"  # noqa: S105 - a visible marker, not a credential


class ApiTokenRow(Base):
    """A named API token with a role."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # A token is 256 random bits, so a fast hash is enough: no dictionary to attack.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a presented token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def find_by_token(session: Session, token: str) -> ApiTokenRow | None:
    """The token row matching a presented token, or None."""
    return session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token)))


def list_tokens(session: Session) -> list[ApiTokenRow]:
    """All tokens ordered by name."""
    return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name)))
