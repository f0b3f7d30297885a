"""The token manager: OAuth 2.0 access tokens cached per server, fetched once at a time.

The manager never touches the database: it is handed a ``TokenStore``. The store
persists what must survive a restart (the access token with its expiry, the current
refresh token) and provides the cross-process lock for single flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx2

from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.domain.outbound_server import OAuth2PasswordAuth, OAuth2RefreshTokenAuth
from workflow_integrator.outbound.errors import NeedsCredentials, OutboundError
from workflow_integrator.outbound.oauth import OAuth2Config, TokenResponse, request_token

log = logging.getLogger("workflow_integrator.outbound.tokens")

ServerId = int | str
"""The stored server's id (the key of every cache and lock)."""

DEFAULT_LIFETIME_SECONDS = 600
"""Lifetime assumed for an access token issued without ``expires_in``."""


@dataclass(frozen=True)
class AccessToken:
    """A cached access token and when it stops being used."""

    value: str
    expires_at: datetime  # timezone-aware, already shortened by the renewal margin
    scope: str | None = None
    expires_in: int | None = None  # as issued, for diagnostics

    def fresh(self, now: datetime) -> bool:
        """True while the token may still be sent."""
        return now < self.expires_at

    def __repr__(self) -> str:  # never print the token
        return f"AccessToken(expires_at={self.expires_at.isoformat()}, scope={self.scope!r})"


def renewal_deadline(expires_in: int | None, now: datetime) -> datetime:
    """When to stop using a token: shortly before it expires (10 %, at most 60 s, early)."""
    lifetime = DEFAULT_LIFETIME_SECONDS if expires_in is None else max(expires_in, 0)
    margin = min(60.0, lifetime * 0.1)
    return now + timedelta(seconds=lifetime - margin)


class TokenStore(Protocol):
    """What the token manager needs persisted, per server id."""

    async def load_access_token(self, server_id: ServerId) -> AccessToken | None:
        """The cached access token, if any."""

    async def save_access_token(self, server_id: ServerId, token: AccessToken) -> None:
        """Cache a new access token."""

    async def drop_access_token(self, server_id: ServerId) -> None:
        """Forget the cached access token (the server refused it)."""

    async def load_refresh_token(self, server_id: ServerId) -> str | None:
        """The newest refresh token the server issued, or None to use the configured one."""

    async def save_refresh_token(self, server_id: ServerId, refresh_token: str | None) -> None:
        """Durably replace the refresh token (None clears it) BEFORE the access token is used."""

    async def mark_needs_credentials(self, server_id: ServerId, reason: str) -> None:
        """Put the server in state ``needs_credentials`` with a reason users can read."""

    def lock(self, server_id: ServerId) -> AbstractAsyncContextManager[None]:
        """Exclusive right to fetch a token for this server, across worker processes."""


class MemoryTokenStore:
    """A ``TokenStore`` in memory: for one process without persistence (and for tests)."""

    def __init__(self) -> None:
        self.access: dict[ServerId, AccessToken] = {}
        self.refresh: dict[ServerId, str] = {}
        self.states: dict[ServerId, str] = {}
        self._locks: dict[ServerId, asyncio.Lock] = {}

    async def load_access_token(self, server_id: ServerId) -> AccessToken | None:
        """The cached access token, if any."""
        return self.access.get(server_id)

    async def save_access_token(self, server_id: ServerId, token: AccessToken) -> None:
        """Cache a new access token."""
        self.access[server_id] = token

    async def drop_access_token(self, server_id: ServerId) -> None:
        """Forget the cached access token."""
        self.access.pop(server_id, None)

    async def load_refresh_token(self, server_id: ServerId) -> str | None:
        """The newest issued refresh token."""
        return self.refresh.get(server_id)

    async def save_refresh_token(self, server_id: ServerId, refresh_token: str | None) -> None:
        """Replace or clear the refresh token."""
        if refresh_token is None:
            self.refresh.pop(server_id, None)
        else:
            self.refresh[server_id] = refresh_token

    async def mark_needs_credentials(self, server_id: ServerId, reason: str) -> None:
        """Record the state and reason."""
        self.states[server_id] = reason

    @contextlib.asynccontextmanager
    async def lock(self, server_id: ServerId) -> AsyncIterator[None]:
        """An asyncio lock per server."""
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            yield

    def forget(self, server_id: ServerId) -> None:
        """Drop everything about a server (its credentials changed)."""
        self.access.pop(server_id, None)
        self.refresh.pop(server_id, None)
        self.states.pop(server_id, None)


ClientFactory = Callable[[], httpx2.AsyncClient]


