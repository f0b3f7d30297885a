"""The ``mail_outbox`` table: failure e-mails queued, retried and recorded once sent.

Claims use a lease like deliveries: a row claimed by a process that died is claimed
again once its lease has expired, so a mail is never lost, and at worst sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.store.base import Base, UTCDateTime


class MailRow(Base):
    """One e-mail to one recipient."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    delivery_ids: Mapped[list[int]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """A claimed e-mail, ready to send."""

    id: int
    recipient: str
    subject: str
    body: str
    attempt: int
    delivery_ids: tuple[int, ...] = ()


def enqueue(session: Session, *, kind: str, recipient: str, subject: str, body: str,
            delivery_ids: list[int], now: datetime) -> int:
    """Queue one e-mail, due at once; its id."""
    row = MailRow(kind=kind, recipient=recipient, subject=subject[:300], body=body,
                  delivery_ids=delivery_ids, state="pending", attempts=0,
                  next_attempt_at=now, created_at=now)
    session.add(row)
    session.flush()
    return row.id


def claim(session: Session, worker: str, limit: int, now: datetime,
          lease: timedelta) -> list[QueuedMail]:
    """Claim due pending e-mails (and those whose claimer's lease ran out)."""
    due = (select(MailRow.id)
           .where(MailRow.state == "pending", MailRow.next_attempt_at <= now,
                  or_(MailRow.lease_expires_at.is_(None), MailRow.lease_expires_at < now))
           .order_by(MailRow.next_attempt_at, MailRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(session.scalars(due))
    if not ids:
        return []
    # The lease condition again: on SQLite another process may have claimed meanwhile.
    session.execute(
        update(MailRow)
        .where(MailRow.id.in_(ids),
               or_(MailRow.lease_expires_at.is_(None), MailRow.lease_expires_at < now))
        .values(claimed_by=worker, lease_expires_at=now + lease,
                attempts=MailRow.attempts + 1))
    rows = session.scalars(select(MailRow).where(MailRow.id.in_(ids),
                                                 MailRow.claimed_by == worker))
    return [QueuedMail(r.id, r.recipient, r.subject, r.body, r.attempts,
                       tuple(r.delivery_ids or ())) for r in rows]


def record(session: Session, mail_id: int, worker: str, *, sent: bool, error: str | None,
           retry_at: datetime | None, now: datetime) -> bool:
    """Record a send: ``sent``, retry at ``retry_at``, or failed for good. False: lease lost."""
    values: dict[str, Any] = {"claimed_by": None, "lease_expires_at": None,
                              "last_error": error}
    if sent:
        values.update(state="sent", sent_at=now)
    elif retry_at is not None:
        values.update(state="pending", next_attempt_at=retry_at)
    else:
        values.update(state="failed")
    result = session.execute(update(MailRow).where(MailRow.id == mail_id,
                                                   MailRow.claimed_by == worker)
                             .values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recent(session: Session, limit: int = 100) -> list[MailRow]:
    """The newest e-mails, sent or not (what was mailed, to whom, when)."""
    return list(session.scalars(select(MailRow).order_by(MailRow.id.desc()).limit(limit)))
