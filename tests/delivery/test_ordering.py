"""A ticket's order across servers and across late arrivals, through the real engine, the
SecureChange simulator and a real receiver (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.responses import JSONResponse, Response

from tests.delivery.world import World, world
from tests.servers.receiver import Received, Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.settings import Settings

OPEN = {"name": "open incident", "on": {"trigger": "CREATE"}, "server": "itsm",
        "request": {"method": "POST", "path": "/incident",
                    "body": '{"subject": "{{ticket_subject}}"}'},
        "response": {"fields": {"Change Window": "result.number"}}}
TELL_CHAT = {"name": "tell chat", "on": {"trigger": "CREATE"}, "server": "chat",
             "request": {"method": "POST", "path": "/chat",
                         "body": '{"text": "incident {{Change Window}} opened"}'}}
ADVANCED = {"name": "advanced", "on": {"trigger": "ADVANCE"},
            "request": {"method": "POST", "path": "/advanced",
                        "body": '{"event": "{{event}}"}'}}


def incident_numbers(seen: Received) -> Response:
    if seen.path == "/incident":
        return JSONResponse({"result": {"number": "INC0010001"}}, 201)
    return JSONResponse({"ok": True})


@pytest.fixture
def w(any_db_settings: Settings, sc_simulator: SimulatorHandle,
      receiver: Receiver) -> Iterator[World]:
    with world(any_db_settings, sc_simulator, receiver) as built:
        built.add_server("itsm")
        built.add_server("chat")
        yield built


async def test_a_point_to_another_server_waits_for_the_earlier_points_unsent_write_back(
    w: World,
) -> None:
    w.add_integration([OPEN, TELL_CHAT])
    w.receiver.respond = incident_numbers
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()
    assert [d.writes_back for d in w.deliveries()] == [True, False]

    assert await w.send() == 1  # not the chat message: its field is not written yet
    assert [r.path for r in w.receiver.requests] == ["/incident"]
    assert await w.send() == 0  # the write-back is pending

    w.clock.advance(1)
    assert await w.write_back() == 1
    assert await w.send() == 1
    assert [r.path for r in w.receiver.requests] == ["/incident", "/chat"]
    assert w.bodies()[1] == {"text": "incident INC0010001 opened"}


async def test_simulator_moves_are_sent_in_update_time_order_when_the_later_arrives_first(
    w: World,
) -> None:
    w.add_integration([ADVANCED], default_server="itsm")
    simulator = w.simulator.server.simulator
    ticket = w.simulator.create_ticket("Open 443")
    w.simulator.move(ticket.id, "advance")
    first = simulator.ticket_info(ticket.id)  # what the trigger reported for A → B
    w.simulator.move(ticket.id, "advance")
    second = simulator.ticket_info(ticket.id)  # B → C
    assert first.update_date.isdigit() and int(first.update_date) < int(second.update_date)

    # SecureChange retried the first trigger: B → C is stored before A → B.
    later = w.store(second, "ADVANCE")
    earlier = w.store(first, "ADVANCE")
    while await w.plan():
        pass
    while await w.send():
        pass

    events = {str(d.id): d.event_id for d in w.deliveries()}
    assert [events[r.headers["x-wi-delivery-id"]] for r in w.receiver.requests] == [
        earlier, later]
