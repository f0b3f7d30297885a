"""The shipped SecureChange simulator, for any test that needs SecureChange.

Use the ``sc_simulator`` fixture (or :func:`run_simulator`)::

    def test_x(sc_simulator):
        ticket = sc_simulator.create_ticket("Open port 443", fields={"Urgent": True})
        sc_simulator.move(ticket.id, "advance")
        settings = sc_simulator.connection_settings()   # body of PUT /api/v1/securechange

Set the trigger command with :meth:`SimulatorHandle.set_trigger` (e.g. the real
``wi-trigger`` pointed at a live WI, see :meth:`SimulatorHandle.trigger_wi`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workflow_integrator.domain.ticket import JsonValue, Ticket
from workflow_integrator.securechange.simulator import (
    Move,
    SimulatorServer,
    TriggerConfig,
    TriggerRun,
)
from workflow_integrator.securechange.simulator.triggers import wi_trigger_command

#: Short retry delays so tests of retries stay quick (SecureChange waits longer).
FAST_DELAYS = (0.2, 0.4, 0.8, 1.6)


@dataclass
class SimulatorHandle:
    """A running simulator: URLs, credentials, and in-process ticket control."""

    server: SimulatorServer

    @property
    def url(self) -> str:
        """Server root (what WI's SecureChange host setting takes)."""
        return self.server.url

    @property
    def api_url(self) -> str:
        """REST base URL (``.../securechangeworkflow/api/securechange``)."""
        return self.server.api_url

    @property
    def username(self) -> str:
        """Basic-auth user."""
        return self.server.username

    @property
    def password(self) -> str:
        """Basic-auth password."""
        return self.server.password

    def create_ticket(
        self, subject: str, workflow: str = "Firewall Change Request", *,
        requester: str = "api", fields: Mapping[str, JsonValue] | None = None,
    ) -> Ticket:
        """Create a ticket in the workflow's first step (fires CREATE)."""
        return self.server.simulator.create_ticket(subject, workflow, requester=requester,
                                                   fields=fields)

    def move(self, ticket_id: int, move: Move | str, **kwargs: Any) -> Ticket:
        """Move a ticket (advance, redo, reject, ...; fires the matching event)."""
        return self.server.simulator.move(ticket_id, move, **kwargs)

    def ticket(self, ticket_id: int) -> Ticket:
        """The ticket as the simulator holds it now."""
        return self.server.simulator.ticket(ticket_id)

    def set_trigger(
        self, command: Sequence[str], env: Mapping[str, str] | None = None,
        *, attempts: int = 5, delays: Sequence[float] = FAST_DELAYS, timeout: float = 60,
    ) -> None:
        """Run ``command`` on every move, as SecureChange runs its trigger script."""
        self.server.simulator.triggers.configure(TriggerConfig(
            command=tuple(command), env=dict(env or {}), attempts=attempts,
            delays=tuple(delays), timeout=timeout,
        ))

    def trigger_wi(self, wi_url: str, token: str, *, timeout: float = 10, **kwargs: Any) -> None:
        """Make every move run the real ``wi-trigger`` against WI at ``wi_url``."""
        self.set_trigger(
            wi_trigger_command(),
            {"WI_URL": wi_url, "WI_API_TOKEN": token, "WI_TIMEOUT": str(timeout)},
            **kwargs,
        )

    def wait_for_triggers(self, timeout: float = 30) -> None:
        """Wait until every fired trigger finished (succeeded or used up its attempts)."""
        assert self.server.simulator.triggers.wait_idle(timeout), "trigger runs did not finish"

    @property
    def runs(self) -> list[TriggerRun]:
        """Every trigger attempt so far."""
        return self.server.simulator.triggers.runs

    def connection_settings(self) -> dict[str, Any]:
        """The body of ``PUT /api/v1/securechange`` that points WI at this simulator."""
        return {"host": self.url, "username": self.username, "password": self.password,
                "verify_certificate": "enable", "timeout_seconds": 10}


@contextmanager
def run_simulator(state_file: Path | None = None, **kwargs: Any) -> Iterator[SimulatorHandle]:
    """Start a simulator on a free port for the duration of the block."""
    with SimulatorServer(state_file=state_file, **kwargs) as server:
        yield SimulatorHandle(server)


@pytest.fixture
def sc_simulator(tmp_path: Path) -> Iterator[SimulatorHandle]:
    """A fresh simulator (seeded from the samples, state in a temp file), no trigger yet."""
    with run_simulator(tmp_path / "securechange-sim.json") as handle:
        yield handle
