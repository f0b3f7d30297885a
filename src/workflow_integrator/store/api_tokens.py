"""API tokens: stored as SHA-256 hashes, shown in clear only once at creation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Table, bindparam, select, update
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


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """What authenticating a request needs of a token row."""

    id: int
    name: str
    role: str
    last_used_at: datetime | None


_TOKENS: Table = ApiTokenRow.__table__  # type: ignore[assignment]
# Built once: every API request runs these, and building them cost more than running them.
_BY_HASH = select(_TOKENS.c.id, _TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.last_used_at).where(
    _TOKENS.c.token_hash == bindparam("token_hash"))
_TOUCH = update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id")).values(
    last_used_at=bindparam("used_at", type_=UTCDateTime()))


def find_by_token(session: Session, token: str) -> PresentedToken | None:
    """The token matching a presented token, or None."""
    row = session.execute(_BY_HASH, {"token_hash": hash_token(token)}).one_or_none()
    return PresentedToken(row.id, row.name, row.role, row.last_used_at) if row else None


def touch(session: Session, token_id: int, used_at: datetime) -> None:
    """Note when the token was last used."""
    session.execute(_TOUCH, {"token_id": token_id, "used_at": used_at})


def list_tokens(session: Session) -> list[ApiTokenRow]:
    """All tokens ordered by name."""
    return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name)))
