"""A SecureChange simulator: its REST subset, ticket moves and trigger runs."""

from workflow_integrator.securechange.simulator.lifecycle import Move, Simulator, SimulatorError
from workflow_integrator.securechange.simulator.server import SimulatorServer
from workflow_integrator.securechange.simulator.store import TicketStore
from workflow_integrator.securechange.simulator.triggers import (
    TriggerConfig,
    TriggerRun,
    TriggerRunner,
)

__all__ = [
    "Move",
    "Simulator",
    "SimulatorError",
    "SimulatorServer",
    "TicketStore",
    "TriggerConfig",
    "TriggerRun",
    "TriggerRunner",
]
