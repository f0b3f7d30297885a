"""The ``events`` table: every workflow event WI accepted, stored once per dedupe key."""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from workflow_integrator.domain.delivery import event_order_time
from workflow_integrator.store.base import Base, UTCDateTime, utcnow
from workflow_integrator.store.db import begin_writing

log = logging.getLogger("workflow_integrator.store.events")


class EventRow(Base):
    """One accepted event. ``dedupe_key`` is unique, so a retried event is stored once."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_state_id", "state", "id"),
        Index("ix_events_ticket_id", "ticket_id", "id"),
        Index("ix_events_received_at", "received_at"),
        Index("ix_events_state_next_plan_at", "state", "next_plan_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    # 64-bit on every database: ticket ids go up to domain.bounds.TICKET_ID_MAX.
    ticket_id: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    update_date: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The parsed trigger document (TicketInfo.to_dict()).
    info: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The document exactly as received (XML from SecureChange, JSON from the API).
    document: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_count: Mapped[int] = mapped_column(Integer, default=1)
    # The HTTP request that brought the event: planning and sending log under it too.
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    # When the event happened (the trigger's update time, else arrival): orders deliveries.
    order_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Planning: attempts, backoff and the lease of the worker planning it.
    plan_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_plan_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    plan_lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    plan_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The ticket as read from SecureChange when planned (re-read after a write-back).
    ticket_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    ticket_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What intake hands to the store."""

    source: str
    ticket_id: int
    event: str
    update_date: str
    state: str
    info: dict[str, Any]
    document: str
    content_type: str
    dedupe_key: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Filters of the event list; None means "any"."""

    ticket_id: int | None = None
    event: str | None = None
    state: str | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


def insert_once(sessions: sessionmaker[Session], new: NewEvent) -> tuple[EventRow, bool]:
    """Store the event unless one with its dedupe key exists; returns (row, created).

    The unique constraint decides under concurrent retries on SQLite and PostgreSQL
    alike: the loser of the race rolls back and reads the winner's row.
    """
    with sessions() as session:
        begin_writing(session)  # SQLite: a read that turns into a write must not be refused
        existing = _by_key(session, new.dedupe_key)
        if existing is None:
            row = _new_row(new)
            session.add(row)
            try:
                session.commit()
                return row, True
            except IntegrityError:
                session.rollback()
                existing = _by_key(session, new.dedupe_key)
                if existing is None:
                    raise
        # One atomic UPDATE: concurrent retries must not lose each other's count.
        session.execute(
            update(EventRow)
            .where(EventRow.id == existing.id)
            .values(received_count=EventRow.received_count + 1)
        )
        session.commit()
        session.refresh(existing)
        return existing, False


def insert_batch(sessions: sessionmaker[Session], batch: list[NewEvent]) -> list[
    tuple[EventRow, bool]
]:
    """Store many events in one transaction, each once; (row, created) per event, in order.

    An event whose dedupe key is stored already (or came earlier in ``batch``) counts as
    a retry of that one. A unique-key race with another process fails the whole batch
    (IntegrityError): the caller then stores the events one by one.
    """
    with sessions() as session:
        begin_writing(session)
        keys = {new.dedupe_key for new in batch}
        rows = {row.dedupe_key: row for row in session.scalars(
            select(EventRow).where(EventRow.dedupe_key.in_(keys)))}
        results: list[tuple[EventRow, bool]] = []
        retried: Counter[str] = Counter()
        for new in batch:
            found = rows.get(new.dedupe_key)
            if found is None:
                found = rows[new.dedupe_key] = _new_row(new)
                session.add(found)
                results.append((found, True))
            else:
                retried[new.dedupe_key] += 1
                results.append((found, False))
        session.flush()
        for key, count in retried.items():
            session.execute(
                update(EventRow).where(EventRow.id == rows[key].id)
                .values(received_count=EventRow.received_count + count)
                .execution_options(synchronize_session=False)
            )
        session.commit()
        for key in retried:
            session.refresh(rows[key])
        return results


class EventWriter:
    """Group commit: concurrent callers' events share one transaction and one durable commit.

    :meth:`insert_once` hands the event to a writer thread and returns only once the
    transaction holding it is committed, so an answer still means "stored". The thread
    takes whatever has queued up while it was committing (no waiting for a batch to
    fill), so a lone event is stored as quickly as before. It ends after a second
    without work and starts again on the next event.
    """

    #: Most events in one transaction.
    MAX_BATCH = 256
    IDLE_SECONDS = 1.0

    def __init__(
        self, sessions: sessionmaker[Session], on_stored: Sequence[Callable[[], None]] = ()
    ) -> None:
        """``on_stored``: called in the writer thread after a commit that stored new events,
        before their callers are answered."""
        self._sessions = sessions
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[tuple[NewEvent, Future[tuple[EventRow, bool]]]] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def insert_once(self, new: NewEvent) -> tuple[EventRow, bool]:
        """Like :func:`insert_once`; blocks until the event's transaction is committed."""
        return self.submit(new).result()

    def submit(self, new: NewEvent) -> Future[tuple[EventRow, bool]]:
        """Queue the event; the future is done once its transaction is committed."""
        done: Future[tuple[EventRow, bool]] = Future()
        with self._lock:
            self._queue.put((new, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="event-writer",
                                                daemon=True)
                self._thread.start()
        return done

    def _run(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self.IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:  # submit() queues under this lock: nothing slips by
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                batch = [first]
                while len(batch) < self.MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                self._write(batch)
        finally:
            # Should the thread die, the next caller starts a new one.
            with self._lock:
                if self._thread is me:
                    self._thread = None

    def _write(self, batch: list[tuple[NewEvent, Future[tuple[EventRow, bool]]]]) -> None:
        try:
            results = insert_batch(self._sessions, [new for new, _ in batch])
        except OperationalError as exc:
            # The database is locked or gone: one by one would only wait longer.
            for _, done in batch:
                done.set_exception(exc)
            return
        except Exception:
            # A race on a dedupe key or one unstorable event: each gets its own outcome.
            outcomes: list[tuple[EventRow, bool] | Exception] = []
            for new, _ in batch:
                try:
                    outcomes.append(insert_once(self._sessions, new))
                except Exception as exc:
                    outcomes.append(exc)
            self._answer(batch, outcomes)
            return
        except BaseException as exc:
            for _, done in batch:
                done.set_exception(exc)
            raise
        self._answer(batch, list(results))

    def _answer(self, batch: list[tuple[NewEvent, Future[tuple[EventRow, bool]]]],
                outcomes: list[tuple[EventRow, bool] | Exception]) -> None:
        if any(not isinstance(o, Exception) and o[1] for o in outcomes):
            for hook in self._on_stored:
                try:
                    hook()
                except Exception:
                    # Stored is stored: delivery finds the events on its next poll.
                    log.exception("after storing events: a hook failed")
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)


def _new_row(new: NewEvent) -> EventRow:
    received_at = utcnow()
    return EventRow(
        received_at=received_at,
        order_at=event_order_time(new.update_date, received_at),
        source=new.source, ticket_id=new.ticket_id, event=new.event,
        update_date=new.update_date, state=new.state, info=new.info,
        document=new.document, content_type=new.content_type,
        dedupe_key=new.dedupe_key, request_id=new.request_id,
    )


def _by_key(session: Session, key: str) -> EventRow | None:
    return session.scalar(select(EventRow).where(EventRow.dedupe_key == key))


def get(sessions: sessionmaker[Session], event_id: int) -> EventRow | None:
    """The event with this id."""
    with sessions() as session:
        return session.get(EventRow, event_id)


def list_events(sessions: sessionmaker[Session], flt: EventFilter) -> list[EventRow]:
    """Events matching the filter, newest first."""
    query = select(EventRow)
    if flt.ticket_id is not None:
        query = query.where(EventRow.ticket_id == flt.ticket_id)
    if flt.event is not None:
        query = query.where(EventRow.event == flt.event)
    if flt.state is not None:
        query = query.where(EventRow.state == flt.state)
    if flt.source is not None:
        query = query.where(EventRow.source == flt.source)
    if flt.since is not None:
        query = query.where(EventRow.received_at >= flt.since)
    if flt.until is not None:
        query = query.where(EventRow.received_at < flt.until)
    if flt.before_id is not None:
        query = query.where(EventRow.id < flt.before_id)
    query = query.order_by(EventRow.id.desc()).limit(flt.limit)
    with sessions() as session:
        return list(session.scalars(query))


def set_state(session: Session, event_id: int, state: str, reason: str | None = None) -> None:
    """Move an event to another state (for a planner), inside the caller's transaction."""
    row = session.get(EventRow, event_id)
    if row is not None and (row.state != state or row.state_reason != reason):
        row.state = state
        row.state_reason = reason
        row.state_changed_at = utcnow()
