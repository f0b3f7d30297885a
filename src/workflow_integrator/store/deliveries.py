"""Deliveries as a transactional outbox: the tables and ``DatabaseDeliveryQueue``.

The ``deliveries`` table is the queue. Planning inserts rows in the transaction that
marks their event planned; workers lease them with one claim statement; every
outcome is recorded with its attempt, state and the server's breaker at once.

Concurrency, per engine:
- SQLite: one writer at a time. Every transaction here starts with an UPDATE, so it
  holds the write lock from its first statement and its reads cannot go stale; the
  claim itself is one ``UPDATE … RETURNING``.
- PostgreSQL: a claim locks the ``delivery_servers`` rows of the servers it serves
  (``FOR UPDATE SKIP LOCKED``), so two processes never count one server's free
  slots at once, then locks the chosen deliveries with ``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Engine,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, sessionmaker

from workflow_integrator.delivery.queue import (
    ClaimedDelivery,
    ClaimedEvent,
    ClaimedWriteback,
    DeliveryContext,
    DeliveryFilter,
    OutcomeToRecord,
    PlannedDelivery,
    PlanToStore,
)
from workflow_integrator.domain.delivery import (
    CANCELLABLE_STATES,
    DEFAULT_REPLAY_STATES,
    FINISHED_STATES,
    REPLAYABLE_STATES,
    UNFINISHED_STATES,
    Breaker,
    BreakerPolicy,
    BreakerState,
    DeliveryState,
    Outcome,
    WritebackState,
    breaker_signal,
    event_order_time,
    give_up_after_hold,
)
from workflow_integrator.domain.events import EventState
from workflow_integrator.store.base import Base, UTCDateTime
from workflow_integrator.store.db import is_postgresql
from workflow_integrator.store.events import EventRow
from workflow_integrator.store.servers import OutboundServerRow

log = logging.getLogger(__name__)

#: 64-bit ids on PostgreSQL; SQLite only auto-numbers an INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")
DEFAULT_MAX_CONCURRENCY = 8  # the OutboundServer default, for a config without the field
DEFAULT_GIVE_UP_AFTER = timedelta(hours=24)
#: The outcome recorded for an attempt whose worker vanished (next to the Outcome kinds).
LOST_OUTCOME = "lost"


class DeliveryRow(Base):
    """One request to one outbound server for one firing point of one event."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # Claim: due pending deliveries; next_due; refresh_held.
        Index("ix_deliveries_state_due_at", "state", "due_at"),
        # Claim: pending deliveries walked in order, so a claim stops at its first heads.
        Index("ix_deliveries_state_order", "state", "order_at", "event_id", "point_index", "id"),
        # FIFO: an earlier unfinished delivery of the same ticket and server.
        Index(
            "ix_deliveries_ticket_server_order",
            "ticket_id", "server_id", "order_at", "event_id", "point_index",
        ),
        # Free slots: what is in flight per server.
        Index("ix_deliveries_server_state", "server_id", "state"),
        Index("ix_deliveries_writeback", "writeback_state", "writeback_due"),
        Index("ix_deliveries_event_id", "event_id"),
        Index("ix_deliveries_finished_at", "finished_at"),
        Index("ix_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No cascade: an event goes only once its deliveries are gone (see prune).
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("events.id"))
    ticket_id: Mapped[int] = mapped_column(BigInteger)
    workflow: Mapped[str] = mapped_column(String(200))
    point_name: Mapped[str] = mapped_column(String(200))
    point_index: Mapped[int] = mapped_column(Integer)
    server_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("outbound_servers.id", ondelete="SET NULL"), nullable=True
    )
    # Order key within a ticket: (order_at, event_id, point_index).
    order_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    give_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The lease of the worker sending it (or, once delivered, writing its response back).
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    replay_series: Mapped[int] = mapped_column(Integer, default=0)
    replayed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The point maps response values into the ticket: later points may render them.
    writes_back: Mapped[bool] = mapped_column(Boolean, default=False)
    writeback_state: Mapped[str] = mapped_column(String(16), default=WritebackState.NONE)
    writeback_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    writeback_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    writeback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    writeback_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    writeback_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancelled_why: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryAttemptRow(Base):
    """One attempt of a delivery: what was sent and what came back (secrets masked)."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("deliveries.id", ondelete="CASCADE")
    )
    series: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    request_headers: Mapped[list[list[str]]] = mapped_column(JSON)
    request_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[list[list[str]]] = mapped_column(JSON)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_class: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)


class DeliveryServerRow(Base):
    """Per-server delivery state: the circuit breaker, and the row a PostgreSQL claim locks."""

    __tablename__ = "delivery_servers"

    server_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("outbound_servers.id", ondelete="CASCADE"), primary_key=True
    )
    breaker_failures: Mapped[int] = mapped_column(Integer, default=0)
    breaker_openings: Mapped[int] = mapped_column(Integer, default=0)
    breaker_open_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    breaker_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


D = DeliveryRow
B = DeliveryServerRow
S = OutboundServerRow
#: The tables themselves: a statement on a table skips the ORM's bulk-update machinery,
#: which cost more than the statement's work when run for each delivery.
_DT: Table = DeliveryRow.__table__  # type: ignore[assignment]
_ET: Table = EventRow.__table__  # type: ignore[assignment]


def stored_breakers(session: Session, server_ids: Sequence[int]) -> dict[int, Breaker]:
    """The stored breakers of these servers (a server that never failed has none)."""
    if not server_ids:
        return {}
    rows = session.scalars(select(B).where(B.server_id.in_(list(server_ids))))
    return {
        row.server_id: Breaker(row.breaker_failures, row.breaker_open_until, row.breaker_openings)
        for row in rows
    }


def _order_key(row: type[DeliveryRow]) -> ColumnElement[Any]:
    return tuple_(row.order_at, row.event_id, row.point_index, row.id)


def _is_head(row: type[DeliveryRow]) -> ColumnElement[bool]:
    """No earlier delivery of the ticket blocks ``row``: FIFO per server, and write-backs."""
    earlier = aliased(DeliveryRow, name="earlier")
    writing = aliased(DeliveryRow, name="writing")
    return and_(
        ~exists().where(
            earlier.ticket_id == row.ticket_id,
            earlier.server_id == row.server_id,
            earlier.state.in_(UNFINISHED_STATES),
            _order_key(earlier) < _order_key(row),
        ),
        # A later point (any server) may render a field an earlier point's response writes
        # back: wait while that earlier one is unsent, retrying, held or writing back.
        ~exists().where(
            writing.ticket_id == row.ticket_id,
            or_(
                writing.writeback_state == WritebackState.PENDING,
                and_(writing.writes_back.is_(True), writing.state.in_(UNFINISHED_STATES)),
            ),
            _order_key(writing) < _order_key(row),
        ),
    )


def _server_available() -> ColumnElement[bool]:
    enabled = func.coalesce(S.config["enabled"].as_boolean(), true())
    return and_(S.state == "ok", enabled)


def _now() -> Any:
    # Bound, not inlined: a statement built once is reused at every moment.
    return bindparam("now", type_=UTCDateTime())


def _free_slots(now: Any) -> Any:
    """Per sendable server: how many more requests may be in flight (breaker and limit)."""
    in_flight = (
        select(D.server_id.label("server_id"), func.count().label("n"))
        .where(D.state == DeliveryState.IN_FLIGHT)
        .group_by(D.server_id)
        .subquery("in_flight")
    )
    limit = func.coalesce(S.config["max_concurrency"].as_integer(), DEFAULT_MAX_CONCURRENCY)
    allowance = case(
        (B.breaker_open_until.is_(None), limit),
        (B.breaker_open_until > now, 0),
        else_=1,  # half-open: one probe at a time
    )
    return (
        select(S.id.label("server_id"), (allowance - func.coalesce(in_flight.c.n, 0)).label("free"))
        .outerjoin(B, B.server_id == S.id)
        .outerjoin(in_flight, in_flight.c.server_id == S.id)
        .where(_server_available())
        .subquery("slots")
    )


#: A claim looks at this many due heads per delivery it may take (in order), not at all.
HEADS_PER_CLAIMED = 4


@lru_cache(maxsize=128)
def _claimable_ids(limit: int) -> Select[Any]:
    """Ids to claim: FIFO heads that are due, numbered per server against its free slots.

    Only the first heads in order are ranked: the pending deliveries are walked in order
    (``ix_deliveries_state_order``) until enough heads of servers with free slots are found,
    so a claim costs the same with 100 or 100,000 pending. Built once per ``limit``: the
    moment is bound as ``now`` and the servers to claim for as ``server_ids``.
    Building it each time cost more CPU than running it.
    """
    now = _now()
    cand_row = aliased(DeliveryRow, name="cand")
    slots = _free_slots(now)
    where = [
        cand_row.state == DeliveryState.PENDING,
        cand_row.due_at <= now,
        cand_row.server_id.in_(select(slots.c.server_id).where(slots.c.free > 0)),
        _is_head(cand_row),
    ]
    where.append(cand_row.server_id.in_(bindparam("server_ids", expanding=True)))
    heads = (
        select(cand_row.id, cand_row.server_id, cand_row.order_at, cand_row.event_id,
               cand_row.point_index)
        .where(*where)
        .order_by(cand_row.order_at, cand_row.event_id, cand_row.point_index, cand_row.id)
        .limit(max(limit * HEADS_PER_CLAIMED, 32))
        .subquery("heads")
    )
    number = func.row_number().over(
        partition_by=heads.c.server_id,
        order_by=(heads.c.order_at, heads.c.event_id, heads.c.point_index, heads.c.id),
    )
    free = _free_slots(now)
    ranked = (
        select(
            heads.c.id, heads.c.order_at, heads.c.event_id, heads.c.point_index,
            number.label("number"), free.c.free,
        )
        .join(free, free.c.server_id == heads.c.server_id)
        .subquery("ranked")
    )
    return (
        select(ranked.c.id)
        .where(ranked.c.number <= ranked.c.free)
        .order_by(ranked.c.order_at, ranked.c.event_id, ranked.c.point_index, ranked.c.id)
        .limit(limit)
    )


@lru_cache(maxsize=8)
def _next_due_statement(work: str) -> Select[Any]:
    """The earliest moments each kind of ``work`` may be due, ``now`` bound (see
    ``DatabaseDeliveryQueue.next_due``): one round trip, each looking at its own index."""
    now = _now()
    head = aliased(DeliveryRow, name="head")
    slots = _free_slots(now)
    sending: list[Select[Any]] = [
        # The first head in due order (walking the index, not every pending delivery).
        select(head.due_at)
        .where(head.state == DeliveryState.PENDING,
               head.server_id.in_(select(slots.c.server_id).where(slots.c.free > 0)),
               _is_head(head))
        .order_by(head.due_at)
        .limit(1),
        # An open breaker with work waiting: due when it half-opens.
        select(func.min(B.breaker_open_until)).where(
            B.breaker_open_until > now,
            exists().where(D.server_id == B.server_id, D.state == DeliveryState.PENDING),
        ),
        select(func.min(D.lease_expires_at)).where(D.state == DeliveryState.IN_FLIGHT),
    ]
    writing: list[Select[Any]] = [
        select(func.min(func.coalesce(D.lease_expires_at, D.writeback_due)))
        .where(D.writeback_state == WritebackState.PENDING),
    ]
    planning: list[Select[Any]] = [
        select(func.min(func.coalesce(
            EventRow.plan_lease_expires_at, EventRow.next_plan_at, now
        ))).where(EventRow.state == EventState.PENDING),
    ]
    by_work = {"send": sending, "writeback": writing, "plan": planning}
    queries = by_work.get(work, [*sending, *writing, *planning])
    return select(*(q.scalar_subquery() for q in queries))


def _claimed(row: Any) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row.id, event_id=row.event_id, ticket_id=row.ticket_id, workflow=row.workflow,
        point_name=row.point_name, server_id=row.server_id, attempt=row.attempts,
        idempotency_key=row.idempotency_key, order_at=row.order_at, late=row.late,
        replay_series=row.replay_series, lease_expires_at=row.lease_expires_at,
        give_up_at=row.give_up_at, point_index=row.point_index,
    )


_CLAIMED_COLUMNS = (
    D.id, D.event_id, D.ticket_id, D.workflow, D.point_name, D.server_id, D.attempts,
    D.idempotency_key, D.order_at, D.late, D.replay_series, D.lease_expires_at, D.give_up_at,
    D.point_index,
)


_SLOTS = _free_slots(_now())
_OPEN_SERVERS = select(_SLOTS.c.server_id).where(_SLOTS.c.free > 0)


def _take(target: Any) -> Any:
    """Lease the ``target`` deliveries still pending to ``owner`` until ``lease_until``."""
    return (
        update(_DT)
        .where(_DT.c.id.in_(target), _DT.c.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.IN_FLIGHT, lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("lease_until", type_=UTCDateTime()),
            attempts=_DT.c.attempts + 1, updated_at=_now(),
        )
        .returning(*(_DT.c[column.key] for column in _CLAIMED_COLUMNS))
    )


_BT: Table = DeliveryServerRow.__table__  # type: ignore[assignment]
#: A success closes the server's breaker; one that is closed already is left untouched.
_CLOSE_BREAKER = (
    update(_BT)
    .where(_BT.c.server_id == bindparam("b_server_id"),
           or_(_BT.c.breaker_failures > 0, _BT.c.breaker_open_until.is_not(None)))
    .values(breaker_failures=0, breaker_openings=0, breaker_open_until=None,
            breaker_changed_at=case((_BT.c.breaker_open_until.is_(None),
                                     _BT.c.breaker_changed_at), else_=_now()))
)

#: An event this worker leases for planning, marked planned (or failed) with its snapshot.
_PLAN_EVENT = (
    update(_ET)
    .where(_ET.c.id == bindparam("event_id"), _ET.c.state == EventState.PENDING,
           _ET.c.plan_lease_owner == bindparam("owner"))
    .values(state=bindparam("new_state", type_=_ET.c.state.type),
            state_reason=bindparam("new_reason", type_=_ET.c.state_reason.type),
            state_changed_at=_now(), plan_lease_owner=None, plan_lease_expires_at=None,
            next_plan_at=None,
            ticket_snapshot=bindparam("snapshot", type_=_ET.c.ticket_snapshot.type),
            ticket_read_at=bindparam("read_at", type_=UTCDateTime()))
    .returning(_ET.c.ticket_id, _ET.c.order_at, _ET.c.update_date, _ET.c.received_at)
)

#: PostgreSQL: the ids chosen and locked first, as ``chosen``.
_TAKE_CHOSEN = _take(bindparam("chosen", expanding=True))


@lru_cache(maxsize=128)
def _take_heads(limit: int) -> Any:
    """SQLite: choose and lease in one statement (the transaction holds the write lock)."""
    return _take(_claimable_ids(limit))


class DatabaseDeliveryQueue:
    """``DeliveryQueue`` on the WI database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._pg = is_postgresql(engine)
        self._give_up_after = give_up_after
        self._policy = breaker or BreakerPolicy()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- sending -------------------------------------------------------------------------

    def claim(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (see ``DeliveryQueue.claim``)."""
        if limit <= 0:
            return []
        with self._transaction() as session:
            # First statement a write: on SQLite the transaction holds the lock from here.
            self._reclaim_expired(session, now)
            take: Any
            found: dict[str, Any]
            if self._pg:
                server_ids = self._lock_servers(session, now)
                if not server_ids:
                    return []
                chosen = list(session.scalars(_claimable_ids(limit),
                                              {"now": now, "server_ids": server_ids}))
                if not chosen:
                    return []
                target = list(session.scalars(
                    select(D.id)
                    .where(D.id.in_(chosen), D.state == DeliveryState.PENDING)
                    .with_for_update(skip_locked=True)
                ))
                take, found = _TAKE_CHOSEN, {"chosen": target}
            else:
                open_servers = list(session.scalars(_OPEN_SERVERS, {"now": now}))
                if not open_servers:
                    return []  # every server is at its limit: no need to walk the queue
                take, found = _take_heads(limit), {"server_ids": open_servers}
            rows = session.execute(
                take, {**found, "now": now, "owner": worker_id, "lease_until": now + lease}
            ).all()
        claimed = [_claimed(row) for row in rows]
        claimed.sort(key=lambda c: (c.order_at, c.event_id, c.point_index, c.id))
        return claimed

    def _reclaim_expired(self, session: Session, now: datetime) -> None:
        # The worker that held these stopped renewing (crashed or cut off): send them again.
        expired = (
            select(D.id)
            .where(D.state == DeliveryState.IN_FLIGHT, D.lease_expires_at <= now)
            .with_for_update(skip_locked=True)
        )
        reclaimed = session.execute(
            update(D)
            .where(D.id.in_(expired), D.state == DeliveryState.IN_FLIGHT)
            .values(
                state=DeliveryState.PENDING, lease_owner=None, lease_expires_at=None,
                due_at=now, updated_at=now,
            )
            .returning(D.id, D.replay_series, D.attempts)
            .execution_options(synchronize_session=False)
        ).all()
        if not reclaimed:
            return
        log.warning("reclaimed %d deliveries whose lease expired", len(reclaimed),
                    extra={"delivery_ids": [row.id for row in reclaimed]})
        # The attempt counts (the request may have gone out): its record says so.
        session.add_all(
            DeliveryAttemptRow(
                delivery_id=row.id, series=row.replay_series, number=row.attempts,
                started_at=now, finished_at=now, duration_ms=0, method="", url="",
                request_headers=[], response_headers=[], error_class="LeaseExpired",
                error_message="the worker stopped renewing its lease before it recorded an "
                "outcome; the request may have been sent",
                stage="lease", outcome=LOST_OUTCOME, reason="lease expired",
            )
            for row in reclaimed
        )

    def _lock_servers(self, session: Session, now: datetime) -> list[int]:
        """PostgreSQL: lock the breaker rows of servers with due work, skipping those
        another process is claiming for right now."""
        due_servers = (
            select(D.server_id)
            .where(D.state == DeliveryState.PENDING, D.due_at <= now, D.server_id.is_not(None))
            .distinct()
        )
        return list(session.scalars(
            select(B.server_id)
            .where(B.server_id.in_(due_servers))
            .order_by(B.server_id)
            .with_for_update(skip_locked=True)
        ))

    def renew(self, worker_id: str, ids: Sequence[int], now: datetime, lease: timedelta) -> None:
        """Extend this worker's leases on ``ids``."""
        if not ids:
            return
        with self._transaction() as session:
            session.execute(
                update(D)
                .where(
                    D.id.in_(list(ids)), D.lease_owner == worker_id,
                    D.state == DeliveryState.IN_FLIGHT,
                )
                .values(lease_expires_at=now + lease)
                .execution_options(synchronize_session=False)
            )

    def release(self, worker_id: str, ids: Sequence[int]) -> None:
        """Hand leased, unsent deliveries back: pending, attempt not counted."""
        if not ids:
            return
        with self._transaction() as session:
            session.execute(
                update(D)
                .where(
                    D.id.in_(list(ids)), D.lease_owner == worker_id,
                    D.state == DeliveryState.IN_FLIGHT,
                )
                .values(
                    state=DeliveryState.PENDING, lease_owner=None, lease_expires_at=None,
                    attempts=D.attempts - 1,
                )
                .execution_options(synchronize_session=False)
            )

    def record(self, delivery_id: int, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        """Attempt row + state transition + breaker + write-back, in one transaction."""
        with self._transaction() as session:
            return self._record(session, delivery_id, worker_id, outcome, now)

    def record_many(self, worker_id: str, outcomes: Sequence[OutcomeToRecord]) -> list[bool]:
        """:meth:`record` for each outcome in one transaction: one durable commit for all."""
        if not outcomes:
            return []
        closed: set[int] = set()  # servers whose breaker this batch already closed
        with self._transaction() as session:
            return [self._record(session, item.delivery_id, worker_id, item.outcome, item.now,
                                 closed)
                    for item in outcomes]

    def _record(
        self, session: Session, delivery_id: int, worker_id: str, outcome: Outcome,
        now: datetime, closed: set[int] | None = None,
    ) -> bool:
        # Check and move in one statement: the lease must still be ours.
        values = _transition(outcome, now)
        row = session.execute(
            _record_statement(frozenset(values)),
            {"delivery_id": delivery_id, "owner": worker_id, "now": now,
             **{f"v_{key}": value for key, value in values.items()}},
        ).one_or_none()
        if row is None:
            log.warning(
                "outcome of delivery %s ignored: worker %s no longer holds its lease",
                delivery_id, worker_id,
            )
            return False
        session.add(_attempt_row(delivery_id, row.replay_series, row.attempts, outcome, now))
        if row.server_id is not None:
            self._update_breaker(session, row.server_id, outcome, now, closed)
        return True

    def _update_breaker(
        self, session: Session, server_id: int, outcome: Outcome, now: datetime,
        closed: set[int] | None = None,
    ) -> None:
        signal = breaker_signal(outcome)
        if signal == "none":
            return
        if closed is not None:
            if signal == "success" and server_id in closed:
                return  # closed by an earlier success of this transaction, nothing failed since
            (closed.add if signal == "success" else closed.discard)(server_id)
        if signal == "success":
            # The common case, in one statement that changes nothing on a closed breaker.
            session.execute(_CLOSE_BREAKER, {"b_server_id": server_id, "now": now})
            return
        self._ensure_servers(session, [server_id])
        stored = session.execute(
            select(B).where(B.server_id == server_id).with_for_update()
        ).scalar_one()
        before = Breaker(
            stored.breaker_failures, stored.breaker_open_until, stored.breaker_openings
        )
        after = before.after(signal, now, self._policy)
        if after == before:
            return
        if after.state(now) != before.state(now):
            log.info("circuit breaker of server %s: %s", server_id, after.state(now).value)
            stored.breaker_changed_at = now
        stored.breaker_failures = after.failures
        stored.breaker_open_until = after.open_until
        stored.breaker_openings = after.openings

    def _ensure_servers(self, session: Session, server_ids: Sequence[int]) -> None:
        ids = sorted({i for i in server_ids if i is not None})
        if not ids:
            return
        upsert = postgresql.insert(B) if self._pg else sqlite.insert(B)
        session.execute(
            upsert.values([{"server_id": i, "breaker_failures": 0, "breaker_openings": 0}
                           for i in ids])
            .on_conflict_do_nothing(index_elements=["server_id"])
        )

    def breaker(self, server_id: int, now: datetime) -> tuple[BreakerState, Breaker]:
        """A server's breaker as it stands at ``now`` (for showing on the server)."""
        with self._sessions() as session:
            current = stored_breakers(session, [server_id]).get(server_id, Breaker())
        return current.state(now), current

    def context(self, delivery_id: int) -> DeliveryContext:
        """The event and ticket snapshot a delivery's request is rendered from."""
        found = self.contexts([delivery_id]).get(delivery_id)
        if found is None:
            raise LookupError(f"delivery {delivery_id} does not exist")
        return found

    def contexts(self, delivery_ids: Sequence[int]) -> dict[int, DeliveryContext]:
        """:meth:`context` of several deliveries in two statements (missing ones left out)."""
        if not delivery_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(D.id, D.ticket_id, D.created_at, EventRow.event, EventRow.info,
                       EventRow.ticket_snapshot, EventRow.ticket_read_at,
                       EventRow.received_at, EventRow.request_id)
                .join(EventRow, EventRow.id == D.event_id)
                .where(D.id.in_(list(delivery_ids)))
            ).all()
            tickets = sorted({row.ticket_id for row in rows})
            written: dict[int, datetime] = {}
            if tickets:
                written = {
                    ticket: moment for ticket, moment in session.execute(
                        select(D.ticket_id, func.max(D.writeback_at))
                        .where(D.ticket_id.in_(tickets),
                               D.writeback_state == WritebackState.DONE)
                        .group_by(D.ticket_id)
                    ).all() if moment is not None
                }
        found: dict[int, DeliveryContext] = {}
        for row in rows:
            read_at = row.ticket_read_at or row.created_at
            last = written.get(row.ticket_id)
            # >=: a write-back in the same clock tick as the read may not be in the snapshot.
            stale = row.ticket_snapshot is None or (last is not None and last >= read_at)
            found[row.id] = DeliveryContext(
                event=row.event, info=dict(row.info or {}),
                ticket=dict(row.ticket_snapshot or {}), ticket_read_at=read_at, stale=stale,
                received_at=_aware(row.received_at) if row.received_at else None,
                request_id=row.request_id,
            )
        return found

    def save_ticket(self, delivery_id: int, ticket: dict[str, Any], now: datetime) -> None:
        """Replace the ticket snapshot of the delivery's event with one read at ``now``."""
        with self._transaction() as session:
            session.execute(
                update(EventRow)
                .where(EventRow.id == select(D.event_id).where(D.id == delivery_id)
                       .scalar_subquery())
                .values(ticket_snapshot=ticket, ticket_read_at=now)
                .execution_options(synchronize_session=False)
            )

    def next_due(self, now: datetime, work: str = "all") -> datetime | None:
        """The earliest moment a worker may find work (``now`` when some is due already):
        ``work`` "send", "writeback" or "plan" asks about that loop's work only."""
        with self._sessions() as session:
            found = session.execute(_next_due_statement(work), {"now": now}).one()
        candidates = list(found)
        times = [t for t in candidates if t is not None]
        if not times:
            return None
        earliest = min(_aware(t) for t in times)
        return max(earliest, now) if earliest < now else earliest

    def refresh_held(self, now: datetime) -> None:
        """Hold deliveries of unavailable servers, resume the others (give-up moved)."""
        unavailable = select(S.id).where(~_server_available())
        with self._transaction() as session:
            session.execute(
                update(D)
                .where(D.state == DeliveryState.PENDING, D.server_id.in_(unavailable))
                .values(state=DeliveryState.HELD, held_since=now, updated_at=now,
                        reason="held: the outbound server is disabled or needs credentials")
                .execution_options(synchronize_session=False)
            )
            resumable = session.execute(
                select(D.id, D.give_up_at, D.held_since)
                .where(
                    D.state == DeliveryState.HELD,
                    D.server_id.is_not(None),
                    D.server_id.not_in(unavailable),
                )
            ).all()
            for found in resumable:
                session.execute(
                    update(D)
                    .where(D.id == found.id, D.state == DeliveryState.HELD)
                    .values(
                        state=DeliveryState.PENDING, held_since=None, updated_at=now,
                        give_up_at=give_up_after_hold(found.give_up_at, found.held_since, now),
                        due_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            session.execute(
                update(D)
                .where(D.state.in_(CANCELLABLE_STATES), D.server_id.is_(None))
                .values(state=DeliveryState.DEAD, finished_at=now, updated_at=now,
                        reason="its outbound server was deleted")
                .execution_options(synchronize_session=False)
            )
            waiting = session.scalars(
                select(D.server_id)
                .where(D.state.in_(UNFINISHED_STATES), D.server_id.is_not(None))
                .distinct()
            ).all()
            self._ensure_servers(session, [i for i in waiting if i is not None])

    # -- write-back ----------------------------------------------------------------------

    def claim_writebacks(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedWriteback]:
        """Lease due write-backs; a ticket's earlier write-back goes first."""
        if limit <= 0:
            return []
        if not self._writeback_due(now):
            return []  # the common case, without taking SQLite's write lock
        cand = aliased(DeliveryRow, name="cand")
        earlier = aliased(DeliveryRow, name="earlier")
        ids = (
            select(cand.id)
            .where(
                cand.writeback_state == WritebackState.PENDING,
                cand.writeback_due <= now,
                or_(cand.lease_expires_at.is_(None), cand.lease_expires_at <= now),
                ~exists().where(
                    earlier.ticket_id == cand.ticket_id,
                    earlier.writeback_state == WritebackState.PENDING,
                    _order_key(earlier) < _order_key(cand),
                ),
            )
            .order_by(cand.order_at, cand.event_id, cand.point_index, cand.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._transaction() as session:
            rows = session.execute(
                update(D)
                .where(D.id.in_(ids), D.writeback_state == WritebackState.PENDING)
                .values(lease_owner=worker_id, lease_expires_at=now + lease,
                        writeback_attempts=D.writeback_attempts + 1)
                .returning(D.id, D.ticket_id, D.workflow, D.point_name, D.writeback_fields,
                           D.writeback_attempts)
                .execution_options(synchronize_session=False)
            ).all()
        return [
            ClaimedWriteback(
                delivery_id=r.id, ticket_id=r.ticket_id, workflow=r.workflow,
                point_name=r.point_name, fields=dict(r.writeback_fields or {}),
                attempt=r.writeback_attempts,
            )
            for r in sorted(rows, key=lambda r: r.id)
        ]

    def _writeback_due(self, now: datetime) -> bool:
        with self._sessions() as session:
            return session.scalar(
                select(D.id).where(D.writeback_state == WritebackState.PENDING,
                                   D.writeback_due <= now).limit(1)
            ) is not None

    def record_writeback(
        self, delivery_id: int, worker_id: str, ok: bool, detail: str,
        retry_at: datetime | None, now: datetime,
    ) -> bool:
        """Done, retried later, or failed; False when the lease was lost."""
        if ok:
            values: dict[str, Any] = {"writeback_state": WritebackState.DONE, "writeback_at": now}
        elif retry_at is not None:
            values = {"writeback_state": WritebackState.PENDING, "writeback_due": retry_at}
        else:
            values = {"writeback_state": WritebackState.FAILED}
        with self._transaction() as session:
            done = session.execute(
                update(D)
                .where(D.id == delivery_id, D.lease_owner == worker_id,
                       D.writeback_state == WritebackState.PENDING)
                .values(**values, writeback_detail=detail, lease_owner=None,
                        lease_expires_at=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    # -- planning ------------------------------------------------------------------------

    def claim_events(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedEvent]:
        """Lease pending events due for planning, in event order."""
        if limit <= 0:
            return []
        due = aliased(EventRow, name="due")
        ids = (
            select(due.id)
            .where(
                due.state == EventState.PENDING,
                or_(due.next_plan_at.is_(None), due.next_plan_at <= now),
                or_(due.plan_lease_expires_at.is_(None), due.plan_lease_expires_at <= now),
            )
            .order_by(due.order_at, due.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with self._transaction() as session:
            rows = session.execute(
                update(EventRow)
                .where(EventRow.id.in_(ids), EventRow.state == EventState.PENDING)
                .values(plan_lease_owner=worker_id, plan_lease_expires_at=now + lease,
                        plan_attempts=EventRow.plan_attempts + 1)
                .returning(EventRow.id, EventRow.ticket_id, EventRow.event, EventRow.info,
                           EventRow.plan_attempts, EventRow.order_at, EventRow.request_id)
                .execution_options(synchronize_session=False)
            ).all()
        ordered = sorted(rows, key=lambda r: (_aware(r.order_at) if r.order_at else now, r.id))
        return [
            ClaimedEvent(id=r.id, ticket_id=r.ticket_id, event=r.event, info=dict(r.info),
                         attempt=r.plan_attempts, request_id=r.request_id)
            for r in ordered
        ]

    def store_plan(
        self, event_id: int, worker_id: str, ticket_snapshot: dict[str, Any],
        planned: Sequence[PlannedDelivery], now: datetime, *, failed_reason: str | None = None,
        workflow: str | None = None,
    ) -> bool:
        """Insert the event's deliveries and mark it planned or failed, in one transaction."""
        with self._transaction() as session:
            return self._store_plan(session, event_id, worker_id, ticket_snapshot, planned, now,
                                    failed_reason=failed_reason, workflow=workflow)

    def store_plans(
        self, worker_id: str, plans: Sequence[PlanToStore], now: datetime
    ) -> list[bool]:
        """:meth:`store_plan` for each plan in one transaction: one durable commit for all."""
        if not plans:
            return []
        with self._transaction() as session:
            self._ensure_servers(session, [p.server_id for plan in plans for p in plan.planned
                                           if p.server_id is not None and p.error is None])
            tickets = select(EventRow.ticket_id).where(
                EventRow.id.in_([plan.event_id for plan in plans]))
            started = _started(session, D.ticket_id.in_(tickets))
            return [self._store_plan(session, plan.event_id, worker_id, plan.ticket_snapshot,
                                     plan.planned, now, failed_reason=plan.failed_reason,
                                     workflow=None, servers_ensured=True, started=started,
                                     read_at=plan.read_at)
                    for plan in plans]

    def _store_plan(
        self, session: Session, event_id: int, worker_id: str, ticket_snapshot: dict[str, Any],
        planned: Sequence[PlannedDelivery], now: datetime, *, failed_reason: str | None,
        workflow: str | None, servers_ensured: bool = False,
        started: dict[tuple[int, int], list[tuple[datetime, int, int]]] | None = None,
        read_at: datetime | None = None,
    ) -> bool:
        state = EventState.FAILED if failed_reason is not None else EventState.PLANNED
        event = session.execute(_PLAN_EVENT, {
            "event_id": event_id, "owner": worker_id, "now": now, "new_state": state,
            "new_reason": failed_reason, "snapshot": ticket_snapshot,
            "read_at": read_at if read_at is not None else now,
        }).one_or_none()
        if event is None:
            log.warning("plan of event %s ignored: worker %s no longer holds it",
                        event_id, worker_id)
            return False
        order_at = (_aware(event.order_at) if event.order_at is not None
                    else event_order_time(event.update_date, _aware(event.received_at)))
        name = workflow if workflow is not None else _workflow_name(ticket_snapshot)
        if started is None:
            started = _started(session, D.ticket_id == event.ticket_id)
        rows = [
            self._new_delivery(event_id, event.ticket_id, name, order_at, point, now, started)
            for point in planned
        ]
        if not servers_ensured:
            self._ensure_servers(session, [r["server_id"] for r in rows
                                           if r["server_id"] is not None])
        if rows:
            # One executemany on the table, not the ORM's unit of work for each row.
            session.execute(insert(_DT), rows)
        return True

    def _new_delivery(
        self, event_id: int, ticket_id: int, workflow: str, order_at: datetime,
        point: PlannedDelivery, now: datetime,
        started: dict[tuple[int, int], list[tuple[datetime, int, int]]],
    ) -> dict[str, Any]:
        dead = point.error is not None or point.server_id is None
        late = False
        if not dead:
            # Late: a later delivery of the ticket to this server already went out.
            key = (_aware(order_at), event_id, point.point_index)
            late = any(other > key for other in started.get((ticket_id, point.server_id or 0),
                                                            ()))
        return {
            "event_id": event_id, "ticket_id": ticket_id, "workflow": workflow,
            "point_name": point.point_name, "point_index": point.point_index,
            "server_id": point.server_id, "order_at": order_at,
            "state": DeliveryState.DEAD if dead else DeliveryState.PENDING,
            "due_at": now, "attempts": 0, "give_up_at": now + self._give_up_after,
            "idempotency_key": uuid.uuid4().hex, "late": late, "replay_series": 0,
            "reason": (point.error or "no outbound server") if dead else None,
            "writes_back": point.writes_back,
            "writeback_state": WritebackState.NONE, "writeback_attempts": 0,
            "created_at": now, "updated_at": now, "finished_at": now if dead else None,
        }

    def postpone_event(
        self, event_id: int, worker_id: str, reason: str, retry_at: datetime
    ) -> bool:
        """Keep the event pending, planned again at ``retry_at``."""
        with self._transaction() as session:
            done = session.execute(
                update(EventRow)
                .where(EventRow.id == event_id, EventRow.state == EventState.PENDING,
                       EventRow.plan_lease_owner == worker_id)
                .values(next_plan_at=retry_at, state_reason=reason,
                        plan_lease_owner=None, plan_lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    # -- admin ---------------------------------------------------------------------------

    def cancel(self, delivery_id: int, who: str, why: str, now: datetime) -> bool:
        """Cancel a pending or held delivery; False when it is in another state."""
        with self._transaction() as session:
            done = session.execute(
                update(D)
                .where(D.id == delivery_id, D.state.in_(CANCELLABLE_STATES))
                .values(state=DeliveryState.CANCELLED, cancelled_by=who, cancelled_why=why,
                        reason=f"cancelled by {who}: {why}" if why else f"cancelled by {who}",
                        finished_at=now, updated_at=now, held_since=None)
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def replay(self, target: int | DeliveryFilter, who: str, now: datetime) -> int:
        """Start a new attempt series for the target; how many were replayed."""
        if isinstance(target, int):
            where: list[ColumnElement[bool]] = [D.id == target, D.state.in_(REPLAYABLE_STATES)]
        else:
            states = target.states or DEFAULT_REPLAY_STATES
            where = filter_conditions(replace(target, states=None))
            where.append(D.state.in_([s for s in states if s in REPLAYABLE_STATES]))
        where.append(D.server_id.is_not(None))
        with self._transaction() as session:
            replayed = session.execute(
                update(D)
                .where(*where)
                .values(
                    state=DeliveryState.PENDING, replay_series=D.replay_series + 1, attempts=0,
                    due_at=now, give_up_at=now + self._give_up_after, held_since=None,
                    lease_owner=None, lease_expires_at=None, finished_at=None, late=False,
                    last_status=None, reason=f"replayed by {who}", replayed_by=who,
                    replayed_at=now, cancelled_by=None, cancelled_why=None,
                    writeback_state=WritebackState.NONE, writeback_due=None,
                    writeback_attempts=0, updated_at=now,
                )
                .returning(D.server_id)
                .execution_options(synchronize_session=False)
            ).scalars().all()
            self._ensure_servers(session, [i for i in replayed if i is not None])
        return len(replayed)

    def prune(self, older_than: datetime, batch: int) -> int:
        """Delete finished deliveries (with attempts) and settled events older than
        ``older_than``, ``batch`` rows per transaction; how many rows of both went."""
        removed = 0
        finished = and_(
            D.state.in_(FINISHED_STATES), D.finished_at < older_than,
            D.writeback_state != WritebackState.PENDING,
        )
        while True:
            with self._transaction() as session:
                # The conditions hold again at deletion: a replay meanwhile keeps the row.
                ids = list(session.scalars(
                    delete(D)
                    .where(D.id.in_(select(D.id).where(finished).order_by(D.id).limit(batch)),
                           finished)
                    .returning(D.id)
                    .execution_options(synchronize_session=False)
                ))
                if ids:
                    session.execute(
                        delete(DeliveryAttemptRow).where(DeliveryAttemptRow.delivery_id.in_(ids))
                    )
            removed += len(ids)
            if len(ids) < batch:
                break
        settled = and_(
            EventRow.received_at < older_than, EventRow.state != EventState.PENDING,
            ~exists().where(D.event_id == EventRow.id),
        )
        while True:
            with self._transaction() as session:
                ids = list(session.scalars(
                    delete(EventRow)
                    .where(EventRow.id.in_(
                        select(EventRow.id).where(settled).order_by(EventRow.id).limit(batch)
                    ), settled)
                    .returning(EventRow.id)
                    .execution_options(synchronize_session=False)
                ))
            removed += len(ids)
            if len(ids) < batch:
                break
        return removed


def filter_conditions(flt: DeliveryFilter) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a delivery filter (states included when given)."""
    where: list[ColumnElement[bool]] = []
    if flt.states:
        where.append(D.state.in_(flt.states))
    if flt.server_id is not None:
        where.append(D.server_id == flt.server_id)
    if flt.workflow is not None:
        where.append(D.workflow == flt.workflow)
    if flt.ticket_id is not None:
        where.append(D.ticket_id == flt.ticket_id)
    if flt.event_id is not None:
        where.append(D.event_id == flt.event_id)
    if flt.since is not None:
        where.append(D.created_at >= flt.since)
    if flt.until is not None:
        where.append(D.created_at < flt.until)
    return where


@lru_cache(maxsize=32)
def _record_statement(keys: frozenset[str]) -> Any:
    """Move a delivery this worker leases out of flight: ``keys`` are the columns the
    outcome sets (see :func:`_transition`), bound as ``v_<column>``."""
    return (
        update(_DT)
        .where(_DT.c.id == bindparam("delivery_id"), _DT.c.lease_owner == bindparam("owner"),
               _DT.c.state == DeliveryState.IN_FLIGHT)
        .values(lease_owner=None, lease_expires_at=None, updated_at=_now(),
                **{key: bindparam(f"v_{key}", type_=_DT.c[key].type) for key in sorted(keys)})
        .returning(_DT.c.attempts, _DT.c.replay_series, _DT.c.server_id)
    )


def _transition(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The delivery's new columns after ``outcome``."""
    values: dict[str, Any] = {"last_status": outcome.status or outcome.attempt.response_status,
                              "reason": outcome.reason}
    if outcome.kind == "delivered":
        values.update(state=DeliveryState.DELIVERED, finished_at=now)
        if outcome.writeback:
            values.update(writeback_state=WritebackState.PENDING, writeback_due=now,
                          writeback_fields=outcome.writeback)
    elif outcome.kind == "retry":
        values.update(state=DeliveryState.PENDING, due_at=outcome.retry_at or now)
    elif outcome.kind == "held":
        values.update(state=DeliveryState.HELD, held_since=now, due_at=now)
    else:
        values.update(state=DeliveryState.DEAD, finished_at=now)
    return values


def _attempt_row(
    delivery_id: int, series: int, number: int, outcome: Outcome, now: datetime
) -> DeliveryAttemptRow:
    record = outcome.attempt
    return DeliveryAttemptRow(
        delivery_id=delivery_id, series=series, number=number,
        started_at=record.started_at, finished_at=now, duration_ms=record.duration_ms,
        method=record.method, url=record.url,
        request_headers=[list(pair) for pair in record.request_headers],
        request_body=record.request_body, response_status=record.response_status,
        response_headers=[list(pair) for pair in record.response_headers],
        response_body=record.response_body, error_class=record.error_class,
        error_message=record.error_message, stage=record.stage,
        outcome=outcome.kind, reason=outcome.reason,
    )


def _started(
    session: Session, tickets: ColumnElement[bool]
) -> dict[tuple[int, int], list[tuple[datetime, int, int]]]:
    """Order keys of the deliveries of these tickets that were sent (or tried) already, per
    (ticket, server): what a newly planned delivery is late against."""
    rows = session.execute(
        select(D.ticket_id, D.server_id, D.order_at, D.event_id, D.point_index).where(
            tickets, D.server_id.is_not(None),
            or_(D.attempts > 0, D.replay_series > 0,
                D.state.in_((DeliveryState.IN_FLIGHT, DeliveryState.DELIVERED))),
        )
    ).all()
    found: dict[tuple[int, int], list[tuple[datetime, int, int]]] = {}
    for ticket, server, order_at, event, index in rows:
        found.setdefault((ticket, server or 0), []).append((_aware(order_at), event, index))
    return found


def _workflow_name(ticket: dict[str, Any]) -> str:
    workflow = ticket.get("workflow")
    if isinstance(workflow, dict):
        return str(workflow.get("name", ""))
    return str(workflow or "")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
