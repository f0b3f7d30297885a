"""The outbound network policy applied where WI connects: resolve, check, then connect.

Every HTTP client WI opens to an outbound server, a token endpoint, a proxy or
SecureChange uses :class:`GuardedTransport`. Its network backend resolves a name
itself, checks each address against the policy and connects to that very address, so
neither DNS rebinding nor an odd spelling of an address (``0x7f000001``,
``[::ffff:127.0.0.1]``) gets round the check. Before any traffic, the request's host
as written is checked too: with a proxy, that is all WI sees of the target.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from workflow_integrator.domain.network_policy import (
    DEFAULT_POLICY,
    Address,
    NetworkPolicy,
    canonical,
    literal_address,
)


class PolicyRefused(httpcore2.ConnectError):
    """The outbound network policy refuses this connection; the message names the rule."""


async def resolve(host: str, port: int, timeout: float | None) -> list[Address]:
    """The addresses of ``host`` in the resolver's order (an IP literal is itself)."""
    try:
        return [canonical(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass  # a name, or an address in a spelling only the resolver reads
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from exc
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore2.ConnectError(f"{host}: {exc}") from exc
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = canonical(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in found:
            found.append(address)
    return found


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend behind the policy: it connects to checked addresses only."""

    def __init__(
        self, policy: NetworkPolicy, inner: httpcore2.AsyncNetworkBackend | None = None
    ) -> None:
        self.policy = policy
        self._inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """Resolve ``host``, drop the addresses the policy refuses, connect to the first
        that answers; refuse (naming the rule) when none is left."""
        name_refusal = self.policy.host_refusal(host)
        if name_refusal is not None:
            raise PolicyRefused(name_refusal)
        addresses = await resolve(host, port, timeout)
        refusals: list[str] = []
        last_error: Exception | None = None
        for address in addresses:
            refusal = self.policy.address_refusal(address)
            if refusal is not None:
                refusals.append(refusal)
                continue
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectTimeout:
                raise
            except httpcore2.ConnectError as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        written = (
            "" if literal_address(host) is not None
            else f"{host} resolves only to denied addresses: "
        )
        raise PolicyRefused(written + (refusals[0] if refusals else "no address"))

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """WI never connects to outbound servers over Unix sockets."""
        raise PolicyRefused("outbound connections use TCP only")

    async def sleep(self, seconds: float) -> None:
        """Wait between connection retries."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """``httpx2.AsyncHTTPTransport`` (same options) whose every connection obeys the policy."""

    def __init__(self, policy: NetworkPolicy = DEFAULT_POLICY, **options: Any) -> None:
        super().__init__(**options)
        self.policy = policy
        # httpx2 takes no network backend argument; its pools (direct, HTTP proxy and
        # SOCKS proxy alike) open every connection through this attribute.
        self._pool._network_backend = GuardedBackend(policy)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Refuse a denied target as written before any traffic; then send as usual."""
        refusal = self.policy.host_refusal(request.url.host)
        if refusal is not None:
            raise httpx2.ConnectError(refusal, request=request) from PolicyRefused(refusal)
        return await super().handle_async_request(request)


def policy_refusal(exc: BaseException) -> PolicyRefused | None:
    """The policy's refusal behind an exception from a send, if that is what it is."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        if isinstance(current, PolicyRefused):
            return current
        seen.append(current)
        current = current.__cause__ or current.__context__
    return None
