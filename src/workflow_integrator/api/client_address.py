"""The client's address: the peer's, or from ``X-Forwarded-For`` only behind a trusted proxy.

uvicorn is told not to read forwarding headers (``SERVER_OPTIONS``) because it trusts
loopback by default, which would let anyone on the WI host pick the address that
sign-in limits count. WI reads the header itself, and only when the peer is one of
``WI_TRUSTED_PROXIES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from workflow_integrator.domain.networks import Network, in_networks

#: Options every uvicorn that serves WI runs with (``wi serve`` and the tests).
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False, "server_header": False}

def client_address(peer: str, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The address to count a request against: the nearest untrusted hop."""
    if not forwarded_for or not in_networks(peer, proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not in_networks(hop, proxies):
            return hop
    return hops[0] if hops else peer


class ClientAddress:
    """ASGI middleware: from a trusted proxy, ``X-Forwarded-For`` sets ``scope["client"]``
    and ``X-Forwarded-Proto`` (http or https) sets ``scope["scheme"]``."""

    def __init__(self, app: ASGIApp, proxies: Sequence[Network]) -> None:
        self.app = app
        self.proxies = tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.proxies and scope.get("client"):
            peer, port = scope["client"]
            header = b",".join(
                value for name, value in scope["headers"] if name == b"x-forwarded-for"
            )
            address = client_address(peer, header.decode("latin-1") or None, self.proxies)
            if address != peer:
                scope = {**scope, "client": (address, port)}
            if in_networks(peer, self.proxies):
                proto = dict(scope["headers"]).get(b"x-forwarded-proto", b"").strip().lower()
                if proto in (b"http", b"https"):
                    scope = {**scope, "scheme": proto.decode()}
        await self.app(scope, receive, send)
