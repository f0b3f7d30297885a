"""Sending and write-back loops against a real receiver, the simulator and the real queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from starlette.responses import JSONResponse, Response

from tests.delivery.parts import START
from tests.delivery.world import FAST, World, world
from tests.outbound.configs import refresh_grant
from tests.outbound.conftest import no_secret_in_logs  # noqa: F401 - applies here too
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Received, Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.app import build_services
from workflow_integrator.delivery.engine import delivery_engine, engine_configuration
from workflow_integrator.delivery.planner import Planner
from workflow_integrator.domain.clock import ManualClock, SystemClock
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeError
from workflow_integrator.securechange.tickets import SecureChangeTicketReader
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue

OPEN = {"name": "open incident", "on": {"trigger": "CREATE"},
        "request": {"method": "POST", "path": "/incident",
                    "body": '{"subject": "{{ticket_subject}}"}'},
        "response": {"fields": {"Change Window": "result.number"}}}
FOLLOW = {"name": "follow up", "on": {"trigger": "CREATE"},
          "request": {"method": "PATCH", "path": "/incident/{{Change Window}}",
                      "body": '{"state": "new"}'}}


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def incident_numbers(seen: Received) -> Response:
    if seen.path == "/incident":
        return JSONResponse({"result": {"number": "INC0010001"}}, 201)
    return JSONResponse({"ok": True})


@pytest.fixture
def w(any_db_settings: Settings, sc_simulator: SimulatorHandle,
      receiver: Receiver) -> Iterator[World]:
    with world(any_db_settings, sc_simulator, receiver) as built:
        built.add_server("itsm")
        yield built


async def test_a_later_point_uses_what_the_earlier_one_wrote_back(w: World) -> None:
    w.add_integration([OPEN, FOLLOW])
    w.receiver.respond = incident_numbers
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()

    assert await w.send() == 1  # the follow-up waits for the first one's write-back
    assert [(r.method, r.path) for r in w.receiver.requests] == [("POST", "/incident")]
    first = w.deliveries(point_name="open incident")[0]
    assert (first.state, first.writeback_state) == ("delivered", "pending")

    w.clock.advance(1)
    assert await w.write_back() == 1
    assert w.simulator.ticket(ticket.id).field("Change Window").value == "INC0010001"  # type: ignore[union-attr]

    assert await w.send() == 1  # rendered now, from the ticket read again
    assert [(r.method, r.path) for r in w.receiver.requests][1] == (
        "PATCH", "/incident/INC0010001")
    assert [d.state for d in w.deliveries()] == ["delivered", "delivered"]


class WriteBackDuringRead(SecureChangeTicketReader):
    """The real SecureChange reader; once, right after SecureChange answers a read and before
    the planner stores it, the pending write-back lands and the clock moves on: the race of a
    planner reading a ticket while another worker writes into it."""

    def __init__(self, real: SecureChangeTicketReader, w: World) -> None:
        self._real, self._w, self.landed = real, w, False

    async def tickets(self, ticket_ids: Sequence[int]) -> list[Ticket | SecureChangeError]:
        found = await self._real.tickets(ticket_ids)
        if not self.landed:
            self.landed = True
            self._w.clock.advance(1)
            assert await self._w.write_back() == 1
            self._w.clock.advance(1)
        return found


async def test_a_write_back_landing_while_the_ticket_is_read_is_not_lost(w: World) -> None:
    w.add_server("jira")
    w.add_integration([OPEN, {**FOLLOW, "on": {"trigger": "ADVANCE"}, "server": "jira"}])
    w.receiver.respond = incident_numbers
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()
    assert await w.send() == 1  # the write-back of INC0010001 is now pending
    w.event(ticket.id, "ADVANCE")

    reader = WriteBackDuringRead(w.services.tickets, w)
    planner = Planner(w.queue, engine_configuration(w.services), reader, w.clock, "planner-2")
    assert await planner.plan_due() == 1
    assert reader.landed
    assert w.simulator.ticket(ticket.id).field("Change Window").value == "INC0010001"  # type: ignore[union-attr]

    # The snapshot was read before the write-back: the sender reads the ticket again.
    assert await w.send() == 1
    assert [(r.method, r.path) for r in w.receiver.requests][1] == (
        "PATCH", "/incident/INC0010001")


async def test_a_failed_attempt_is_retried_after_its_backoff_with_the_same_key(w: World) -> None:
    w.add_integration([OPEN])
    answers = iter([503, 201])
    w.receiver.respond = lambda _seen: JSONResponse({"result": {}}, next(answers))
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()

    assert await w.send() == 1
    row = w.deliveries()[0]
    assert row.state == "pending"
    assert await w.send() == 0  # not before its retry time

    w.clock.advance(timedelta(seconds=1.01))  # the first retry comes within ~1 s
    assert await w.send() == 1
    assert w.deliveries()[0].state == "delivered"
    keys = {(r.headers["idempotency-key"], r.headers["x-wi-delivery-id"])
            for r in w.receiver.requests}
    assert len(w.receiver.requests) == 2 and len(keys) == 1


async def test_draining_releases_a_slow_send_and_it_is_sent_again_later(w: World) -> None:
    w.add_integration([{**OPEN, "request": {"method": "POST", "path": "/sleep/3000"}}])
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()

    assert await w.engine.sender.claim_and_start() == 1
    deadline = time.monotonic() + 30
    while not w.receiver.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # until the request is at the receiver
    await w.engine.sender.drain(grace_seconds=0.1)

    row = w.deliveries()[0]
    assert row.state == "pending"  # released, not lost
    assert row.lease_owner is None
    w.receiver.respond = lambda _seen: JSONResponse({"ok": True})
    later = replace(FAST)
    with world(w.services.settings, w.simulator, w.receiver, later) as again:
        again.clock.set(w.clock.now())
        assert await again.send() == 1
        assert again.deliveries()[0].state == "delivered"
    keys = {r.headers["idempotency-key"] for r in w.receiver.requests}
    assert len(w.receiver.requests) == 2 and len(keys) == 1


async def test_the_lease_of_a_slow_send_is_renewed(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    settings = replace(FAST, lease=timedelta(seconds=3))  # renewed every second
    with world(any_db_settings, sc_simulator, receiver, settings) as w:
        w.add_server("itsm")
        w.add_integration([{**OPEN, "request": {"method": "POST", "path": "/sleep/6000"}}])
        ticket = w.simulator.create_ticket("Open 443")
        w.event(ticket.id, "CREATE")
        await w.plan()
        renewer = asyncio.create_task(w.engine.sender.run())
        deadline = time.monotonic() + 30
        while not w.receiver.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        w.clock.advance(timedelta(seconds=2))
        renewed = START + timedelta(seconds=5)  # 3 s after the clock's time of renewal
        while time.monotonic() < deadline + 30 and _aware(
                w.deliveries()[0].lease_expires_at) != renewed:
            await asyncio.sleep(0.05)
        w.clock.advance(timedelta(seconds=2))  # past the first lease, within the renewed

        assert w.engine.sender.in_flight  # still at the receiver
        stolen = w.queue.claim("another-process", 10, w.clock.now(), timedelta(seconds=3))
        assert stolen == []
        w.engine.sender.stop()
        await w.engine.sender.wait_idle()
        await renewer
        assert w.deliveries()[0].state == "delivered"
        assert len(w.receiver.requests) == 1


async def test_deliveries_of_a_disabled_server_are_held_then_resumed(w: World) -> None:
    w.add_integration([OPEN])
    w.services.servers.update("itsm", {"enabled": False})
    ticket = w.simulator.create_ticket("Open 443")
    w.event(ticket.id, "CREATE")
    await w.plan()

    assert await w.send() == 0
    assert w.deliveries()[0].state == "held"
    assert w.receiver.requests == []

    w.services.servers.update("itsm", {"enabled": True})
    w.engine.wake()
    assert await w.send() == 1
    assert w.deliveries()[0].state == "delivered"


async def test_the_running_engine_plans_sends_and_writes_back(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    with world(any_db_settings, sc_simulator, receiver, clock=SystemClock()) as w:
        w.add_server("itsm")
        w.add_integration([OPEN, FOLLOW])
        w.receiver.respond = incident_numbers
        ticket = w.simulator.create_ticket("Open 443")
        await w.engine.start()
        try:
            w.event(ticket.id, "CREATE")
            w.engine.wake()  # as intake does
            deadline = time.monotonic() + 60
            while len(w.receiver.requests) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await w.engine.stop(grace_seconds=5)
        assert [(r.method, r.path) for r in w.receiver.requests] == [
            ("POST", "/incident"), ("PATCH", "/incident/INC0010001")]
        field = w.simulator.ticket(ticket.id).field("Change Window")
        assert field is not None and field.value == "INC0010001"


async def test_a_revoked_refresh_token_holds_deliveries_until_a_new_one_is_saved(
    w: World, oauth_server: OAuthServer
) -> None:
    revoked = oauth_server.issue_refresh_token()
    oauth_server.revoke_refresh_tokens()
    w.add_server("oauth", auth=refresh_grant(oauth_server.token_url, revoked))
    advance = {**OPEN, "name": "advanced", "on": {"trigger": "ADVANCE"}, "response": None}
    w.add_integration([{**OPEN, "response": None}, advance], default_server="oauth")
    w.receiver.authorize = oauth_server.accepts
    ticket = w.simulator.create_ticket("ticket 0")
    w.event(ticket.id, "CREATE")
    w.simulator.move(ticket.id, "advance", fields={"Change Window": "ticket 1"})
    w.event(ticket.id, "ADVANCE")
    await w.plan()

    assert await w.send() == 1  # the ticket's later delivery waits behind the first
    assert await w.send() == 0
    assert {d.state for d in w.deliveries()} == {"held"}  # both, nothing sent
    assert w.receiver.requests == []

    w.services.servers.update("oauth", {"auth": refresh_grant(
        oauth_server.token_url, oauth_server.issue_refresh_token())})
    w.engine.wake()
    await w.send()
    await w.send()
    assert {d.state for d in w.deliveries()} == {"delivered"}
    names = {str(d.id): d.point_name for d in w.deliveries()}
    assert [names[r.headers["x-wi-delivery-id"]] for r in w.receiver.requests] == [
        "open incident", "advanced"]  # resumed in the ticket's order


async def test_the_give_up_age_is_a_setting_and_a_replay_starts_it_again(
    any_db_settings: Settings, sc_simulator: SimulatorHandle, receiver: Receiver
) -> None:
    settings = any_db_settings.model_copy(update={"delivery_give_up_hours": 2})
    services = build_services(settings)
    try:
        services.securechange.replace(sc_simulator.connection_settings())
        manual = ManualClock(START)
        engine = delivery_engine(services, clock=manual)  # as wi serve and wi worker build it
        w = World(services, DatabaseDeliveryQueue(services.engine, services.sessions), manual,
                  sc_simulator, receiver, engine)
        w.add_server("itsm")
        w.add_integration([OPEN])
        receiver.answer = (503, {"Retry-After": "4000"})  # 1 h 6 min 40 s
        ticket = sc_simulator.create_ticket("Open 443")
        w.event(ticket.id, "CREATE")
        await w.plan()

        assert await w.send() == 1
        row = w.deliveries()[0]
        assert (row.state, _aware(row.give_up_at)) == ("pending", START + timedelta(hours=2))
        manual.advance(4000)
        assert await w.send() == 1  # the next retry would fall after 2 h (24 h: still retried)
        row = w.deliveries()[0]
        assert row.state == "dead" and "gave up" in (row.reason or "")

        receiver.answer = None
        replayed = services.deliveries.replay(row.id, "alice")
        row = w.deliveries()[0]
        assert replayed.state == "pending"
        assert row.give_up_at is not None and row.replayed_at is not None
        assert row.give_up_at - row.replayed_at == timedelta(hours=2)
    finally:
        services.close()
