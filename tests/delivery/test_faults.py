"""Faults of the real parts the engine talks to: a receiver, an OAuth token endpoint and the
SecureChange simulator go down and come back (real servers on 127.0.0.1, the real queue on
SQLite and PostgreSQL). The engine runs in-process on a manual clock, moved past backoffs
and the breaker's cooldown instead of sleeping."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.responses import JSONResponse, Response

from tests.delivery.world import World, world
from tests.outbound.configs import password_grant
from tests.outbound.conftest import no_secret_in_logs  # noqa: F401 - applies here too
from tests.servers.oauth import OAuthServer, run_oauth_server
from tests.servers.receiver import Received, Receiver, run_receiver
from tests.servers.simulator import SimulatorHandle, run_simulator
from tests.servers.uvicorn_thread import ThreadServer, free_port
from workflow_integrator.domain.delivery import BreakerState
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DeliveryAttemptRow

BODY = '{"ticket": "{{ticket_id}}", "event": "{{event}}"}'
CREATED = {"name": "created", "on": {"trigger": "CREATE"},
           "request": {"method": "POST", "path": "/created", "body": BODY}}
ADVANCED = {"name": "advanced", "on": {"trigger": "ADVANCE"},
            "request": {"method": "POST", "path": "/advanced", "body": BODY}}
OPEN = {"name": "open incident", "on": {"trigger": "CREATE"},
        "request": {"method": "POST", "path": "/incident", "body": BODY},
        "response": {"fields": {"Change Window": "result.number"}}}
FOLLOW = {"name": "follow up", "on": {"trigger": "CREATE"},
          "request": {"method": "PATCH", "path": "/incident/{{Change Window}}",
                      "body": '{"state": "new"}'}}
#: Rounds of the manual clock before a test gives up waiting (each round is one claim).
ROUNDS = 400


@pytest.fixture
def own_receiver() -> Iterator[Receiver]:
    """A receiver of this test alone: it is taken down and brought back."""
    with run_receiver() as receiver:
        yield receiver


def server_of(part: Receiver | OAuthServer) -> ThreadServer:
    assert part.server is not None
    return part.server


def attempts(w: World) -> list[DeliveryAttemptRow]:
    with w.services.sessions() as session:
        return list(session.query(DeliveryAttemptRow).order_by(DeliveryAttemptRow.id))


async def send_until_delivered(w: World, step: timedelta) -> None:
    """Move the clock by ``step`` and send what is due, until every delivery is delivered."""
    for _ in range(ROUNDS):
        if {d.state for d in w.deliveries()} == {"delivered"}:
            return
        w.clock.advance(step)
        await w.send()
    states = [(d.id, d.state, d.reason) for d in w.deliveries()]
    raise AssertionError(f"not all delivered after {ROUNDS} rounds: {states}")


def one_request_per_delivery(w: World) -> None:
    keys = [r.headers["idempotency-key"] for r in w.receiver.requests]
    assert sorted(keys) == sorted(d.idempotency_key for d in w.deliveries())


async def test_receiver_down_then_up_delivers_all_in_each_tickets_order(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, own_receiver: Receiver,
) -> None:
    with world(any_db_settings, sc_simulator, own_receiver) as w:
        w.add_server("itsm")
        w.add_integration([CREATED, ADVANCED])
        tickets = []
        for n in range(4):
            ticket = w.simulator.create_ticket(f"ticket {n}")
            w.event(ticket.id, "CREATE")
            for _ in range(2):
                w.simulator.move(ticket.id, "advance")
                w.event(ticket.id, "ADVANCE")
            tickets.append(ticket.id)
        while await w.plan():
            pass
        server_of(own_receiver).stop()

        # Down for a while: every ticket's first delivery fails again and again, the breaker
        # opens; the later ones of each ticket wait behind them.
        for _ in range(6):
            await w.send()
            w.clock.advance(timedelta(seconds=2))
        tried = attempts(w)
        assert len(tried) >= 5 and {a.stage for a in tried} == {"connect"}
        assert {a.outcome for a in tried} == {"retry"}
        assert {d.state for d in w.deliveries()} == {"pending"}
        assert own_receiver.requests == []
        itsm = w.services.servers.id_of("itsm")
        assert w.queue.breaker(itsm, w.clock.now())[0] is BreakerState.OPEN

        server_of(own_receiver).start()
        await send_until_delivered(w, timedelta(seconds=3))
        assert w.queue.breaker(itsm, w.clock.now())[0] is BreakerState.CLOSED

        one_request_per_delivery(w)
        seen: dict[int, list[str]] = defaultdict(list)  # in the receiver's arrival order
        for request in own_receiver.requests:
            body = json.loads(request.body)
            seen[int(body["ticket"])].append(body["event"])
        assert seen == {t: ["CREATE", "ADVANCE", "ADVANCE"] for t in tickets}
        events = {str(d.id): (d.ticket_id, d.event_id) for d in w.deliveries()}
        for ticket_id in tickets:
            order = [events[r.headers["x-wi-delivery-id"]][1] for r in own_receiver.requests
                     if events[r.headers["x-wi-delivery-id"]][0] == ticket_id]
            assert order == sorted(order)  # events of one ticket in the order they happened


async def test_token_endpoint_down_then_up_delivers_and_records_the_token_failure(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, own_receiver: Receiver,
) -> None:
    with run_oauth_server() as oauth, world(any_db_settings, sc_simulator, own_receiver) as w:
        w.add_server("itsm", auth=password_grant(oauth.token_url))
        w.add_integration([CREATED, ADVANCED])
        own_receiver.authorize = oauth.accepts
        server_of(oauth).stop()
        for n in range(2):
            ticket = w.simulator.create_ticket(f"ticket {n}")
            w.event(ticket.id, "CREATE")
            w.simulator.move(ticket.id, "advance")
            w.event(ticket.id, "ADVANCE")
        while await w.plan():
            pass

        for _ in range(3):
            await w.send()
            w.clock.advance(timedelta(seconds=2))
        tried = attempts(w)
        assert tried and own_receiver.requests == []  # nothing went out without a token
        assert {d.state for d in w.deliveries()} == {"pending"}  # not dead, not held
        for attempt in tried:
            assert attempt.outcome == "retry"
            assert attempt.stage == "connect"
            assert attempt.error_message is not None
            assert attempt.error_message.startswith(
                f"token endpoint: cannot connect to {oauth.token_url}")

        server_of(oauth).start()
        await send_until_delivered(w, timedelta(seconds=3))

        one_request_per_delivery(w)
        assert oauth.requests["password"] >= 1
        assert all(r.headers["authorization"].startswith("Bearer ")
                   for r in own_receiver.requests)


def incident_numbers(seen: Received) -> Response:
    if seen.path == "/incident":
        return JSONResponse({"result": {"number": "INC0010001"}}, 201)
    return JSONResponse({"ok": True})


async def test_securechange_down_then_up_planning_and_write_back_resume(
    any_db_settings: Settings, own_receiver: Receiver, tmp_path: Path,
) -> None:
    with run_simulator(tmp_path / "sim.json", port=free_port()) as simulator, \
            world(any_db_settings, simulator, own_receiver) as w:
        w.add_server("itsm")
        w.add_integration([OPEN, FOLLOW])
        own_receiver.respond = incident_numbers
        ticket = simulator.create_ticket("Open 443")
        event_id = w.event(ticket.id, "CREATE")
        simulator.server.stop()

        # Planning: the ticket cannot be read, the event stays pending with backoff.
        waits = []
        for attempt in (1, 2):
            assert await w.plan() == 1
            event = w.event_row(event_id)
            assert (event.state, event.plan_attempts) == ("pending", attempt)
            assert event.next_plan_at is not None and event.next_plan_at > w.clock.now()
            assert "SecureChange" in (event.state_reason or "")
            waits.append(event.next_plan_at - w.clock.now())
            assert await w.plan() == 0  # not before its time
            w.clock.set(event.next_plan_at)
        assert waits[0] <= timedelta(seconds=1) and waits[1] <= timedelta(seconds=2)
        assert w.deliveries() == []

        simulator.server.start()
        assert await w.plan() == 1
        assert w.event_row(event_id).state == "planned"
        assert await w.send() == 1  # the follow-up waits for the write-back
        opened = w.deliveries(point_name="open incident")[0]
        assert (opened.state, opened.writeback_state) == ("delivered", "pending")

        # Write-back: SecureChange is down again; retried on its own, nothing sent again.
        simulator.server.stop()
        for _ in range(2):
            assert await w.write_back() == 1
            opened = w.deliveries(point_name="open incident")[0]
            assert opened.writeback_state == "pending"
            assert "SecureChange" in (opened.writeback_detail or "")
            assert opened.writeback_due is not None
            assert await w.send() == 0  # still waiting
            w.clock.set(opened.writeback_due)
        assert [r.path for r in own_receiver.requests] == ["/incident"]

        simulator.server.start()
        assert await w.write_back() == 1
        field = simulator.ticket(ticket.id).field("Change Window")
        assert field is not None and field.value == "INC0010001"
        assert await w.send() == 1
        assert [(r.method, r.path) for r in own_receiver.requests] == [
            ("POST", "/incident"), ("PATCH", "/incident/INC0010001")]
        one_request_per_delivery(w)
        opened = w.deliveries(point_name="open incident")[0]
        assert (opened.writeback_state, opened.writeback_attempts) == ("done", 3)
