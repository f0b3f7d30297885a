"""The ``audit_log`` table: who changed what configuration, when and from where.

``changes`` holds the diff as ``{field: [before, after]}`` with secrets already
masked by the service layer: a ciphertext or a secret never reaches this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, UTCDateTime


class AuditRow(Base):
    """One change of configuration (a server, integration, setting, user or token)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(100), default=None)
    action: Mapped[str] = mapped_column(String(32))
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class AuditFilter:
    """Which records to read: by subject kind and name, actor, time; paged by id."""

    subject_kind: str | None = None
    subject: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def add(session: Session, row: AuditRow) -> None:
    """Add ``row`` to the caller's transaction (committed with the change it records)."""
    session.add(row)


def find(session: Session, flt: AuditFilter) -> list[AuditRow]:
    """Records matching ``flt``, newest first."""
    query = select(AuditRow)
    if flt.subject_kind is not None:
        query = query.where(AuditRow.subject_kind == flt.subject_kind)
    if flt.subject is not None:
        query = query.where(AuditRow.subject == flt.subject)
    if flt.actor is not None:
        query = query.where(AuditRow.actor == flt.actor)
    if flt.since is not None:
        query = query.where(AuditRow.at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditRow.at < flt.until)
    if flt.before_id is not None:
        query = query.where(AuditRow.id < flt.before_id)
    return list(session.scalars(query.order_by(AuditRow.id.desc()).limit(flt.limit)))


def prune(session: Session, before: datetime) -> int:
    """Delete records older than ``before``; how many went."""
    result = session.execute(delete(AuditRow).where(AuditRow.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