class TokenManager:
    """Hands out access tokens per server: cached, renewed shortly before expiry, single flight.

    Within a process, an asyncio lock per server makes concurrent callers wait for one
    fetch; the store's lock extends that across processes, and the store is read again
    under it so a token fetched by another process is reused.
    """

    def __init__(
        self,
        store: TokenStore,
        clock: Clock | None = None,
        on_fetch: Callable[[ServerId, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        # Told of every token fetch and whether it worked (metrics).
        self._on_fetch = on_fetch
        self._cache: dict[ServerId, AccessToken] = {}
        self._locks: dict[ServerId, asyncio.Lock] = {}
        # A refused refresh token stays refused: do not ask again until the config changes.
        self._refused: dict[ServerId, NeedsCredentials] = {}

    def forget(self, server_id: ServerId) -> None:
        """Drop the in-memory state of a server whose configuration changed."""
        self._cache.pop(server_id, None)
        self._refused.pop(server_id, None)

    async def access_token(
        self,
        server_id: ServerId,
        config: OAuth2Config,
        client: httpx2.AsyncClient,
        *,
        via_proxy: str | None = None,
    ) -> AccessToken:
        """A fresh access token for the server, fetching one only when none is cached."""
        cached = self._cache.get(server_id)
        if cached is not None and cached.fresh(self.clock.now()):
            return cached
        if server_id in self._refused:
            raise self._refused[server_id]
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            if server_id in self._refused:
                raise self._refused[server_id]
            cached = self._cache.get(server_id)
            if cached is not None and cached.fresh(self.clock.now()):
                return cached
            async with self.store.lock(server_id):
                stored = await self.store.load_access_token(server_id)
                if stored is not None and stored.fresh(self.clock.now()):
                    self._cache[server_id] = stored
                    return stored
                token = await self._fetch(server_id, config, client, via_proxy=via_proxy)
                self._cache[server_id] = token
                return token

    async def fetch_new(
        self,
        server_id: ServerId,
        config: OAuth2Config,
        client: httpx2.AsyncClient,
        *,
        via_proxy: str | None = None,
        keep_access_token: bool = True,
    ) -> AccessToken:
        """Fetch a token now, ignoring the cache (Fetch Token), under the same locks.

        With ``keep_access_token=False`` (settings that are not the saved ones) only a
        rotated refresh token is stored: the old one is dead either way.
        """
        local = self._locks.setdefault(server_id, asyncio.Lock())
        async with local, self.store.lock(server_id):
            token = await self._fetch(
                server_id, config, client, via_proxy=via_proxy, keep=keep_access_token
            )
            if keep_access_token:
                self._cache[server_id] = token
                self._refused.pop(server_id, None)
            return token

    async def invalidate(self, server_id: ServerId, refused: str) -> None:
        """Drop the token the server answered 401 to (only if no newer one replaced it)."""
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            cached = self._cache.get(server_id)
            if cached is not None and cached.value != refused:
                return
            self._cache.pop(server_id, None)
            async with self.store.lock(server_id):
                stored = await self.store.load_access_token(server_id)
                if stored is not None and stored.value == refused:
                    await self.store.drop_access_token(server_id)
        log.info("server %s refused its access token; fetching a new one", server_id)

    async def _fetch(
        self,
        server_id: ServerId,
        config: OAuth2Config,
        client: httpx2.AsyncClient,
        *,
        via_proxy: str | None,
        keep: bool = True,
    ) -> AccessToken:
        try:
            token = await self._request(server_id, config, client, via_proxy=via_proxy,
                                        keep=keep)
        except Exception:
            if self._on_fetch is not None:
                self._on_fetch(server_id, False)
            raise
        if self._on_fetch is not None:
            self._on_fetch(server_id, True)
        return token

    async def _request(
        self,
        server_id: ServerId,
        config: OAuth2Config,
        client: httpx2.AsyncClient,
        *,
        via_proxy: str | None,
        keep: bool,
    ) -> AccessToken:
        issued = await self.store.load_refresh_token(server_id)
        if issued is None and isinstance(config, OAuth2RefreshTokenAuth):
            issued = config.refresh_token.get_secret_value() if config.refresh_token else None
        response: TokenResponse | None = None
        if issued is not None:
            try:
                response = await request_token(
                    client, config, refresh_token=issued, via_proxy=via_proxy
                )
            except OutboundError as exc:
                # Settings that are not the saved ones judge nothing about the saved server.
                if exc.oauth_error != "invalid_grant" or not keep:
                    raise
                if isinstance(config, OAuth2RefreshTokenAuth):
                    reason = (
                        "the token endpoint refused the refresh token (invalid_grant: "
                        f"{exc.oauth_error_description or 'expired or revoked'}); "
                        "save a new refresh token to resume"
                    )
                    await self.store.mark_needs_credentials(server_id, reason)
                    log.warning("server %s needs a new refresh token", server_id)
                    refused = NeedsCredentials(
                        reason, oauth_error=exc.oauth_error, description=exc.oauth_error_description
                    )
                    self._refused[server_id] = refused
                    raise refused from None
                # Password grant: the issued refresh token is gone, log in again.
                await self.store.save_refresh_token(server_id, None)
        if response is None:
            assert isinstance(config, OAuth2PasswordAuth)
            response = await request_token(client, config, via_proxy=via_proxy)
        if response.refresh_token is not None and response.refresh_token != issued:
            # Rotation: the old refresh token is dead now, so persist the new one first.
            await self.store.save_refresh_token(server_id, response.refresh_token)
        token = AccessToken(
            value=response.access_token,
            expires_at=renewal_deadline(response.expires_in, self.clock.now()),
            scope=response.scope,
            expires_in=response.expires_in,
        )
        if keep:
            await self.store.save_access_token(server_id, token)
        log.info("server %s: new access token (expires_in=%s)", server_id, response.expires_in)
        return token
