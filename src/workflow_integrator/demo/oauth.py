"""A real OAuth 2.0 token endpoint (RFC 6749 §4.3, §6) with expiring, rotating tokens.

``wi demo`` runs it in front of its sample ITSM; the test suite runs it to see how
often WI asks for tokens, to revoke refresh tokens and to expire access tokens.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class _Refresh:
    client_id: str
    scope: str | None
    used: bool = False
    revoked: bool = False


@dataclass
class OAuthServer:
    """The running endpoint's state, shared between the server thread and its user.

    The client and the resource owner it accepts are fixed when it is made.
    """

    client_id: str
    client_secret: str
    username: str
    password: str
    url: str = ""
    expires_in: int | None = 3600
    rotate: bool = True
    issue_refresh_on_password: bool = True
    delay_seconds: float = 0.0
    client_auth: set[str] = field(default_factory=lambda: {"basic", "post"})
    requests: Counter[str] = field(default_factory=Counter)
    refresh_reused: int = 0
    in_flight: int = 0
    access: dict[str, float] = field(default_factory=dict)
    grants: dict[str, str] = field(default_factory=dict)  # access token → the grant that got it
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_url(self) -> str:
        """The Access Token URL."""
        return f"{self.url}/oauth/token"

    @property
    def token_requests(self) -> int:
        """How many token requests arrived (all grants, good or bad)."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Back to defaults with no tokens issued and zero counters."""
        with self.lock:
            self.expires_in = 3600
            self.rotate = True
            self.issue_refresh_on_password = True
            self.delay_seconds = 0.0
            self.client_auth = {"basic", "post"}
            self.requests.clear()
            self.refresh_reused = 0
            self.in_flight = 0
            self.access.clear()
            self.grants.clear()
            self.refresh.clear()

    def issue_refresh_token(self, scope: str | None = None) -> str:
        """A refresh token as an administrator would hand it to a user."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh[token] = _Refresh(self.client_id, scope)
        return token

    def revoke_refresh_tokens(self) -> None:
        """Revoke every refresh token (a user logged out everywhere, an admin revoked)."""
        with self.lock:
            for item in self.refresh.values():
                item.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid (as after a server restart)."""
        with self.lock:
            self.access.clear()

    def accepts(self, authorization: str | None) -> bool:
        """True when an Authorization header carries a live access token."""
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self.lock:
            expiry = self.access.get(authorization[7:])
        return expiry is not None and expiry > time.time()

    def issued(self, authorization: str | None) -> bool:
        """True when an Authorization header carries an access token this endpoint issued,
        expired or not (a request may arrive just after its token's last moment)."""
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self.lock:
            return authorization[7:] in self.access

    def grant_of(self, authorization: str | None) -> str | None:
        """The grant type that issued the Bearer token in an Authorization header, if any."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self.lock:
            return self.grants.get(authorization[7:])

    def live_refresh_tokens(self) -> list[str]:
        """Refresh tokens that can still be used."""
        with self.lock:
            return [t for t, r in self.refresh.items() if not (r.used or r.revoked)]


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    body = {"error": code, "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def _client(request: Request, form: dict[str, str], server: OAuthServer) -> str | JSONResponse:
    header = request.headers.get("authorization")
    in_body = "client_secret" in form
    if header and in_body:
        return _error("invalid_request", "client authenticated twice")
    if header and header.startswith("Basic ") and "basic" in server.client_auth:
        try:
            raw = base64.b64decode(header[6:]).decode()
            client_id, _, secret = raw.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
        except ValueError:
            return _error("invalid_client", "malformed Basic credentials", 401)
    elif in_body and "post" in server.client_auth:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        return _error("invalid_client", "client authentication missing or not allowed", 401)
    if client_id != server.client_id or not _same(secret, server.client_secret):
        return _error("invalid_client", "unknown client or wrong secret", 401)
    return client_id


def _issue(
    server: OAuthServer, grant: str, client_id: str, scope: str | None, refresh: bool
) -> JSONResponse:
    access = "at-" + secrets.token_urlsafe(24)
    body: dict[str, object] = {"access_token": access, "token_type": "Bearer"}
    with server.lock:
        lifetime = server.expires_in
        server.access[access] = time.time() + (lifetime if lifetime is not None else 3600)
        server.grants[access] = grant
        if refresh:
            new_refresh = "rt-" + secrets.token_urlsafe(24)
            server.refresh[new_refresh] = _Refresh(client_id, scope)
            body["refresh_token"] = new_refresh
    if lifetime is not None:
        body["expires_in"] = lifetime
    if scope:
        body["scope"] = scope
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def token_endpoint(server: OAuthServer) -> Route:
    """The ``POST /oauth/token`` route answering for ``server``."""

    async def token(request: Request) -> JSONResponse:
        with server.lock:
            server.in_flight += 1
        try:
            return await answer(request)
        finally:
            with server.lock:
                server.in_flight -= 1

    async def answer(request: Request) -> JSONResponse:
        if server.delay_seconds:
            await asyncio.sleep(server.delay_seconds)
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _error("invalid_request", "the body must be application/x-www-form-urlencoded")
        form = {k: str(v) for k, v in (await request.form()).items()}
        grant = form.get("grant_type", "")
        with server.lock:
            server.requests[grant or "(none)"] += 1
        client = _client(request, form, server)
        if isinstance(client, JSONResponse):
            return client
        scope = form.get("scope") or None
        if grant == "password":
            if form.get("username") != server.username or not _same(
                form.get("password", ""), server.password
            ):
                return _error("invalid_grant", "wrong user name or password")
            return _issue(server, grant, client, scope, server.issue_refresh_on_password)
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            with server.lock:
                record = server.refresh.get(presented)
                if record is not None and record.used:
                    server.refresh_reused += 1
                if record is None or record.used or record.revoked or record.client_id != client:
                    record = None
                elif server.rotate:
                    record.used = True
            if record is None:
                return _error("invalid_grant", "the refresh token is invalid, used or revoked")
            return _issue(server, grant, client, scope or record.scope, server.rotate)
        return _error("unsupported_grant_type", f"grant_type '{grant}' is not supported")

    return Route("/oauth/token", token, methods=["POST"])
