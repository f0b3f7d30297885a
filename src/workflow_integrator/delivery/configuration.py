"""What the delivery engine reads of WI's configuration, as plain callables.

Integrations, placeholder values and servers are sync database reads: the engine
calls them off the event loop. The composition root fills this in, so the engine
does not depend on how the services are put together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import EllipsisType
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
        securechange_url: str | EllipsisType | None = ...,
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
    securechange_url: Callable[[], str | None] | None = None
    """SecureChange's address for ``ticket_task_url`` (read once per batch), if known."""


def read_once(configuration: Configuration) -> Configuration:
    """The same view, each integration and server read at most once: for one batch of
    work, so a batch costs one read per workflow and server instead of one per item."""
    integrations: dict[str, Integration | None] = {}
    server_ids: dict[str, int | UnknownServer] = {}
    servers: dict[int, ServerRevision | UnknownServer] = {}

    def integration(workflow: str) -> Integration | None:
        if workflow not in integrations:
            integrations[workflow] = configuration.integration(workflow)
        return integrations[workflow]

    def server_id(name: str) -> int:
        if name not in server_ids:
            try:
                server_ids[name] = configuration.server_id(name)
            except UnknownServer as exc:
                server_ids[name] = exc
        found = server_ids[name]
        if isinstance(found, UnknownServer):
            raise UnknownServer(str(found))
        return found

    def server(number: int) -> ServerRevision:
        if number not in servers:
            try:
                servers[number] = configuration.server(number)
            except UnknownServer as exc:
                servers[number] = exc
        found = servers[number]
        if isinstance(found, UnknownServer):
            raise UnknownServer(str(found))
        return found

    values = configuration.values
    url = configuration.securechange_url
    if url is not None:
        read: list[str | None] = []

        def values_of(
            ticket: Ticket, event: WorkflowEvent, *, create_date: str | None,
            update_date: str | None, integration: Integration | None,
            securechange_url: str | EllipsisType | None = ...,
        ) -> PlaceholderValues:
            if securechange_url is ...:
                if not read:
                    read.append(url())
                securechange_url = read[0]
            return configuration.values(
                ticket, event, create_date=create_date, update_date=update_date,
                integration=integration, securechange_url=securechange_url)

        values = values_of
    return Configuration(integration=integration, values=values, server_id=server_id,
                         server=server, securechange_url=url)
