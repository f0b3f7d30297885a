"""Write-back against the shipped SecureChange simulator: its tickets show the written fields."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.delivery.parts import START, clock
from tests.outbound.conftest import no_secret_in_logs  # noqa: F401 - applies here too
from tests.servers.simulator import SimulatorHandle
from tests.servers.uvicorn_thread import free_port
from workflow_integrator.delivery.queue import ClaimedWriteback
from workflow_integrator.delivery.writeback import TicketWriter
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.securechange.tickets import SecureChangeTicketReader


class Settings:
    """The saved SecureChange connection, changeable by the test like an admin would."""

    def __init__(self, connection: SecureChangeConnection | None) -> None:
        self.connection = connection

    def __call__(self) -> SecureChangeConnection | None:
        return self.connection


def connection_to(simulator: SimulatorHandle) -> SecureChangeConnection:
    return SecureChangeConnection.model_validate(simulator.connection_settings())


def item(ticket_id: int, fields: dict[str, object], attempt: int = 1) -> ClaimedWriteback:
    return ClaimedWriteback(delivery_id=41, ticket_id=ticket_id, workflow="Firewall Change "
                            "Request", point_name="open incident", fields=dict(fields),
                            attempt=attempt)


@pytest.fixture
async def line(
    sc_simulator: SimulatorHandle,
) -> AsyncIterator[tuple[SecureChangeTicketReader, Settings]]:
    settings = Settings(connection_to(sc_simulator))
    line = SecureChangeTicketReader(settings)
    yield line, settings
    await line.aclose()


def writer(line: SecureChangeTicketReader) -> TicketWriter:
    return TicketWriter(line, clock(), random.Random(3))


async def test_mapped_values_appear_in_the_simulators_ticket(
    sc_simulator: SimulatorHandle, line: tuple[SecureChangeTicketReader, Settings]
) -> None:
    ticket = sc_simulator.create_ticket("Open 443")
    result = await writer(line[0]).write(item(ticket.id, {
        "Change Window": "INC0010001", "Urgent": "true", "Contacts": "noc@example.com"}))

    assert result.ok, result.detail
    assert "Change Window" in result.detail
    now = sc_simulator.ticket(ticket.id)
    assert now.field("Change Window").value == "INC0010001"  # type: ignore[union-attr]
    assert now.field("Urgent").value is True  # type: ignore[union-attr]
    assert now.field("Contacts").value == ["noc@example.com"]  # type: ignore[union-attr]


async def test_a_field_of_an_earlier_step_is_written_where_it_is(
    sc_simulator: SimulatorHandle, line: tuple[SecureChangeTicketReader, Settings]
) -> None:
    ticket = sc_simulator.create_ticket("Open 443")
    sc_simulator.move(ticket.id, "advance")
    sc_simulator.move(ticket.id, "advance")  # now in Implementation
    result = await writer(line[0]).write(item(ticket.id, {
        "External Ticket": "CHG42", "Change Window": "Sat 02:00"}))

    assert result.ok, result.detail
    now = sc_simulator.ticket(ticket.id)
    assert now.field("External Ticket").value == "CHG42"  # type: ignore[union-attr]
    assert now.field("Change Window", "Open request").value == "Sat 02:00"  # type: ignore[union-attr]


async def test_a_field_the_ticket_lacks_fails_for_good_and_the_others_are_written(
    sc_simulator: SimulatorHandle, line: tuple[SecureChangeTicketReader, Settings]
) -> None:
    ticket = sc_simulator.create_ticket("Open 443")
    result = await writer(line[0]).write(item(ticket.id, {
        "Change Window": "now", "ITSM reference": "INC1"}))

    assert not result.ok
    assert result.retry_at is None
    assert "no field 'ITSM reference'" in result.detail
    assert sc_simulator.ticket(ticket.id).field("Change Window").value == "now"  # type: ignore[union-attr]


async def test_unreachable_securechange_is_retried_on_its_own_then_written(
    sc_simulator: SimulatorHandle, line: tuple[SecureChangeTicketReader, Settings]
) -> None:
    the_line, settings = line
    good = settings.connection
    assert good is not None
    ticket = sc_simulator.create_ticket("Open 443")
    settings.connection = good.model_copy(update={"host": f"127.0.0.1:{free_port()}"})
    first = await writer(the_line).write(item(ticket.id, {"Change Window": "W1"}))

    assert not first.ok
    assert "cannot reach SecureChange" in first.detail
    assert first.retry_at is not None
    assert START <= first.retry_at <= START + timedelta(seconds=1)

    settings.connection = good  # SecureChange is back (or the settings were fixed)
    second = await writer(the_line).write(item(ticket.id, {"Change Window": "W1"}, attempt=2))
    assert second.ok, second.detail
    assert sc_simulator.ticket(ticket.id).field("Change Window").value == "W1"  # type: ignore[union-attr]


async def test_no_connection_set_up_waits_instead_of_failing(
    sc_simulator: SimulatorHandle,
) -> None:
    the_line = SecureChangeTicketReader(Settings(None))
    result = await writer(the_line).write(item(445, {"Change Window": "W1"}))
    await the_line.aclose()

    assert not result.ok
    assert result.retry_at is not None
    assert "not set up" in result.detail
