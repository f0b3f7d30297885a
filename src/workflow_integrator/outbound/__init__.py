"""Speaking to outbound servers: transports, TLS, proxies, auth flows and tokens.

Sends hold a lease: ``async with pool.lease(server_id, revision, config) as t:
await t.send(...)``; diagnostics use ``fetch_token`` and ``check_connection``;
``classify`` names the stage of a failure.
"""

from workflow_integrator.outbound.diagnostics import Diagnosis, check_connection, fetch_token
from workflow_integrator.outbound.errors import NeedsCredentials, OutboundError, Stage, classify
from workflow_integrator.outbound.token_script import check_token_script
from workflow_integrator.outbound.tokens import (
    AccessToken,
    MemoryTokenStore,
    TokenManager,
    TokenStore,
)
from workflow_integrator.outbound.transport import ServerTransport, TransportPool

__all__ = [
    "AccessToken",
    "Diagnosis",
    "MemoryTokenStore",
    "NeedsCredentials",
    "OutboundError",
    "ServerTransport",
    "Stage",
    "TokenManager",
    "TokenStore",
    "TransportPool",
    "check_connection",
    "check_token_script",
    "classify",
    "fetch_token",
]
