"""Breaker, held servers, write-back waits and event planning on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tests.delivery.conftest import LEASE, T0, QueueDb, attempt, delivered, failed
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.domain.delivery import (
    BreakerState,
    DeliveryState,
    Outcome,
    WritebackState,
)
from workflow_integrator.store import events as event_store

SECOND = timedelta(seconds=1)


def test_breaker_opens_half_opens_with_one_probe_and_closes(db: QueueDb) -> None:
    server = db.add_server(max_concurrency=8)
    for ticket in range(8):
        db.plan(db.add_event(ticket, "2024-05-01T10:00:00Z"), server)
    now = T0
    claimed = db.queue.claim("w", 5, now, LEASE)
    for c in claimed:  # five failures in a row open the breaker (30 s)
        db.queue.record(c.id, "w", failed(now + SECOND), now)
    assert db.queue.breaker(server, now)[0] is BreakerState.OPEN

    assert db.queue.claim("w", 8, now + 10 * SECOND, LEASE) == []
    assert db.queue.next_due(now + 10 * SECOND) == now + 30 * SECOND

    now += 30 * SECOND  # half-open: one probe at a time
    probe = db.queue.claim("w", 8, now, LEASE)
    assert len(probe) == 1
    assert db.queue.claim("w2", 8, now, LEASE) == []
    db.queue.record(probe[0].id, "w", failed(now + SECOND), now)
    state, breaker = db.queue.breaker(server, now)
    assert state is BreakerState.OPEN and breaker.open_until == now + 60 * SECOND

    now += 60 * SECOND
    probe = db.queue.claim("w", 8, now, LEASE)
    assert len(probe) == 1
    db.queue.record(probe[0].id, "w", delivered(), now)
    assert db.queue.breaker(server, now)[0] is BreakerState.CLOSED
    assert len(db.queue.claim("w", 8, now, LEASE)) == 7


def test_a_disabled_server_holds_its_deliveries_and_resumes_them_in_order(
    db: QueueDb,
) -> None:
    server = db.add_server()
    first = db.add_event(7, "2024-05-01T10:01:00Z")
    second = db.add_event(7, "2024-05-01T10:02:00Z")
    db.plan(second, server)
    db.plan(first, server)
    db.set_server(server, enabled=False)

    db.queue.refresh_held(T0)
    assert {r.state for r in db.deliveries()} == {DeliveryState.HELD}
    assert db.queue.claim("w", 10, T0 + SECOND, LEASE) == []
    # A later event planned while held waits behind the held ones.
    third = db.add_event(7, "2024-05-01T10:03:00Z")
    db.plan(third, server, now=T0 + SECOND)
    assert db.queue.claim("w", 10, T0 + SECOND, LEASE) == []

    db.set_server(server, enabled=True)
    resumed_at = T0 + timedelta(hours=5)
    db.queue.refresh_held(resumed_at)

    rows = {r.event_id: r for r in db.deliveries()}
    # Five hours held do not count towards the 24 h give-up age.
    assert rows[first].give_up_at == T0 + timedelta(hours=29)
    assert rows[first].state == DeliveryState.PENDING
    order = []
    for _ in range(3):
        claimed = db.queue.claim("w", 10, resumed_at, LEASE)
        assert len(claimed) == 1
        order.append(claimed[0].event_id)
        db.queue.record(claimed[0].id, "w", delivered(), resumed_at)
    assert order == [first, second, third]


def test_needs_credentials_holds_and_new_credentials_resume(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:01:00Z"), server)
    db.set_server(server, state="needs_credentials")
    assert db.queue.claim("w", 10, T0, LEASE) == []
    db.queue.refresh_held(T0)
    assert db.deliveries()[0].state == DeliveryState.HELD
    db.set_server(server, state="ok")
    db.queue.refresh_held(T0 + SECOND)
    assert len(db.queue.claim("w", 10, T0 + SECOND, LEASE)) == 1


def test_a_later_delivery_waits_for_the_tickets_earlier_write_back(db: QueueDb) -> None:
    itsm = db.add_server("itsm")
    chat = db.add_server("chat")
    create = db.add_event(7, "2024-05-01T10:01:00Z", "CREATE")
    advance = db.add_event(7, "2024-05-01T10:02:00Z")
    db.plan(create, itsm)
    db.plan(advance, chat)
    claimed = db.queue.claim("w", 10, T0, LEASE)
    # Another server, so not FIFO-bound: both go unless a write-back is pending.
    assert [c.event_id for c in claimed] == [create, advance]
    db.queue.release("w", [claimed[1].id])

    db.queue.record(claimed[0].id, "w", delivered(writeback={"ITSM reference": "INC1"}), T0)
    assert db.queue.claim("w", 10, T0, LEASE) == []
    context = db.queue.context(claimed[1].id)
    assert not context.stale and context.ticket["workflow"]["name"] == "Firewall change"

    writebacks = db.queue.claim_writebacks("wb", 10, T0, LEASE)
    assert [(w.delivery_id, w.fields, w.attempt) for w in writebacks] == [
        (claimed[0].id, {"ITSM reference": "INC1"}, 1)]
    assert db.queue.claim_writebacks("wb2", 10, T0, LEASE) == []
    assert db.queue.record_writeback(claimed[0].id, "wb", False, "503", T0 + SECOND, T0)
    assert db.queue.claim_writebacks("wb", 10, T0, LEASE) == []
    retry = db.queue.claim_writebacks("wb", 10, T0 + SECOND, LEASE)
    assert retry[0].attempt == 2
    assert db.queue.record_writeback(claimed[0].id, "wb", True, "written", None, T0 + SECOND)
    assert db.delivery(claimed[0].id).writeback_state == WritebackState.DONE

    later = db.queue.claim("w", 10, T0 + 2 * SECOND, LEASE)
    assert [c.event_id for c in later] == [advance]
    # The ticket changed after it was read: the sender reads it again and saves it.
    assert db.queue.context(later[0].id).stale
    db.queue.save_ticket(later[0].id, {"id": 7, "fields": "new"}, T0 + 3 * SECOND)
    context = db.queue.context(later[0].id)
    assert not context.stale and context.ticket == {"id": 7, "fields": "new"}


def test_events_are_claimed_once_postponed_and_a_lost_plan_is_ignored(db: QueueDb) -> None:
    server = db.add_server()
    later = db.add_event(7, "2024-05-01T10:05:00Z")
    earlier = db.add_event(7, "2024-05-01T10:01:00Z")

    claimed = db.queue.claim_events("p1", 10, T0, LEASE)
    assert [(e.id, e.attempt) for e in claimed] == [(earlier, 1), (later, 1)]
    assert db.queue.claim_events("p2", 10, T0, LEASE) == []

    assert db.queue.postpone_event(earlier, "p1", "SecureChange unreachable", T0 + 60 * SECOND)
    assert db.queue.claim_events("p2", 10, T0 + 29 * SECOND, LEASE) == []
    assert db.queue.next_due(T0 + 10 * SECOND) == T0 + LEASE
    # p1 stalls on `later`: its lease expires and p2 plans it; `earlier` waits its backoff.
    taken = db.queue.claim_events("p2", 10, T0 + 59 * SECOND, LEASE)
    assert [(e.id, e.attempt) for e in taken] == [(later, 2)]
    assert [(e.id, e.attempt) for e in db.queue.claim_events("p2", 10, T0 + 60 * SECOND, LEASE)
            ] == [(earlier, 2)]
    assert not db.queue.store_plan(later, "p1", {}, [], T0 + 60 * SECOND)

    from workflow_integrator.delivery.queue import PlannedDelivery

    assert db.queue.store_plan(
        later, "p2", {"workflow": {"name": "Access"}},
        [PlannedDelivery("open", 0, server)], T0 + 60 * SECOND,
    )
    assert db.queue.store_plan(earlier, "p2", {}, [], T0 + 60 * SECOND,
                               failed_reason="no integration for workflow 'Access'")
    stored = event_store.get(db.sessions, earlier)
    assert stored is not None
    assert (stored.state, stored.state_reason) == ("failed", "no integration for workflow 'Access'")
    planned = event_store.get(db.sessions, later)
    assert planned is not None and planned.state == "planned"
    assert [r.workflow for r in db.deliveries()] == ["Access"]


def test_deliveries_of_a_deleted_server_go_dead_with_the_reason(db: QueueDb) -> None:
    from workflow_integrator.store.servers import OutboundServerRow

    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    with db.sessions() as session, session.begin():
        session.delete(session.get(OutboundServerRow, server))

    db.queue.refresh_held(T0)

    row = db.deliveries()[0]
    assert (row.state, row.server_id, row.reason) == (
        DeliveryState.DEAD, None, "its outbound server was deleted")


def test_a_write_back_whose_worker_vanished_is_taken_over_after_its_lease(db: QueueDb) -> None:
    server = db.add_server()
    db.plan(db.add_event(7, "2024-05-01T10:00:00Z"), server)
    sent = db.queue.claim("w", 1, T0, LEASE)[0]
    db.queue.record(sent.id, "w", delivered(writeback={"ref": "INC1"}), T0)
    db.queue.claim_writebacks("gone", 1, T0, LEASE)

    assert db.queue.claim_writebacks("wb", 1, T0 + LEASE - SECOND, LEASE) == []
    assert db.queue.next_due(T0 + SECOND) == T0 + LEASE
    taken = db.queue.claim_writebacks("wb", 1, T0 + LEASE, LEASE)
    assert [(w.delivery_id, w.attempt) for w in taken] == [(sent.id, 2)]
    assert not db.queue.record_writeback(sent.id, "gone", True, "late", None, T0 + LEASE)
    assert db.queue.record_writeback(sent.id, "wb", False, "no field 'ref'", None, T0 + LEASE)
    assert db.delivery(sent.id).writeback_state == WritebackState.FAILED
    assert db.queue.next_due(T0 + LEASE) is None


def test_nothing_to_do_means_no_due_time(db: QueueDb) -> None:
    assert db.queue.next_due(T0) is None
    db.add_server()
    db.add_event(7, "2024-05-01T10:00:00Z")
    assert db.queue.next_due(T0) == T0  # an event to plan


def test_a_write_back_in_the_same_clock_tick_as_the_read_makes_the_ticket_stale(
    db: QueueDb,
) -> None:
    clock = ManualClock(T0)  # a clock that does not move between the read and the write
    itsm = db.add_server("itsm")
    chat = db.add_server("chat")
    create = db.add_event(7, "2024-05-01T10:01:00Z", "CREATE")
    advance = db.add_event(7, "2024-05-01T10:02:00Z")
    db.plan(create, itsm, now=clock.now())  # the ticket is read at T0
    db.plan(advance, chat, now=clock.now())
    first = db.queue.claim("w", 1, clock.now(), LEASE)[0]
    db.queue.record(first.id, "w", delivered(writeback={"ITSM reference": "INC1"}),
                    clock.now())
    db.queue.claim_writebacks("wb", 10, clock.now(), LEASE)
    assert db.queue.record_writeback(first.id, "wb", True, "written", None, clock.now())

    later = db.queue.claim("w", 10, clock.now(), LEASE)
    assert [c.event_id for c in later] == [advance]
    # Written at the very moment the ticket was read: the snapshot may predate it.
    assert db.queue.context(later[0].id).stale


def test_a_later_delivery_waits_for_an_earlier_unsent_one_that_writes_back(db: QueueDb) -> None:
    itsm = db.add_server("itsm")
    chat = db.add_server("chat")
    create = db.add_event(7, "2024-05-01T10:01:00Z", "CREATE")
    advance = db.add_event(7, "2024-05-01T10:02:00Z")
    db.plan(create, itsm, writes_back=True)  # maps result.number into the ticket
    db.plan(advance, chat)  # renders that field

    # Another server, but the earlier point's write-back has not even been sent yet.
    first = db.queue.claim("w", 10, T0, LEASE)
    assert [c.event_id for c in first] == [create]
    db.queue.record(first[0].id, "w", failed(T0 + SECOND), T0)
    assert db.queue.claim("w", 10, T0, LEASE) == []  # retrying still blocks
    assert db.queue.next_due(T0) == T0 + SECOND

    retry = db.queue.claim("w", 10, T0 + SECOND, LEASE)
    assert [c.event_id for c in retry] == [create]
    db.queue.record(retry[0].id, "w", delivered(writeback={"ITSM reference": "INC1"}),
                    T0 + SECOND)
    assert db.queue.claim("w", 10, T0 + SECOND, LEASE) == []  # writing back
    db.queue.claim_writebacks("wb", 10, T0 + SECOND, LEASE)
    assert db.queue.record_writeback(retry[0].id, "wb", True, "written", None, T0 + SECOND)
    assert [c.event_id for c in db.queue.claim("w", 10, T0 + 2 * SECOND, LEASE)] == [advance]


def test_a_held_earlier_writer_blocks_and_a_cancelled_or_dead_one_does_not(
    db: QueueDb,
) -> None:
    itsm = db.add_server("itsm")
    chat = db.add_server("chat")
    held = db.add_event(7, "2024-05-01T10:01:00Z", "CREATE")
    after_held = db.add_event(7, "2024-05-01T10:02:00Z")
    cancelled = db.add_event(8, "2024-05-01T10:01:00Z", "CREATE")
    after_cancelled = db.add_event(8, "2024-05-01T10:02:00Z")
    dead = db.add_event(9, "2024-05-01T10:01:00Z", "CREATE")
    after_dead = db.add_event(9, "2024-05-01T10:02:00Z")
    for writer, follower in ((held, after_held), (cancelled, after_cancelled),
                             (dead, after_dead)):
        db.plan(writer, itsm, writes_back=True)
        db.plan(follower, chat)
    itsm_rows = {r.event_id: r.id for r in db.deliveries(server_id=itsm)}
    assert db.queue.cancel(itsm_rows[cancelled], "admin", "not wanted", T0)
    first = db.queue.claim("w", 10, T0, LEASE)
    # The writers go; of the followers only the cancelled writer's.
    assert {c.event_id for c in first} == {held, dead, after_cancelled}
    for c in first:
        if c.event_id == dead:
            db.queue.record(c.id, "w", Outcome("dead", "answered 400", attempt(T0, 400),
                                               status=400), T0)
        elif c.event_id == held:
            db.queue.release("w", [c.id])
    db.set_server(itsm, enabled=False)
    db.queue.refresh_held(T0)
    assert db.delivery(itsm_rows[held]).state == DeliveryState.HELD

    assert [c.event_id for c in db.queue.claim("w", 10, T0, LEASE)] == [after_dead]
