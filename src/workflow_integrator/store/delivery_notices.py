"""Which failed deliveries were already told about, so each failure is mailed once.

A notice row is claimed (inserted) by the process that mails it: the unique key
(delivery, state, since) lets only one process win, and a delivery that dies again
after a replay, or is held again later, is a new failure with a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    and_,
    delete,
    exists,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from workflow_integrator.domain.failure_notice import FailedDelivery
from workflow_integrator.store.base import Base, UTCDateTime
from workflow_integrator.store.deliveries import DeliveryRow as D
from workflow_integrator.store.events import EventRow
from workflow_integrator.store.figures import aware
from workflow_integrator.store.servers import OutboundServerRow as S

#: Dead deliveries older than this when first seen are not mailed (an upgrade, a long stop).
DEAD_LOOKBACK = timedelta(days=1)


class DeliveryNoticeRow(Base):
    """One failure of one delivery that was (being) told about."""

    __tablename__ = "delivery_notices"
    __table_args__ = (UniqueConstraint("delivery_id", "state", "since"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


N = DeliveryNoticeRow


@dataclass(frozen=True, slots=True)
class Notice:
    """A failure to tell, and the id of the request that stored its event (for logs)."""

    failure: FailedDelivery
    request_id: str | None


def claim_due(session: Session, now: datetime, held_after: timedelta | None,
              limit: int = 500) -> list[Notice]:
    """Record (and return) the failures nobody was told about yet: deliveries dead since
    the lookback, and those held longer than ``held_after`` (None: held ones are not told)."""
    dead = and_(D.state == "dead", D.finished_at.is_not(None),
                D.finished_at >= now - DEAD_LOOKBACK,
                ~exists().where(N.delivery_id == D.id, N.state == "dead",
                                N.since == D.finished_at))
    conditions = [dead]
    if held_after is not None:
        conditions.append(and_(
            D.state == "held", D.held_since.is_not(None), D.held_since <= now - held_after,
            ~exists().where(N.delivery_id == D.id, N.state == "held",
                            N.since == D.held_since)))
    rows = session.execute(
        select(D.id, D.ticket_id, D.workflow, D.point_name, S.name, D.state, D.reason,
               D.finished_at, D.held_since, EventRow.request_id)
        .join(S, S.id == D.server_id, isouter=True)
        .join(EventRow, EventRow.id == D.event_id)
        .where(or_(*conditions))
        .order_by(D.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    found = [Notice(FailedDelivery(
        r.id, r.ticket_id, r.workflow, r.point_name, r.name or "(deleted server)",
        "dead" if r.state == "dead" else "held", r.reason or "",
        aware(r.finished_at if r.state == "dead" else r.held_since) or now), r.request_id)
        for r in rows]
    insert = (postgresql.insert(N) if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert(N))
    claimed = set(session.scalars(
        insert.values([{"delivery_id": n.failure.delivery_id, "state": n.failure.state,
                        "since": n.failure.since, "created_at": now} for n in found])
        .on_conflict_do_nothing(index_elements=["delivery_id", "state", "since"])
        .returning(N.delivery_id)))
    # Another process may have claimed some of them meanwhile: it mails those.
    return [n for n in found if n.failure.delivery_id in claimed]


def unclaim(session: Session, failures: list[FailedDelivery]) -> None:
    """Forget claims whose e-mails could not be queued, so the next round tries again."""
    for failure in failures:
        session.execute(delete(N).where(N.delivery_id == failure.delivery_id,
                                         N.state == failure.state, N.since == failure.since))
