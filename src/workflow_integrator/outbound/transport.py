"""One HTTP transport per outbound server, reused for every request and rebuilt on change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx2

from workflow_integrator.domain.outbound_server import OutboundServer
from workflow_integrator.outbound.auth import build_auth
from workflow_integrator.outbound.errors import OutboundError, classify, describe
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


def build_http_transport(server: OutboundServer) -> httpx2.AsyncHTTPTransport:
    """The connection pool for a server: its TLS mode, client certificate and proxy."""
    limit = server.max_concurrency
    return httpx2.AsyncHTTPTransport(
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
    _idle: asyncio.Event = field(default_factory=asyncio.Event)
    _slots: asyncio.Semaphore | None = None

    def __post_init__(self) -> None:
        # At most max_concurrency requests at once; the rest wait here, not in the pool.
        self._slots = asyncio.Semaphore(self.config.max_concurrency)

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
        self.in_flight += 1
        self._idle.clear()
        assert self._slots is not None
        try:
            content = body.encode("utf-8") if isinstance(body, str) else body
            async with self._slots:
                return await self.client.request(method, path, headers=headers, content=content)
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
            if self.in_flight == 0:
                self._idle.set()

    async def aclose(self) -> None:
        """Close the connection pool once no send is in flight."""
        if self.in_flight:
            await self._idle.wait()
        await self.client.aclose()
        await self.transport.aclose()


def open_transport(
    server_id: ServerId, revision: int, config: OutboundServer, tokens: TokenManager
) -> ServerTransport:
    """Build the transport of one server configuration."""
    pool = build_http_transport(config)
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

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens
        self._transports: dict[ServerId, ServerTransport] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, server_id: ServerId, revision: int, config: OutboundServer) -> ServerTransport:
        """The transport for this server revision; an older one is closed once idle."""
        current = self._transports.get(server_id)
        if current is not None and current.revision == revision:
            return current
        transport = open_transport(server_id, revision, config, self.tokens)
        self._transports[server_id] = transport
        if current is not None:
            self.tokens.forget(server_id)
            self._retire(current)
            log.info("server %s changed (revision %s): new transport", server_id, revision)
        return transport

    def discard(self, server_id: ServerId) -> None:
        """Close a deleted server's transport."""
        current = self._transports.pop(server_id, None)
        self.tokens.forget(server_id)
        if current is not None:
            self._retire(current)

    def _retire(self, transport: ServerTransport) -> None:
        task = asyncio.get_running_loop().create_task(transport.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every transport."""
        transports = list(self._transports.values())
        self._transports.clear()
        for transport in transports:
            await transport.aclose()
        if self._closing:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._closing)
