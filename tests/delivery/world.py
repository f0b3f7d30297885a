"""A whole delivery setting for engine tests: WI's services on a real database, the
SecureChange simulator, a real receiver, the real delivery queue and an engine on a
manual clock."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.delivery.parts import START
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.engine import DeliveryEngine, build_engine
from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.delivery.worker import WorkerSettings
from workflow_integrator.domain.clock import Clock, ManualClock
from workflow_integrator.domain.events import TicketInfo
from workflow_integrator.domain.ticket import StepRef
from workflow_integrator.securechange.trigger_info import render_ticket_info
from workflow_integrator.settings import Settings
from workflow_integrator.store import events as event_store
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue, DeliveryRow
from workflow_integrator.store.events import EventRow

WORKFLOW = "Firewall Change Request"
FAST = WorkerSettings(concurrency=8, lease=timedelta(seconds=60), poll_seconds=0.1,
                      min_sleep_seconds=0.01, held_refresh_seconds=0.0)


@dataclass
class World:
    """Everything an engine test touches, with helpers in the words of the tests."""

    services: Services
    queue: DatabaseDeliveryQueue
    clock: ManualClock
    simulator: SimulatorHandle
    receiver: Receiver
    engine: DeliveryEngine

    def add_server(self, name: str = "itsm", **fields: Any) -> int:
        """An outbound server at the receiver (Basic auth)."""
        body = {"name": name, "host": self.receiver.host, "protocol": "http",
                "auth": {"method": "basic", "username": "wi", "password": "pw-0123456789"},
                **fields}
        self.services.servers.create(body)
        return self.services.servers.id_of(name)

    def add_integration(self, points: list[dict[str, Any]], **fields: Any) -> None:
        """The demo workflow's integration with these points."""
        self.services.integrations.create({
            "workflow": WORKFLOW, "default_server": "itsm",
            "fields": {"Change Window": "text_field", "External Ticket": "text_field",
                       "Urgent": "checkbox"},
            "points": points, **fields,
        })

    def event(self, ticket_id: int, name: str, *, completed: str | None = None,
              current: str | None = None) -> int:
        """Store the event SecureChange's trigger reports for the ticket.

        The ticket as it is now, unless ``completed`` (the step an ADVANCE completed) or
        ``current`` (the step the event landed in) say what the trigger reported then.
        """
        info = self.simulator.server.simulator.ticket_info(ticket_id)
        if completed is not None:
            info = replace(info, completion_stage=StepRef(None, completed))
        if current is not None:
            info = replace(info, current_stage=StepRef(None, current))
        return self.store(info, name)

    def store(self, info: TicketInfo, name: str) -> int:
        """Store the trigger document ``info`` as intake stores what SecureChange posts."""
        document = render_ticket_info(info).encode()
        stored = EventIntake(self.services.sessions).receive_securechange(document, name)
        assert stored is not None
        return stored.event.id

    def event_row(self, event_id: int) -> EventRow:
        """The stored event."""
        row = event_store.get(self.services.sessions, event_id)
        assert row is not None
        return row

    def deliveries(self, **where: Any) -> list[DeliveryRow]:
        """Delivery rows, by id."""
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        for name, value in where.items():
            query = query.where(getattr(DeliveryRow, name) == value)
        with self.services.sessions() as session:
            return list(session.scalars(query))

    def bodies(self) -> list[Any]:
        """JSON bodies the receiver got, in arrival order."""
        return [json.loads(r.body) if r.body else None for r in self.receiver.requests]

    async def plan(self) -> int:
        """Plan every event due now."""
        return await self.engine.planner.plan_due()

    async def send(self) -> int:
        """Claim and send every delivery due now; wait until their outcomes are stored."""
        claimed = await self.engine.sender.claim_and_start()
        await self.engine.sender.wait_idle()
        return claimed

    async def write_back(self) -> int:
        """Apply the write-backs due now."""
        return await self.engine.writeback.run_once()


@contextmanager
def world(
    settings: Settings, simulator: SimulatorHandle, receiver: Receiver,
    worker: WorkerSettings = FAST, *, clock: Clock | None = None,
) -> Iterator[World]:
    """Build the setting on ``settings``' database; SecureChange is the simulator.

    The engine runs on ``World.clock`` (manual) unless given another ``clock``.
    """
    services = build_services(settings)
    services.securechange.replace(simulator.connection_settings())
    queue = DatabaseDeliveryQueue(services.engine, services.sessions)
    manual = ManualClock(START)
    engine = build_engine(services, queue, clock=clock or manual, settings=worker,
                          rng=random.Random(5))
    try:
        yield World(services, queue, manual, simulator, receiver, engine)
    finally:
        services.close()
