"""The SecureChange REST client against the shipped simulator (HTTP and HTTPS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from tests.securechange.samples import sample
from tests.servers.live_wi import free_port
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle, run_simulator
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.securechange.client import SecureChangeClient, SecureChangeError
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.securechange.ticket_format import parse_ticket_document


def connection(sim: SimulatorHandle, **overrides: object) -> SecureChangeConnection:
    return SecureChangeConnection.model_validate({**sim.connection_settings(), **overrides})


async def test_reads_the_ticket_like_the_sample(sc_simulator: SimulatorHandle) -> None:
    async with SecureChangeClient(connection(sc_simulator)) as sc:
        ticket = await sc.ticket(445)
    assert ticket == parse_ticket_document(sample("ticket.xml"))
    assert ticket.current is not None and ticket.current.name == "Technical Design"
    async with SecureChangeClient(connection(sc_simulator), prefer_json=True) as sc:
        assert await sc.ticket(445) == ticket


async def test_updates_fields_and_reads_them_back(sc_simulator: SimulatorHandle) -> None:
    created = sc_simulator.create_ticket("client", fields={"Regions": ["EMEA"]})
    step, task = created.steps[0], created.steps[0].tasks[0]
    async with SecureChangeClient(connection(sc_simulator)) as sc:
        fields = await sc.fields(created.id, step.id or 0, task.id or 0)
        by_name = {f.name: f for f in fields}
        await sc.update_fields(created.id, step.id or 0, task.id or 0, [
            replace(by_name["Change Window"], value="CHG0042"),
            replace(by_name["Regions"], value=["AMER", "APAC"]),
        ])
        await sc.update_field(created.id, step.id or 0, task.id or 0,
                              replace(by_name["Urgent"], value=True))
        ticket = await sc.ticket(created.id)
    assert ticket.field("Change Window").value == "CHG0042"  # type: ignore[union-attr]
    assert ticket.field("Regions").value == ["AMER", "APAC"]  # type: ignore[union-attr]
    assert ticket.field("Urgent").value is True  # type: ignore[union-attr]


async def test_users_for_notifications(sc_simulator: SimulatorHandle) -> None:
    async with SecureChangeClient(connection(sc_simulator)) as sc:
        by_id = await sc.user(11)
        by_name = await sc.find_user("tzachi")
        nobody = await sc.find_user("nobody")
    assert (by_id.name, by_id.email) == ("user", "user@kuku.com")
    assert by_name is not None and by_name.id == 3
    assert nobody is None


async def test_errors_say_what_and_whether_to_retry(sc_simulator: SimulatorHandle) -> None:
    async with SecureChangeClient(connection(sc_simulator)) as sc:
        with pytest.raises(SecureChangeError, match=r"ticket 999 does not exist") as missing:
            await sc.ticket(999)
    assert missing.value.status == 404 and not missing.value.retryable
    async with SecureChangeClient(connection(sc_simulator, password="wrong")) as sc:
        with pytest.raises(SecureChangeError, match="refused the user name or password"):
            await sc.ticket(445)
        check = await sc.check()
    assert not check.ok and check.status == 401
    down = SecureChangeConnection(host=f"http://127.0.0.1:{free_port()}", username="u")
    async with SecureChangeClient(down) as sc:
        with pytest.raises(SecureChangeError, match="cannot reach SecureChange") as unreachable:
            await sc.ticket(1)
    assert unreachable.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable"), [(408, True), (429, True), (500, True), (507, True), (400, False)]
)
async def test_server_errors_are_retryable_with_the_wait_asked_for(
    receiver: Receiver, status: int, retryable: bool
) -> None:
    """Any 5xx (not only 500, 502, 503, 504), 408 and 429 are worth another attempt."""
    clock = ManualClock(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    receiver.answer = (status, {"Retry-After": "Wed, 02 Dec 2026 12:02:00 GMT"})
    down = SecureChangeConnection(host=receiver.host, protocol="http", username="u")
    async with SecureChangeClient(down, clock=clock) as sc:
        with pytest.raises(SecureChangeError, match=f"answered {status}") as failed:
            await sc.ticket(7)
    assert failed.value.status == status and failed.value.retryable is retryable
    assert failed.value.retry_after == timedelta(minutes=2)


@pytest.fixture
def tls_simulator(tmp_path: Path) -> Iterator[tuple[SimulatorHandle, str]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    with run_simulator(ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)) as sim:
        yield sim, ca.cert_pem.bytes().decode()


async def test_tls_verification_modes(tls_simulator: tuple[SimulatorHandle, str]) -> None:
    sim, ca_pem = tls_simulator
    assert sim.url.startswith("https://")
    async with SecureChangeClient(connection(sim, verify_certificate="enable")) as sc:
        result = await sc.check()
    assert not result.ok and "upload SecureChange's certificate" in result.message
    async with SecureChangeClient(connection(sim, verify_certificate="certificate",
                                             certificate=ca_pem)) as sc:
        assert (await sc.check()).ok
    plain_off = connection(sim, verify_certificate="disable")
    assert plain_off.warnings() and "disabled" in plain_off.warnings()[0]
    async with SecureChangeClient(plain_off) as sc:
        assert (await sc.ticket(445)).id == 445
