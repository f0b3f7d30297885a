"""Planning against the SecureChange simulator and the real delivery queue (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.delivery.parts import START
from tests.delivery.world import World, world
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from tests.servers.uvicorn_thread import free_port
from workflow_integrator.settings import Settings

CREATE_POINT = {"name": "open incident", "on": {"trigger": "CREATE"},
                "request": {"path": "/incident", "body": '{"subject": "{{ticket_subject}}"}'}}


@pytest.fixture
def w(any_db_settings: Settings, sc_simulator: SimulatorHandle,
      receiver: Receiver) -> Iterator[World]:
    with world(any_db_settings, sc_simulator, receiver) as built:
        built.add_server("itsm")
        built.add_server("jira")
        yield built


async def test_an_event_becomes_one_delivery_per_firing_point(w: World) -> None:
    w.add_integration([
        CREATE_POINT,
        {"name": "urgent only", "on": {"trigger": "CREATE"},
         "condition": {"field": "Urgent", "op": "equals", "value": True},
         "request": {"path": "/urgent"}},
        {"name": "to jira", "on": {"step": "Open request", "when": "inbound"},
         "server": "jira", "request": {"path": "/issue"}},
        {"name": "on advance", "on": {"trigger": "ADVANCE"}, "request": {"path": "/x"}},
    ])
    ticket = w.simulator.create_ticket("Open 443", fields={"Urgent": False})
    event_id = w.event(ticket.id, "CREATE")

    assert await w.plan() == 1

    event = w.event_row(event_id)
    assert event.state == "planned"
    assert event.ticket_snapshot is not None
    assert event.ticket_snapshot["subject"] == "Open 443"
    planned = [(d.point_name, d.server_id, d.state) for d in w.deliveries(event_id=event_id)]
    assert planned == [
        ("open incident", w.services.servers.id_of("itsm"), "pending"),
        ("to jira", w.services.servers.id_of("jira"), "pending"),
    ]
    assert w.receiver.requests == []  # planning sends nothing
    assert await w.plan() == 0  # planned once


async def test_an_event_without_an_integration_fails_with_the_reason(w: World) -> None:
    ticket = w.simulator.create_ticket("Open 443")
    event_id = w.event(ticket.id, "CREATE")

    await w.plan()

    event = w.event_row(event_id)
    assert event.state == "failed"
    assert f"no integration for workflow '{ticket.workflow.name}'" in (event.state_reason or "")
    assert w.deliveries() == []


async def test_an_unreadable_ticket_keeps_the_event_pending_with_backoff(w: World) -> None:
    w.add_integration([CREATE_POINT])
    ticket = w.simulator.create_ticket("Open 443")
    event_id = w.event(ticket.id, "CREATE")
    settings = w.services.securechange
    good = w.simulator.connection_settings()
    settings.replace({**good, "host": f"127.0.0.1:{free_port()}"})  # SecureChange is down

    assert await w.plan() == 1
    event = w.event_row(event_id)
    assert event.state == "pending"
    assert event.next_plan_at is not None
    assert START <= event.next_plan_at.replace(tzinfo=START.tzinfo) <= START + timedelta(seconds=1)
    assert await w.plan() == 0  # not before its time

    settings.replace(good)  # SecureChange is back
    w.clock.advance(timedelta(seconds=2))
    assert await w.plan() == 1
    assert w.event_row(event_id).state == "planned"
    assert [d.point_name for d in w.deliveries(event_id=event_id)] == ["open incident"]


async def test_matching_uses_the_events_own_step_context(w: World) -> None:
    w.add_integration([
        {"name": "left open request", "on": {"step": "Open request", "when": "outbound"}},
        {"name": "entered approval", "on": {"step": "Business Approval", "when": "inbound"}},
        {"name": "entered implementation", "on": {"step": "Implementation", "when": "inbound"}},
    ])
    ticket = w.simulator.create_ticket("Open 443")
    w.simulator.move(ticket.id, "advance")
    w.simulator.move(ticket.id, "advance")  # the ticket is in Implementation by planning time
    event_id = w.event(ticket.id, "ADVANCE", completed="Open request",
                       current="Business Approval")

    await w.plan()

    assert [d.point_name for d in w.deliveries(event_id=event_id)] == [
        "left open request", "entered approval"]


async def test_a_point_whose_route_cannot_be_evaluated_is_dead_and_the_others_go(
    w: World,
) -> None:
    w.add_integration(
        [CREATE_POINT, {"name": "fixed", "on": {"trigger": "CREATE"}, "server": "jira"}],
        routes=[{"when": {"field": "ticket_subject", "op": "matches", "value": "^(a|aa)+$"},
                 "server": "jira"}],
    )
    ticket = w.simulator.create_ticket("a" * 60 + "!")
    event_id = w.event(ticket.id, "CREATE")

    await w.plan()

    assert w.event_row(event_id).state == "planned"
    rows = {d.point_name: d for d in w.deliveries(event_id=event_id)}
    assert rows["open incident"].state == "dead"
    assert "cannot be evaluated" in (rows["open incident"].reason or "")
    assert rows["fixed"].state == "pending"
