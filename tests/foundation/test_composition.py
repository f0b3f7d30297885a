"""The composition root: one set of services per process, opened and closed by the app."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from tests.outbound.configs import server
from tests.servers.live_wi import LiveWI
from tests.servers.receiver import Receiver
from workflow_integrator.app import Services, build_services, create_app
from workflow_integrator.settings import Settings
from workflow_integrator.store.models import ENCRYPTED_COLUMNS, metadata


class Recorder:
    """A background runner that only records when the app starts and stops it."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    async def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


@pytest.fixture
def services(wi_settings: Settings) -> Iterator[Services]:
    built = build_services(wi_settings)
    try:
        yield built
    finally:
        built.close()


async def test_the_lifespan_starts_and_stops_runners_and_closes_transports(
    services: Services, receiver: Receiver
) -> None:
    log: list[str] = []
    with_runners = dataclasses.replace(
        services, background=(Recorder(log, "a"), Recorder(log, "b"))
    )
    app = create_app(services.settings, with_runners)
    async with app.router.lifespan_context(app):
        assert log == ["start a", "start b"]
        target = server(receiver.host).model_dump(mode="json")
        services.servers.create(target)
        diagnosis = await services.diagnostics.test("test-server")
        assert diagnosis.ok, diagnosis.message
        row, config = services.servers.get_config_by_id(services.servers.id_of("test-server"))
        async with services.transports.lease(row.id, row.revision, config) as transport:
            assert not transport.client.is_closed
    # Stopped in reverse order, then the connection pools are closed.
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert transport.client.is_closed


def test_every_interface_gets_the_same_services(live_wi: LiveWI) -> None:
    found = live_wi.services
    assert found.diagnostics.transports is found.transports
    assert found.transports.tokens is found.token_manager
    assert found.diagnostics.tokens is found.token_manager
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.servers = found.servers  # type: ignore[misc]


def test_every_secret_column_is_re_encrypted_by_key_rotation() -> None:
    secret_names = {"secrets", "password", "access_token", "refresh_token"}
    columns = {
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if column.name in secret_names
    }
    listed: set[Any] = {(table, column) for table, _, column in ENCRYPTED_COLUMNS}
    assert listed == columns
