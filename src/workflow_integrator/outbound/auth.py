"""The authentication methods as ``httpx2.Auth`` flows (one small class per scheme)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Generator
from datetime import datetime, timedelta

import httpx2

from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.headers import token_flaw
from workflow_integrator.domain.outbound_server import (
    BasicAuth,
    BearerAuth,
    NoAuth,
    OAuth2PasswordAuth,
    OAuth2RefreshTokenAuth,
)
from workflow_integrator.outbound.errors import OutboundError
from workflow_integrator.outbound.oauth import OAuth2Config
from workflow_integrator.outbound.token_script import run_token_script
from workflow_integrator.outbound.tokens import ServerId, TokenManager


class StaticBearer(httpx2.Auth):
    """``Authorization: Bearer <token>`` with a fixed token (a 401 cannot be cured by resending)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"
        self._flaw = token_flaw(token)

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Set the header and send once."""
        if self._flaw is not None:
            # Saved before static tokens were checked: refuse, never quote it.
            raise OutboundError(
                "http", f"the saved bearer token cannot be sent ({self._flaw}); save it again"
            )
        request.headers["Authorization"] = self._header
        yield request


class _RefreshingBearer(httpx2.Auth, ABC):
    """A bearer token that can be renewed: on 401, drop it, get another, retry once."""

    requires_request_body = True  # the body is sent a second time on retry

    @abstractmethod
    async def current(self) -> str:
        """The token to send now."""

    @abstractmethod
    async def refused(self, token: str) -> None:
        """The server answered 401 to this token."""

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """Send with the current token; after a 401, once more with a new one."""
        if self.requires_request_body:
            await request.aread()
        token = await self.current()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            await self.refused(token)
            token = await self.current()
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Outbound transports are asynchronous only."""
        raise RuntimeError("use an httpx2.AsyncClient with this authentication")


class ScriptBearer(_RefreshingBearer):
    """Bearer token printed by a token script: cached, run again on 401 or after the TTL."""

    def __init__(
        self, path: str, timeout_seconds: float, ttl_seconds: int | None, clock: Clock
    ) -> None:
        self.path = path
        self.timeout_seconds = timeout_seconds
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._token: str | None = None
        self._obtained: datetime | None = None
        self._lock = asyncio.Lock()
        self.runs = 0

    def _fresh(self) -> bool:
        if self._token is None or self._obtained is None:
            return False
        if self.ttl_seconds is None:
            return True
        return self._clock.now() - self._obtained < timedelta(seconds=self.ttl_seconds)

    async def current(self) -> str:
        """The cached token, or a new one from a single run of the script."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():
                self.runs += 1
                self._token = await run_token_script(self.path, self.timeout_seconds)
                self._obtained = self._clock.now()
            assert self._token is not None
            return self._token

    async def refused(self, token: str) -> None:
        """Forget the token so the next request runs the script again."""
        async with self._lock:
            if self._token == token:
                self._token = None


class OAuth2Bearer(_RefreshingBearer):
    """OAuth 2.0 (password or refresh-token grant): tokens from the ``TokenManager``."""

    def __init__(
        self,
        server_id: ServerId,
        config: OAuth2Config,
        manager: TokenManager,
        token_client: Callable[[], httpx2.AsyncClient],
        via_proxy: str | None = None,
    ) -> None:
        self.server_id = server_id
        self.config = config
        self.manager = manager
        self._token_client = token_client
        self._via_proxy = via_proxy

    async def current(self) -> str:
        """The cached access token, or one fetched once for all waiting requests."""
        token = await self.manager.access_token(
            self.server_id, self.config, self._token_client(), via_proxy=self._via_proxy
        )
        return token.value

    async def refused(self, token: str) -> None:
        """Drop the refused token from the cache and the store."""
        await self.manager.invalidate(self.server_id, token)


def build_auth(
    server_id: ServerId,
    auth: BasicAuth | OAuth2PasswordAuth | OAuth2RefreshTokenAuth | BearerAuth | NoAuth,
    manager: TokenManager,
    token_client: Callable[[], httpx2.AsyncClient],
    via_proxy: str | None = None,
) -> httpx2.Auth | None:
    """The ``httpx2.Auth`` flow for a server's configured method (None for ``none``)."""
    if isinstance(auth, BasicAuth):
        password = auth.password.get_secret_value() if auth.password else ""
        return httpx2.BasicAuth(auth.username, password)
    if isinstance(auth, OAuth2PasswordAuth | OAuth2RefreshTokenAuth):
        return OAuth2Bearer(server_id, auth, manager, token_client, via_proxy)
    if isinstance(auth, BearerAuth):
        if auth.token is not None and auth.token.get_secret_value():
            return StaticBearer(auth.token.get_secret_value())  # the token wins over the script
        assert auth.token_script is not None
        return ScriptBearer(
            auth.token_script,
            auth.token_script_timeout_seconds,
            auth.token_script_ttl_seconds,
            manager.clock,
        )
    return None
