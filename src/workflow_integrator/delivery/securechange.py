"""The engine's line to SecureChange: one REST client, rebuilt when the settings change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeClient, SecureChangeError
from workflow_integrator.securechange.connection import SecureChangeConnection

ConnectionSource = Callable[[], SecureChangeConnection | None]
"""The saved SecureChange connection settings (a database read), or None before set up."""


class SecureChangeLine:
    """Hands out a SecureChange client on the current saved settings, shared by the loops."""

    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection
        self._settings: SecureChangeConnection | None = None
        self._client: SecureChangeClient | None = None
        # Replaced clients may still serve a call in flight: closed at shutdown.
        self._retired: list[SecureChangeClient] = []
        self._lock = asyncio.Lock()

    async def client(self) -> SecureChangeClient:
        """The client; a retryable ``SecureChangeError`` while no connection is set up."""
        settings = await asyncio.to_thread(self._connection)
        if settings is None:
            raise SecureChangeError(
                "the SecureChange connection is not set up (wi securechange set, or "
                "PUT /api/v1/securechange); waiting for it", retryable=True,
            )
        async with self._lock:
            if self._client is None or settings != self._settings:
                if self._client is not None:
                    self._retired.append(self._client)
                self._client = SecureChangeClient(settings)
                self._settings = settings
            return self._client

    async def ticket(self, ticket_id: int) -> Ticket:
        """Read a ticket (``SecureChangeError`` says whether trying later may help)."""
        return await (await self.client()).ticket(ticket_id)

    async def aclose(self) -> None:
        """Close every client."""
        clients = [*self._retired, *([self._client] if self._client else [])]
        self._client, self._retired = None, []
        for client in clients:
            with contextlib.suppress(Exception):  # closing must not hide the shutdown's cause
                await client.aclose()
