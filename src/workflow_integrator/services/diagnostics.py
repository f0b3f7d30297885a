"""Fetch Token and Test connection for saved servers and for unsaved dialog contents."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from workflow_integrator.domain.outbound_server import OAuth2RefreshTokenAuth
from workflow_integrator.outbound import (
    Diagnosis,
    TokenManager,
    TransportPool,
    check_connection,
    fetch_token,
)
from workflow_integrator.outbound.diagnostics import can_fetch_token
from workflow_integrator.services.errors import InvalidInput
from workflow_integrator.services.outbound_servers import OutboundServerService

TEST_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PATH = re.compile(r"^/[\x21-\x7e]*$")


class DiagnosticsService:
    """Runs one real token fetch or request over the server's shared transport, and reports."""

    def __init__(
        self, servers: OutboundServerService, tokens: TokenManager, transports: TransportPool
    ) -> None:
        self.servers = servers
        self.tokens = tokens
        self.transports = transports

    async def fetch_token(self, name: str) -> Diagnosis:
        """Fetch a new token for a saved server (a rotated refresh token is stored).

        Success with the saved settings ends ``needs_credentials``.
        """
        server_id = await asyncio.to_thread(self.servers.id_of, name)
        config = await asyncio.to_thread(self.servers.get_config, name)
        _check_fetchable(config.auth.method, can_fetch_token(config))
        diagnosis = await fetch_token(
            config, server_id=server_id, manager=self.tokens, policy=self.transports.policy
        )
        if diagnosis.ok:
            await asyncio.to_thread(self.servers.credentials_work, name)
        return diagnosis

    async def fetch_token_unsaved(self, body: dict[str, Any]) -> Diagnosis:
        """Fetch a token with the dialog's unsaved settings; ``base`` lends stored secrets.

        A what-if never changes the saved server: only a refresh token the endpoint
        rotated while answering is stored for it (the old one is dead by then). Values
        equal to the saved ones are a fetch for the saved server.
        """
        body = dict(body)
        base = body.pop("base", None)
        if base is not None and not isinstance(base, str):
            raise InvalidInput.single(["base"], "base must be the name of a saved server")
        config = await asyncio.to_thread(self.servers.resolve_unsaved, body, base)
        _check_fetchable(config.auth.method, can_fetch_token(config))
        if base is None:
            return await fetch_token(config, policy=self.transports.policy)
        stored = await asyncio.to_thread(self.servers.get_config, base)
        if config.model_copy(update={"name": stored.name}) == stored:
            return await self.fetch_token(base)
        if (
            isinstance(config.auth, OAuth2RefreshTokenAuth)
            and isinstance(stored.auth, OAuth2RefreshTokenAuth)
            and stored.auth.refresh_token == config.auth.refresh_token
        ):
            # The base's refresh token: use its newest rotation and keep the next one.
            server_id = await asyncio.to_thread(self.servers.id_of, base)
            return await fetch_token(
                config, server_id=server_id, manager=self.tokens, lineage_only=True,
                policy=self.transports.policy,
            )
        return await fetch_token(config, policy=self.transports.policy)

    async def test(self, name: str, method: str = "GET", path: str = "/") -> Diagnosis:
        """Send one request (default ``GET /``) to a saved server with its auth, and report."""
        verb = method.upper()
        if verb not in TEST_METHODS:
            allowed = ", ".join(TEST_METHODS)
            raise InvalidInput.single(["method"], f"method must be one of {allowed}")
        if not _PATH.match(path):
            raise InvalidInput.single(
                ["path"], "path must start with '/' and hold no blanks or control characters"
            )
        server_id = await asyncio.to_thread(self.servers.id_of, name)
        row, config = await asyncio.to_thread(self.servers.get_config_by_id, server_id)
        async with self.transports.lease(row.id, row.revision, config) as transport:
            diagnosis = await check_connection(transport, verb, path)
        if diagnosis.ok:
            await asyncio.to_thread(self.servers.credentials_work, name)
        return diagnosis


def _check_fetchable(method: str, fetchable: bool) -> None:
    if not fetchable:
        raise InvalidInput.single(
            ["auth", "method"],
            f"Fetch Token applies to OAuth 2.0 and Bearer authentication, not '{method}'",
        )
