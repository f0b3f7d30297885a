"""One HTTP transport per outbound server, reused for every request and rebuilt on change.

Sends hold a lease on the transport (``async with pool.lease(...)``): a revision
replaced by a newer one, or a deleted server, closes only after its last lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx2

from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.outbound.auth import build_auth
from workflow_integrator.outbound.errors import OutboundError, classify, describe
from workflow_integrator.outbound.network_guard import GuardedTransport
from workflow_integrator.outbound.tls import proxy_ssl_context, server_ssl_context
from workflow_integrator.outbound.tokens import ServerId, TokenManager

log = logging.getLogger("workflow_integrator.outbound.transport")


def _proxy(server: OutboundServer) -> httpx2.Proxy | None:
    setting = server.proxy
    if setting is None:
        return None
    auth = None
    if setting.username:
        password = setting.password.get_secret_value() if setting.password else ""
        auth = (setting.username, password)
    context = proxy_ssl_context(server) if setting.url.startswith("https://") else None
    return httpx2.Proxy(setting.url, auth=auth, ssl_context=context)


def build_http_transport(
    server: OutboundServer, policy: NetworkPolicy = DEFAULT_POLICY
) -> httpx2.AsyncHTTPTransport:
    """The connection pool for a server: its TLS mode, client certificate and proxy, every
    connection (to the server, its token endpoint or its proxy) under the network policy."""
    limit = server.max_concurrency
    return GuardedTransport(
        policy,
        verify=server_ssl_context(server),
        proxy=_proxy(server),
        trust_env=False,
        limits=httpx2.Limits(
            max_connections=limit * 2 + 2, max_keepalive_connections=limit, keepalive_expiry=30
        ),
    )


def _timeout(server: OutboundServer) -> httpx2.Timeout:
    return httpx2.Timeout(server.timeout_seconds)


def build_token_client(
    server: OutboundServer, transport: httpx2.AsyncHTTPTransport
) -> httpx2.AsyncClient:
    """A client for the token endpoint over the server's own pool (same TLS and proxy).

    It carries none of the server's headers: a token request is a form post.
    """
    return httpx2.AsyncClient(transport=transport, timeout=_timeout(server), trust_env=False)


@dataclass
class ServerTransport:
    """Everything needed to send requests to one server, shared by concurrent sends."""

    server_id: ServerId
    revision: int
    config: OutboundServer
    client: httpx2.AsyncClient
    token_client: httpx2.AsyncClient
    transport: httpx2.AsyncHTTPTransport
    in_flight: int = 0
    leases: int = 0
    retired: bool = False
    closed: bool = False
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _slots: asyncio.Semaphore | None = None

    def __post_init__(self) -> None:
        # At most max_concurrency requests at once; the rest wait here, not in the pool.
        self._slots = asyncio.Semaphore(self.config.max_concurrency)
        self._idle.set()

    @property
    def busy(self) -> bool:
        """True while a lease is held or a send runs."""
        return self.leases > 0 or self.in_flight > 0

    def _check_idle(self) -> None:
        if self.busy:
            self._idle.clear()
        else:
            self._idle.set()

    @property
    def via_proxy(self) -> str | None:
        """The proxy as shown to users (password masked), if one is configured."""
        return self.config.proxy.display() if self.config.proxy else None

    @property
    def _tls_without_client_cert(self) -> bool:
        return self.config.protocol == "https" and not self.config.client_certificate

    @property
    def target(self) -> str:
        """``host:port`` of the server, for messages."""
        target = self.config.target
        port = target.port or (443 if self.config.protocol == "https" else 80)
        return target.netloc() if target.port else f"{target.netloc()}:{port}"

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
    ) -> httpx2.Response:
        """Send one request with the server's auth, headers, TLS, proxy and timeout.

        A 401 on a renewable token (OAuth 2.0, token script) is retried once with a new
        token. At most ``max_concurrency`` sends run at once; others wait their turn.
        Transport failures raise ``OutboundError`` naming the stage.
        """
        if self.closed:
            raise self._closed_error()
        self.in_flight += 1
        self._check_idle()
        assert self._slots is not None
        try:
            content = body.encode("utf-8") if isinstance(body, str) else body
            async with self._slots:
                return await self.client.request(method, path, headers=headers, content=content)
        except RuntimeError as exc:
            # httpx2 refuses a closed client with a bare RuntimeError.
            if self.closed or self.client.is_closed or self.token_client.is_closed:
                raise self._closed_error() from exc
            raise
        except httpx2.HTTPError as exc:
            stage = classify(exc, via_proxy=self.via_proxy is not None)
            message = describe(exc, target=self.target, via_proxy=self.via_proxy)
            disconnected = httpx2.RemoteProtocolError | httpx2.ReadError | httpx2.WriteError
            if isinstance(exc, disconnected) and self._tls_without_client_cert:
                # TLS 1.3 servers refuse a missing client certificate after the handshake:
                # the client sees a hang-up or a reset, depending on timing.
                message += (
                    "; if the server requires a client certificate (mutual TLS), set "
                    "client_certificate and client_key"
                )
            raise OutboundError(stage, message) from exc
        finally:
            self.in_flight -= 1
            self._check_idle()

    def _closed_error(self) -> OutboundError:
        return OutboundError(
            "connect",
            f"the connection to {self.target} was closed because the server's settings "
            "changed or it was deleted; send the request again",
        )

    async def aclose(self) -> None:
        """Close the connection pool once no lease is held and no send is in flight."""
        while self.busy:
            await self._idle.wait()
        self.closed = True
        await self.client.aclose()
        await self.token_client.aclose()
        await self.transport.aclose()


def open_transport(
    server_id: ServerId,
    revision: int,
    config: OutboundServer,
    tokens: TokenManager,
    policy: NetworkPolicy = DEFAULT_POLICY,
) -> ServerTransport:
    """Build the transport of one server configuration."""
    pool = build_http_transport(config, policy)
    token_client = build_token_client(config, pool)
    via_proxy = config.proxy.display() if config.proxy else None
    auth = build_auth(server_id, config.auth, tokens, lambda: token_client, via_proxy)
    client = httpx2.AsyncClient(
        base_url=config.base_url,
        headers=config.header_list,
        auth=auth,
        timeout=_timeout(config),
        transport=pool,
        trust_env=False,
        follow_redirects=False,
    )
    return ServerTransport(server_id, revision, config, client, token_client, pool)


class TransportPool:
    """The transports of all servers, keyed by server id, rebuilt when the revision changes."""

    def __init__(self, tokens: TokenManager, policy: NetworkPolicy = DEFAULT_POLICY) -> None:
        self.tokens = tokens
        self.policy = policy
        self._transports: dict[ServerId, ServerTransport] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lease(
        self, server_id: ServerId, revision: int, config: OutboundServer
    ) -> AsyncIterator[ServerTransport]:
        """The transport for this server revision, kept open until the block ends.

        The lease counts from the moment it is taken (no ``await`` in between), so a
        newer revision or a deletion meanwhile cannot close it under the holder.
        """
        transport = self._current(server_id, revision, config)
        transport.leases += 1
        transport._check_idle()
        try:
            yield transport
        finally:
            transport.leases -= 1
            transport._check_idle()

    def _current(
        self, server_id: ServerId, revision: int, config: OutboundServer
    ) -> ServerTransport:
        current = self._transports.get(server_id)
        if current is not None and current.revision == revision:
            return current
        if current is not None and current.revision > revision:
            # A caller that read the server before its last change: serve it on its own
            # transport, closed after its lease, rather than retire the newer one.
            stale = open_transport(server_id, revision, config, self.tokens, self.policy)
            self._retire(stale)
            return stale
        transport = open_transport(server_id, revision, config, self.tokens, self.policy)
        self._transports[server_id] = transport
        if current is not None:
            self.tokens.forget(server_id)
            self._retire(current)
            log.info("server %s changed (revision %s): new transport", server_id, revision)
        return transport

    def discard(self, server_id: ServerId) -> None:
        """Close a deleted server's transport once its last lease ends."""
        current = self._transports.pop(server_id, None)
        self.tokens.forget(server_id)
        if current is not None:
            self._retire(current)

    def _retire(self, transport: ServerTransport) -> None:
        # aclose() waits for the last lease and send; until then the transport stays open.
        transport.retired = True
        task = asyncio.get_running_loop().create_task(transport.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every transport, each after its last lease."""
        transports = list(self._transports.values())
        self._transports.clear()
        for transport in transports:
            await transport.aclose()
        if self._closing:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._closing)
