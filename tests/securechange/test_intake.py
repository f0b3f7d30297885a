"""Intake service and events store on SQLite and PostgreSQL: validation, dedupe, listing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.intake import BadEvent, EventIntake
from workflow_integrator.domain.events import WORKFLOW_EVENTS
from workflow_integrator.services.errors import NotFound
from workflow_integrator.settings import Settings
from workflow_integrator.store.events import EventFilter, EventRow, insert_batch, set_state


def doc(ticket: int = 5, update: str = "100", subject: str = "s") -> bytes:
    return (f"<ticket_info><id>{ticket}</id><subject>{subject}</subject>"
            f"<createDate>1</createDate><updateDate>{update}</updateDate>"
            "<current_stage><id>2</id><name>Approve</name></current_stage>"
            "</ticket_info>").encode()


@pytest.fixture
def services(any_db_settings: Settings) -> Iterator[Services]:
    built = build_services(any_db_settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def intake(services: Services) -> EventIntake:
    return EventIntake(services.sessions)


def count(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(EventRow)) or 0)


def test_stores_the_event_with_its_document(intake: EventIntake, services: Services) -> None:
    result = intake.receive_securechange(doc(), "advance")
    assert result is not None and result.created
    stored = intake.get(result.event.id)
    assert (stored.ticket_id, stored.event, stored.update_date) == (5, "ADVANCE", "100")
    assert (stored.source, stored.state) == ("securechange", "pending")
    assert stored.info["current_stage"] == {"id": 2, "name": "Approve"}
    assert stored.document == doc().decode()
    assert stored.received_at.tzinfo is not None
    assert count(services) == 1


def test_every_event_type_is_accepted(intake: EventIntake) -> None:
    ids = {intake.receive_securechange(doc(), e.value).event.id  # type: ignore[union-attr]
           for e in WORKFLOW_EVENTS}
    assert len(ids) == 10


def test_retry_maps_to_the_stored_event(intake: EventIntake, services: Services) -> None:
    first = intake.receive_securechange(doc(), "CREATE")
    again = intake.receive_securechange(doc(), "CREATE")
    later = intake.receive_securechange(doc(update="101"), "CREATE")
    assert first is not None and again is not None and later is not None
    assert again.event.id == first.event.id and not again.created
    assert again.event.received_count == 2
    assert later.created and later.event.id != first.event.id
    assert count(services) == 2


def test_concurrent_retries_store_one_event(intake: EventIntake, services: Services) -> None:
    barrier = threading.Barrier(8)
    ids: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            result = intake.receive_securechange(doc(ticket=9), "REJECT")
            assert result is not None
            ids.append(result.event.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1 and len(ids) == 8
    assert count(services) == 1
    assert intake.get(ids[0]).received_count == 8


def test_one_shared_commit_stores_new_events_and_counts_retries(
    intake: EventIntake, services: Services
) -> None:
    stored = intake.receive_securechange(doc(ticket=1), "CREATE")
    assert stored is not None
    batch = [intake.parse_securechange(d, "CREATE") for d in
             (doc(ticket=1), doc(ticket=2), doc(ticket=2), doc(ticket=3))]
    results = insert_batch(services.sessions, [n for n in batch if n is not None])

    assert [created for _, created in results] == [False, True, False, True]
    assert results[0][0].id == stored.event.id
    assert results[1][0].id == results[2][0].id
    assert intake.get(stored.event.id).received_count == 2
    assert intake.get(results[1][0].id).received_count == 2
    assert count(services) == 3


def test_a_failing_hook_does_not_undo_an_answer(intake: EventIntake) -> None:
    woken: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook broke")

    intake.on_stored.extend([broken, lambda: woken.append("woken")])
    result = intake.receive_securechange(doc(ticket=4), "CREATE")
    assert result is not None and result.created
    assert woken == ["woken"]  # the hooks after the failing one still run
    assert intake.get(result.event.id).ticket_id == 4


def test_without_update_date_the_document_dedupes(intake: EventIntake) -> None:
    plain = b"<ticket_info><id>3</id><subject>a</subject></ticket_info>"
    other = b"<ticket_info><id>3</id><subject>b</subject></ticket_info>"
    one = intake.receive_securechange(plain, "CLOSE")
    two = intake.receive_securechange(plain, "CLOSE")
    three = intake.receive_securechange(other, "CLOSE")
    assert one and two and three
    assert one.event.id == two.event.id != three.event.id


def test_test_document_stores_nothing(intake: EventIntake, services: Services) -> None:
    assert intake.receive_securechange(b"<ticket_info/>", None) is None
    assert count(services) == 0


def test_pre_assignment_script_is_accepted_and_ignored(intake: EventIntake) -> None:
    result = intake.receive_securechange(doc(), "PRE_ASSIGNMENT_SCRIPT")
    assert result is not None and result.event.state == "ignored"


@pytest.mark.parametrize(
    ("document", "event", "reason"),
    [
        (doc(), None, "the event name is missing"),
        (doc(), "FINISH", "unknown event name 'FINISH'"),
        (b"<ticket_info><subject>x</subject></ticket_info>", "CREATE", "has no <id>"),
        (b"not xml", "CREATE", "ticket_info: malformed XML"),
        (b'<!DOCTYPE x [<!ENTITY e "e">]><ticket_info><id>1</id></ticket_info>', "CREATE",
         "XML refused"),
    ],
)
def test_bad_input_names_the_reason(
    intake: EventIntake, services: Services, document: bytes, event: str | None, reason: str
) -> None:
    with pytest.raises(BadEvent, match=reason):
        intake.receive_securechange(document, event)
    assert count(services) == 0


def test_json_events(intake: EventIntake) -> None:
    body = {"event": "advance", "ticket": {"id": 8, "update_date": "5", "subject": "j",
                                           "completion_stage": {"id": 1, "name": "Open"}}}
    first = intake.store(intake.parse_json(body))
    again = intake.store(intake.parse_json(body))
    assert first.created and not again.created and first.event.id == again.event.id
    assert first.event.source == "api"
    assert first.event.info["completion_stage"] == {"id": 1, "name": "Open"}
    with pytest.raises(BadEvent, match=r"ticket\.id: enter a number greater than 0"):
        intake.parse_json({"event": "CREATE", "ticket": {"id": 0}})
    with pytest.raises(BadEvent, match="colour: not a setting WI knows; remove it"):
        intake.parse_json({"event": "CREATE", "ticket": {"id": 1}, "colour": "red"})


def test_listing_filters(intake: EventIntake, services: Services) -> None:
    a = intake.receive_securechange(doc(ticket=1, update="1"), "CREATE")
    b = intake.receive_securechange(doc(ticket=2, update="2"), "CREATE")
    c = intake.receive_securechange(doc(ticket=1, update="3"), "ADVANCE")
    assert a and b and c
    with services.sessions() as session:
        set_state(session, b.event.id, "planned")
        session.commit()
    assert [e.id for e in intake.list(EventFilter())] == [c.event.id, b.event.id, a.event.id]
    assert [e.id for e in intake.list(EventFilter(ticket_id=1))] == [c.event.id, a.event.id]
    assert [e.id for e in intake.list(EventFilter(event="advance"))] == [c.event.id]
    assert [e.id for e in intake.list(EventFilter(state="planned"))] == [b.event.id]
    assert [e.id for e in intake.list(EventFilter(before_id=c.event.id, limit=1))] == [
        b.event.id]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert intake.list(EventFilter(since=future)) == []
    assert len(intake.list(EventFilter(until=future))) == 3
    with pytest.raises(BadEvent, match="unknown state 'done'"):
        intake.list(EventFilter(state="done"))
    with pytest.raises(BadEvent, match="limit must be between 1 and 1000"):
        intake.list(EventFilter(limit=0))
    with pytest.raises(NotFound, match="event 999 does not exist"):
        intake.get(999)


def test_an_awaited_store_whose_caller_goes_away_still_stores_and_answers_the_rest(
    intake: EventIntake, services: Services
) -> None:
    import asyncio

    async def scenario() -> list[int]:
        first = intake.parse_securechange(doc(ticket=1), "CREATE")
        second = intake.parse_securechange(doc(ticket=2), "CREATE")
        assert first is not None and second is not None
        gone = asyncio.ensure_future(intake.store_async(first))
        await asyncio.sleep(0)
        gone.cancel()  # the client hung up while its event was being committed
        stored = await asyncio.wait_for(intake.store_async(second), 30)
        with pytest.raises(asyncio.CancelledError):
            await gone
        return [stored.event.ticket_id]

    assert asyncio.run(scenario()) == [2]
    listed = intake.list(EventFilter())
    assert sorted(e.ticket_id for e in listed) == [1, 2]
    assert count(services) == 2
