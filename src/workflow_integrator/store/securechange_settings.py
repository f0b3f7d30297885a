"""The ``securechange_settings`` table: one row, the password as SecretBox ciphertext."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, Timestamps

SINGLETON_ID = 1


class SecureChangeSettingsRow(Timestamps, Base):
    """WI's SecureChange connection: ``config`` holds every non-secret setting."""

    __tablename__ = "securechange_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    password: Mapped[str | None] = mapped_column(Text, default=None)


def load(session: Session) -> SecureChangeSettingsRow | None:
    """The settings row, or None before the first save."""
    return session.get(SecureChangeSettingsRow, SINGLETON_ID)


def save(session: Session, config: dict[str, Any], password: str | None) -> None:
    """Create or replace the settings row (``password`` is ciphertext)."""
    row = session.get(SecureChangeSettingsRow, SINGLETON_ID)
    if row is None:
        session.add(SecureChangeSettingsRow(id=SINGLETON_ID, config=config, password=password))
    else:
        row.config = config
        row.password = password
