"""Fetch Token and Test connection: one attempt, reported as a diagnosis, never the token."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx2

from workflow_integrator.domain.network_policy import DEFAULT_POLICY, NetworkPolicy
from workflow_integrator.domain.outbound_server import (
    BearerAuth,
    OAuth2PasswordAuth,
    OAuth2RefreshTokenAuth,
    OutboundServer,
)
from workflow_integrator.domain.redaction import token_preview
from workflow_integrator.outbound.errors import OutboundError, Stage, classify
from workflow_integrator.outbound.token_script import run_token_script
from workflow_integrator.outbound.tokens import MemoryTokenStore, ServerId, TokenManager
from workflow_integrator.outbound.transport import (
    ServerTransport,
    build_http_transport,
    build_token_client,
)


@dataclass
class Diagnosis:
    """What a Fetch Token or Test connection found; safe to show and to log."""

    ok: bool
    message: str
    elapsed_ms: int
    stage: Stage | None = None
    status: int | None = None
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None
    token_preview: str | None = None
    oauth_error: str | None = None
    oauth_error_description: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return asdict(self)


def _failure(exc: OutboundError, started: float) -> Diagnosis:
    return Diagnosis(
        ok=False,
        message=exc.message,
        elapsed_ms=_ms(started),
        stage=exc.stage,
        status=exc.status,
        oauth_error=exc.oauth_error,
        oauth_error_description=exc.oauth_error_description,
    )


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def can_fetch_token(server: OutboundServer) -> bool:
    """Fetch Token applies to OAuth 2.0 and to Bearer authentication."""
    return isinstance(server.auth, OAuth2PasswordAuth | OAuth2RefreshTokenAuth | BearerAuth)


async def fetch_token(
    server: OutboundServer,
    *,
    server_id: ServerId | None = None,
    manager: TokenManager | None = None,
    lineage_only: bool = False,
    policy: NetworkPolicy = DEFAULT_POLICY,
) -> Diagnosis:
    """Fetch a new token now (never from the cache) over the server's TLS and proxy, and report.

    For a saved server pass its id and the shared ``TokenManager``: a refresh token the
    endpoint rotates is then persisted, as for any other send. Without them (unsaved
    settings) the fetch uses a throwaway store. ``lineage_only``: unsaved settings that
    use a saved server's refresh token; its rotation is stored for that server, the
    access token is not.
    """
    auth = server.auth
    started = time.perf_counter()
    if isinstance(auth, BearerAuth):
        return await _bearer_token(auth, started)
    if not isinstance(auth, OAuth2PasswordAuth | OAuth2RefreshTokenAuth):
        raise ValueError(
            f"auth: Fetch Token applies to OAuth 2.0 and Bearer authentication, not '{auth.method}'"
        )
    unsaved = manager is None or server_id is None
    key: ServerId = server_id if server_id is not None else f"unsaved:{server.name}"
    tokens = manager if manager is not None else TokenManager(MemoryTokenStore())
    pool = build_http_transport(server, policy)
    client = build_token_client(server, pool)
    via_proxy = server.proxy.display() if server.proxy else None
    try:
        before = await tokens.store.load_refresh_token(key)
        token = await tokens.fetch_new(
            key, auth, client, via_proxy=via_proxy, keep_access_token=not lineage_only
        )
        after = await tokens.store.load_refresh_token(key)
    except OutboundError as exc:
        return _failure(exc, started)
    finally:
        await client.aclose()
        await pool.aclose()
    notes = []
    if after is not None and after != before:
        notes.append(
            "the token endpoint issued a new refresh token"
            + (
                "; it was not kept because these settings are not saved"
                if unsaved and isinstance(auth, OAuth2RefreshTokenAuth)
                else " and WI stored it"
            )
        )
    return Diagnosis(
        ok=True,
        message=f"the token endpoint issued a Bearer token in {_ms(started)} ms",
        elapsed_ms=_ms(started),
        status=200,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=token.expires_in,
        scope=token.scope,
        token_preview=token_preview(token.value),
        notes=notes,
    )


async def _bearer_token(auth: BearerAuth, started: float) -> Diagnosis:
    if auth.token is not None and auth.token.get_secret_value():
        value = auth.token.get_secret_value()
        notes = (
            ["the token field is set, so the token script is not used"] if auth.token_script else []
        )
        return Diagnosis(
            ok=True,
            message="a static token is configured; it is sent as is",
            elapsed_ms=_ms(started),
            token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
            token_preview=token_preview(value),
            notes=notes,
        )
    assert auth.token_script is not None
    try:
        value = await run_token_script(auth.token_script, auth.token_script_timeout_seconds)
    except OutboundError as exc:
        return _failure(exc, started)
    return Diagnosis(
        ok=True,
        message=f"the token script printed a token in {_ms(started)} ms",
        elapsed_ms=_ms(started),
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=auth.token_script_ttl_seconds,
        token_preview=token_preview(value),
    )


async def check_connection(
    transport: ServerTransport, method: str = "GET", path: str = "/"
) -> Diagnosis:
    """Send one request with the server's auth and report how it went."""
    started = time.perf_counter()
    try:
        response = await transport.send(method.upper(), path)
    except OutboundError as exc:
        return _failure(exc, started)
    except httpx2.HTTPError as exc:  # pragma: no cover - send() wraps these
        return Diagnosis(False, str(exc), _ms(started), stage=classify(exc))
    elapsed = _ms(started)
    status = response.status_code
    line = (
        f"{method.upper()} {response.request.url.path} answered {status} {response.reason_phrase}"
    )
    if status < 400:
        return Diagnosis(True, f"{line} in {elapsed} ms", elapsed, status=status)
    if status == 407:
        return Diagnosis(
            False,
            f"the proxy {transport.via_proxy} asks for credentials (407); check the proxy "
            "user name and password",
            elapsed,
            stage="proxy",
            status=status,
        )
    hint = {
        401: "the server refused the credentials, even after fetching a new token",
        403: "the credentials are accepted but lack permission for this path",
        404: "the path does not exist; check the base path in the host and the path",
    }.get(status, "see the server's logs")
    return Diagnosis(False, f"{line}: {hint}", elapsed, stage="http", status=status)
