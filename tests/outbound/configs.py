"""Outbound server configurations for tests, built through the real domain model."""

from __future__ import annotations

from typing import Any

from tests.servers.oauth import CLIENT_ID, CLIENT_SECRET, PASSWORD, USERNAME
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.outbound import ServerTransport, TransportPool
from workflow_integrator.outbound.tokens import ServerId

BASIC_PASSWORD = "basic-pa55word-xyz"
STATIC_TOKEN = "static-token-abcdefghijklmnop"


def server(host: str, protocol: str = "http", **fields: Any) -> OutboundServer:
    """A validated configuration for a receiver at ``host`` (``127.0.0.1:port``)."""
    return OutboundServer.model_validate(
        {"name": "test-server", "host": host, "protocol": protocol, **fields}
    )


def password_grant(token_url: str, **extra: Any) -> dict[str, Any]:
    """The auth section of a Resource Owner Password Credentials server."""
    return {
        "method": "oauth2",
        "grant_type": "password",
        "token_url": token_url,
        "username": USERNAME,
        "password": PASSWORD,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }


def refresh_grant(token_url: str, refresh_token: str, **extra: Any) -> dict[str, Any]:
    """The auth section of a Refresh Token server."""
    return {
        "method": "oauth2",
        "grant_type": "refresh_token",
        "token_url": token_url,
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }


async def leased(
    pool: TransportPool, server_id: ServerId, revision: int, config: OutboundServer
) -> ServerTransport:
    """A server revision's transport, for tests in which no server changes meanwhile.

    The lease ends at once; tests of lease lifetimes use ``pool.lease`` themselves.
    """
    async with pool.lease(server_id, revision, config) as transport:
        return transport
