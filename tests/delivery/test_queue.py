"""The delivery queue on SQLite and PostgreSQL: claim, order, leases, records, held, admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tests.delivery.conftest import LEASE, T0, QueueDb, attempt, delivered, failed, keys
from workflow_integrator.delivery.queue import DeliveryFilter
from workflow_integrator.domain.delivery import DeliveryState, Outcome
from workflow_integrator.store import events as event_store
from workflow_integrator.store.deliveries import DeliveryAttemptRow
from workflow_integrator.store.delivery_records import get_delivery, list_deliveries
from workflow_integrator.store.events import EventFilter

SECOND = timedelta(seconds=1)


def test_a_planned_event_becomes_one_claimable_delivery_per_point(db: QueueDb) -> None:
    server = db.add_server()
    event = db.add_event(7, "2024-05-01T10:15:30.123+02:00")
    db.plan(event, server, server)

    claimed = db.queue.claim("w1", 10, T0, LEASE)

    # Same ticket and server: the second point waits for the first.
    assert keys(claimed) == [(event, "point 0")]
    first = claimed[0]
    assert first.attempt == 1 and first.replay_series == 0 and not first.late
    assert first.workflow == "Firewall change" and first.ticket_id == 7
    assert first.lease_expires_at == T0 + LEASE
    assert first.order_at.isoformat() == "2024-05-01T08:15:30.123000+00:00"
    assert first.give_up_at == T0 + timedelta(hours=24)
    assert db.queue.claim("w2", 10, T0, LEASE) == []

    assert db.queue.record(first.id, "w1", delivered(), T0 + SECOND)
    assert keys(db.queue.claim("w2", 10, T0 + SECOND, LEASE)) == [(event, "point 1")]


def test_a_ticket_is_sent_in_update_time_order_not_arrival_order(db: QueueDb) -> None:
    server = db.add_server()
    # SecureChange's retried trigger: B→C (10:05) stored before A→B (10:01).
    later = db.add_event(7, "2024-05-01T10:05:00.000Z")
    db.plan(later, server)
    earlier = db.add_event(7, "2024-05-01T12:01:00.000+02:00")
    db.plan(earlier, server)
    other_ticket = db.add_event(8, "2024-05-01T11:00:00Z")
    db.plan(other_ticket, server)

    first = db.queue.claim("w", 10, T0, LEASE)
    # The late-arriving earlier event goes first; another ticket goes in parallel.
    assert keys(first) == [(earlier, "point 0"), (other_ticket, "point 0")]
    assert not first[0].late
    db.queue.record(first[0].id, "w", delivered(), T0)
    assert keys(db.queue.claim("w", 10, T0, LEASE)) == [(later, "point 0")]


def test_an_earlier_event_arriving_after_a_later_was_sent_goes_at_once_marked_late(
    db: QueueDb,
) -> None:
    server = db.add_server()
    later = db.add_event(7, "2024-05-01T10:05:00Z")
    db.plan(later, server)
    sent = db.queue.claim("w", 10, T0, LEASE)
    db.queue.record(sent[0].id, "w", delivered(), T0)

    earlier = db.add_event(7, "2024-05-01T10:01:00Z")
    db.plan(earlier, server, now=T0 + SECOND)
    claimed = db.queue.claim("w", 10, T0 + SECOND, LEASE)

    assert keys(claimed) == [(earlier, "point 0")]
    assert claimed[0].late
    assert db.deliveries(event_id=earlier)[0].late


def test_a_retrying_earlier_delivery_blocks_the_tickets_later_ones(db: QueueDb) -> None:
    server = db.add_server()
    first_event = db.add_event(7, "2024-05-01T10:01:00Z")
    second_event = db.add_event(7, "2024-05-01T10:02:00Z")
    db.plan(first_event, server)
    db.plan(second_event, server)
    first = db.queue.claim("w", 10, T0, LEASE)[0]

    db.queue.record(first.id, "w", failed(T0 + 60 * SECOND), T0)

    assert db.queue.claim("w", 10, T0 + 30 * SECOND, LEASE) == []
    assert db.queue.next_due(T0 + 30 * SECOND) == T0 + 60 * SECOND
    again = db.queue.claim("w", 10, T0 + 60 * SECOND, LEASE)
    assert [(c.id, c.attempt) for c in again] == [(first.id, 2)]
    assert again[0].idempotency_key == first.idempotency_key


def test_max_concurrency_limits_what_is_in_flight_per_server(db: QueueDb) -> None:
    narrow = db.add_server("narrow", max_concurrency=2)
    wide = db.add_server("wide", max_concurrency=8)
    for ticket in range(5):
        db.plan(db.add_event(100 + ticket, f"2024-05-01T10:0{ticket}:00Z"), narrow, wide)

    first = db.queue.claim("w1", 100, T0, LEASE)
    by_server = {narrow: 0, wide: 0}
    for c in first:
        by_server[c.server_id] += 1
    assert by_server == {narrow: 2, wide: 5}
    assert [c for c in db.queue.claim("w2", 100, T0, LEASE)] == []

    done = next(c for c in first if c.server_id == narrow)
    db.queue.record(done.id, "w1", delivered(), T0)
    more = db.queue.claim("w2", 100, T0, LEASE)
    assert [c.server_id for c in more] == [narrow]


def test_an_expired_lease_is_reclaimed_and_the_old_worker_outcome_ignored(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    lost = db.queue.claim("crashed", 10, T0, LEASE)[0]

    assert db.queue.claim("w2", 10, T0 + LEASE - SECOND, LEASE) == []
    assert db.queue.next_due(T0 + SECOND) == T0 + LEASE
    reclaimed = db.queue.claim("w2", 10, T0 + LEASE, LEASE)

    assert [(c.id, c.attempt) for c in reclaimed] == [(lost.id, 2)]
    assert not db.queue.record(lost.id, "crashed", delivered(), T0 + LEASE)
    assert db.delivery(lost.id).state == DeliveryState.IN_FLIGHT
    assert db.queue.record(lost.id, "w2", delivered(), T0 + LEASE)
    assert db.delivery(lost.id).state == DeliveryState.DELIVERED
    with db.sessions() as session:
        attempts = session.execute(
            select(DeliveryAttemptRow.number, DeliveryAttemptRow.outcome,
                   DeliveryAttemptRow.error_class)
            .where(DeliveryAttemptRow.delivery_id == lost.id).order_by(DeliveryAttemptRow.id)
        ).all()
    assert [tuple(a) for a in attempts] == [(1, "lost", "LeaseExpired"), (2, "delivered", None)]


def test_a_renewed_lease_is_not_reclaimed(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    slow = db.queue.claim("w1", 10, T0, LEASE)[0]

    db.queue.renew("w1", [slow.id], T0 + 20 * SECOND, LEASE)
    db.queue.renew("someone-else", [slow.id], T0 + 45 * SECOND, 10 * LEASE)

    assert db.queue.claim("w2", 10, T0 + 45 * SECOND, LEASE) == []
    assert db.delivery(slow.id).lease_expires_at == T0 + 20 * SECOND + LEASE
    assert db.queue.claim("w2", 10, T0 + 50 * SECOND, LEASE)[0].id == slow.id


def test_release_hands_a_delivery_back_without_counting_the_attempt(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    claimed = db.queue.claim("w1", 10, T0, LEASE)[0]

    db.queue.release("w1", [claimed.id])

    row = db.delivery(claimed.id)
    assert (row.state, row.attempts, row.lease_owner) == (DeliveryState.PENDING, 0, None)
    assert db.queue.claim("w2", 10, T0, LEASE)[0].attempt == 1


def test_record_keeps_every_attempt_with_its_series_and_number(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    first = db.queue.claim("w", 10, T0, LEASE)[0]
    db.queue.record(first.id, "w", failed(T0 + SECOND, status=502), T0)
    second = db.queue.claim("w", 10, T0 + SECOND, LEASE)[0]
    final = Outcome("dead", "answered 400", attempt(T0 + SECOND, 400), status=400)
    db.queue.record(second.id, "w", final, T0 + SECOND)

    with db.sessions() as session:
        attempts = list(session.scalars(
            select(DeliveryAttemptRow).where(DeliveryAttemptRow.delivery_id == first.id)
            .order_by(DeliveryAttemptRow.id)
        ))
    assert [(a.series, a.number, a.outcome, a.response_status) for a in attempts] == [
        (0, 1, "retry", 502), (0, 2, "dead", 400),
    ]
    row = db.delivery(first.id)
    assert (row.state, row.last_status, row.reason) == ("dead", 400, "answered 400")
    assert row.finished_at == T0 + SECOND


def test_points_that_cannot_be_planned_are_stored_dead_with_the_reason(db: QueueDb) -> None:
    server = db.add_server()
    event = db.add_event(7, "2024-05-01T10:00:00Z")
    db.plan(event, server, None, errors={0: "the route's condition cannot be evaluated: x"})

    rows = db.deliveries(event_id=event)
    assert [(r.state, r.reason) for r in rows] == [
        ("dead", "the route's condition cannot be evaluated: x"),
        ("dead", "no outbound server"),
    ]
    assert db.queue.claim("w", 10, T0, LEASE) == []


def test_cancel_only_pending_or_held_and_records_who_and_why(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    db.plan(db.add_event(8, "2024-05-01T10:00:00Z"), server)
    in_flight = db.queue.claim("w", 1, T0, LEASE)[0]
    waiting = next(r for r in db.deliveries() if r.id != in_flight.id)

    assert not db.queue.cancel(in_flight.id, "alice", "wrong ticket", T0)
    assert db.queue.cancel(waiting.id, "alice", "wrong ticket", T0)

    row = db.delivery(waiting.id)
    assert (row.state, row.cancelled_by, row.cancelled_why) == (
        "cancelled", "alice", "wrong ticket")
    assert db.queue.claim("w", 10, T0, LEASE) == []
    assert not db.queue.cancel(waiting.id, "alice", "again", T0)


def test_replay_starts_a_new_series_with_the_same_id_and_key(db: QueueDb) -> None:
    server = db.add_server()
    for ticket in (7, 8):
        db.plan(db.add_event(ticket, "2024-05-01T10:00:00Z"), server)
    dead, ok = db.queue.claim("w", 10, T0, LEASE)
    db.queue.record(dead.id, "w", Outcome("dead", "400", attempt(T0, 400), status=400), T0)
    db.queue.record(ok.id, "w", delivered(), T0)

    # By filter: dead only unless told otherwise.
    assert db.queue.replay(DeliveryFilter(server_id=server), "alice", T0 + SECOND) == 1
    replayed = db.queue.claim("w", 10, T0 + SECOND, LEASE)
    assert [(c.id, c.idempotency_key, c.replay_series, c.attempt) for c in replayed] == [
        (dead.id, dead.idempotency_key, 1, 1)]
    assert db.delivery(dead.id).replayed_by == "alice"
    assert db.queue.replay(ok.id, "bob", T0 + SECOND) == 1
    assert db.queue.replay(ok.id, "bob", T0 + SECOND) == 0  # pending now, not replayable
    both = DeliveryFilter(states=(DeliveryState.DEAD, DeliveryState.DELIVERED))
    assert db.queue.replay(both, "bob", T0 + SECOND) == 0


def test_prune_removes_old_finished_deliveries_attempts_and_events_in_batches(
    db: QueueDb,
) -> None:
    server = db.add_server()
    for ticket in range(5):
        db.plan(db.add_event(ticket, "2024-05-01T10:00:00Z"), server)
    claimed = db.queue.claim("w", 10, T0, LEASE)
    for c in claimed[:4]:
        db.queue.record(c.id, "w", delivered(), T0)

    assert db.queue.prune(T0, batch=2) == 0  # nothing older than T0
    removed = db.queue.prune(T0 + timedelta(days=31), batch=3)

    # Four deliveries finished; the in-flight one and its event stay. Events were received
    # just now (real time), so they are kept until they age out of retention too.
    assert removed == 4
    assert [r.state for r in db.deliveries()] == ["in_flight"]
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(DeliveryAttemptRow)) == 0

    # Once they age out too, the events go, except the one whose delivery is in flight.
    assert db.queue.prune(datetime.now(UTC) + timedelta(days=1), batch=2) == 4
    assert [e.ticket_id for e in event_store.list_events(db.sessions, EventFilter())] == [
        claimed[4].ticket_id]


def test_prune_keeps_a_delivery_replayed_since_it_finished(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    done = db.queue.claim("w", 10, T0, LEASE)[0]
    db.queue.record(done.id, "w", delivered(writeback={"ref": "INC1"}), T0)

    # A write-back still to do keeps it, and so does a replay.
    assert db.queue.prune(T0 + timedelta(days=31), batch=10) == 0
    writeback = db.queue.claim_writebacks("wb", 1, T0, LEASE)[0]
    db.queue.record_writeback(writeback.delivery_id, "wb", True, "written", None, T0)
    db.queue.replay(done.id, "alice", T0 + SECOND)
    assert db.queue.prune(T0 + timedelta(days=31), batch=10) == 0
    assert db.delivery(done.id).state == DeliveryState.PENDING


def test_deliveries_are_listed_by_filter_and_read_with_their_attempts(db: QueueDb) -> None:
    itsm = db.add_server("itsm")
    chat = db.add_server("chat")
    for ticket in (7, 8):
        db.plan(db.add_event(ticket, "2024-05-01T10:00:00Z"), itsm, chat)
    first = db.queue.claim("w", 1, T0, LEASE)[0]
    db.queue.record(first.id, "w", failed(T0 + SECOND), T0)

    assert [r.ticket_id for r in list_deliveries(db.sessions, DeliveryFilter(server_id=chat))] == [
        8, 7]
    page = list_deliveries(db.sessions, DeliveryFilter(), limit=3)
    assert len(page) == 3
    rest = list_deliveries(db.sessions, DeliveryFilter(), before_id=page[-1].id)
    assert len(rest) == 1
    assert list_deliveries(db.sessions, DeliveryFilter(ticket_id=7, until=T0)) == []
    pending = DeliveryFilter(states=(DeliveryState.PENDING,), ticket_id=7, since=T0)
    assert len(list_deliveries(db.sessions, pending)) == 2

    record = get_delivery(db.sessions, first.id)
    assert record is not None
    assert [(a.number, a.outcome, a.response_status) for a in record.attempts] == [
        (1, "retry", 503)]
    assert get_delivery(db.sessions, 10_000) is None
