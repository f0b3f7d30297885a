"""Reading tickets from SecureChange through one long-lived client per connection setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeClient, SecureChangeError
from workflow_integrator.securechange.connection import SecureChangeConnection

ConnectionSource = Callable[[], SecureChangeConnection | None]
"""The saved SecureChange connection settings, or None before they are set (reads the database)."""


class TicketReader(Protocol):
    """Reads one ticket by id."""

    async def ticket(self, ticket_id: int) -> Ticket:
        """The ticket, or an exception whose message says why not."""
        ...


class NotConfigured(LookupError):
    """No SecureChange connection is saved yet."""


class _Lease:
    """A client and the reads running on it, so a replaced client closes once idle."""

    def __init__(self, client: SecureChangeClient) -> None:
        self.client = client
        self.reads = 0
        self.idle = asyncio.Event()
        self.idle.set()


class SecureChangeTicketReader:
    """Reads tickets with the saved connection; the client is rebuilt when the settings change.

    The settings are read from the database off the event loop on every read, so a change
    saved by another process (``wi securechange set``) is picked up by the next read.
    """

    def __init__(
        self,
        connection: ConnectionSource,
        on_result: Callable[[bool, str], None] | None = None,
        policy: NetworkPolicy = DEFAULT_POLICY,
    ) -> None:
        self._connection = connection
        self._policy = policy
        # Told how each read went (the readiness probe shows SecureChange's last check).
        self._on_result = on_result
        self._current: _Lease | None = None
        self._retiring: set[asyncio.Task[None]] = set()

    async def ticket(self, ticket_id: int) -> Ticket:
        """``GET /tickets/{id}`` with the saved connection."""
        async with self.client() as client:
            try:
                ticket = await client.ticket(ticket_id)
            except SecureChangeError as exc:
                if self._on_result is not None:
                    self._on_result(False, str(exc))
                raise
        if self._on_result is not None:
            self._on_result(True, f"read ticket {ticket_id}")
        return ticket

    async def tickets(self, ticket_ids: Sequence[int]) -> list[Ticket | SecureChangeError]:
        """Several tickets read side by side on one read of the saved connection; each a
        ticket or the error that kept it from being read (NotConfigured raised before)."""
        async with self.client() as client:
            found = await asyncio.gather(*(client.ticket(i) for i in ticket_ids),
                                         return_exceptions=True)
        results: list[Ticket | SecureChangeError] = []
        for ticket_id, item in zip(ticket_ids, found, strict=True):
            if isinstance(item, SecureChangeError):
                if self._on_result is not None:
                    self._on_result(False, str(item))
                results.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                if self._on_result is not None:
                    self._on_result(True, f"read ticket {ticket_id}")
                results.append(item)
        return results

    @asynccontextmanager
    async def client(self) -> AsyncIterator[SecureChangeClient]:
        """The client on the saved connection, kept open until the block ends (for calls
        beyond reading tickets, such as writing fields back)."""
        settings = await asyncio.to_thread(self._connection)
        if settings is None:
            raise NotConfigured(
                "the SecureChange connection is not set up (wi securechange set, or "
                "PUT /api/v1/securechange); or paste the ticket document instead"
            )
        lease = self._lease(settings)
        lease.reads += 1
        lease.idle.clear()
        try:
            yield lease.client
        finally:
            lease.reads -= 1
            if lease.reads == 0:
                lease.idle.set()

    def _lease(self, settings: SecureChangeConnection) -> _Lease:
        current = self._current
        if current is not None and current.client.connection == settings:
            return current
        self._current = _Lease(SecureChangeClient(settings, policy=self._policy))
        if current is not None:
            task = asyncio.get_running_loop().create_task(_close_when_idle(current))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return self._current

    async def aclose(self) -> None:
        """Close the client (after the reads in flight); the next read opens a new one."""
        current, self._current = self._current, None
        if current is not None:
            await _close_when_idle(current)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)


async def _close_when_idle(lease: _Lease) -> None:
    await lease.idle.wait()
    await lease.client.aclose()
