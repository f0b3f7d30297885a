"""The ``smtp_settings`` table: one row, the password as SecretBox ciphertext."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, Timestamps

SINGLETON_ID = 1


class SmtpSettingsRow(Timestamps, Base):
    """WI's mail server: ``config`` holds every non-secret setting."""

    __tablename__ = "smtp_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    password: Mapped[str | None] = mapped_column(Text, default=None)



def load(session: Session) -> SmtpSettingsRow | None:
    """The settings row, or None before the first save."""
    return session.get(SmtpSettingsRow, SINGLETON_ID)


def save(session: Session, config: dict[str, Any], password: str | None) -> None:
    """Create or replace the settings row (``password`` is ciphertext)."""
    row = session.get(SmtpSettingsRow, SINGLETON_ID)
    if row is None:
        session.add(SmtpSettingsRow(id=SINGLETON_ID, config=config, password=password))
    else:
        row.config = config
        row.password = password


def delete(session: Session) -> bool:
    """Remove the settings (no e-mails until saved again); False when there were none."""
    row = session.get(SmtpSettingsRow, SINGLETON_ID)
    if row is None:
        return False
    session.delete(row)
    return True
