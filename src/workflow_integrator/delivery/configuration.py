"""What the delivery engine reads of WI's configuration, as plain callables.

Integrations, placeholder values and servers are sync database reads: the engine
calls them off the event loop. The composition root fills this in, so the engine
does not depend on how the services are put together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from workflow_integrator.delivery.sender import ServerRevision
from workflow_integrator.domain.integration import Integration
from workflow_integrator.domain.matching import WorkflowEvent
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.templating.placeholders import PlaceholderValues


class ValuesFactory(Protocol):
    """Placeholder values of a ticket for an event (custom functions included)."""

    def __call__(
        self, ticket: Ticket, event: WorkflowEvent, *, create_date: str | None,
        update_date: str | None, integration: Integration | None,
    ) -> PlaceholderValues: ...


class UnknownServer(LookupError):
    """A server named or numbered by a delivery does not exist (any more)."""


@dataclass(frozen=True)
class Configuration:
    """The engine's view of the configuration (see the module docstring)."""

    integration: Callable[[str], Integration | None]
    """The integration of a workflow, or None."""
    values: ValuesFactory
    server_id: Callable[[str], int]
    """A server's id by name; raises :class:`UnknownServer`."""
    server: Callable[[int], ServerRevision]
    """A server's configuration and revision by id; raises :class:`UnknownServer`."""
