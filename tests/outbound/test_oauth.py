"""OAuth 2.0 against a real token endpoint that expires access tokens and rotates refresh tokens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import leased, password_grant, refresh_grant, server
from tests.servers.oauth import CLIENT_SECRET, OAuthServer
from tests.servers.outbound_plugin import TLSMaterial
from tests.servers.receiver import Receiver
from workflow_integrator.domain.clock import ManualClock
from workflow_integrator.outbound import (
    MemoryTokenStore,
    NeedsCredentials,
    TokenManager,
    TransportPool,
    fetch_token,
)


@pytest.fixture
def store() -> MemoryTokenStore:
    return MemoryTokenStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def pool(store: MemoryTokenStore, clock: ManualClock) -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(store, clock))
    yield pool
    await pool.aclose()


async def test_password_grant_token_is_cached_and_reused(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.authorize = oauth_server.accepts
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    for _ in range(3):
        assert (await transport.send("GET", "/")).status_code == 200
    assert oauth_server.requests == {"password": 1}
    assert len({r.headers["authorization"] for r in receiver.requests}) == 1


async def test_cold_cache_100_concurrent_requests_cause_one_token_request(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.authorize = oauth_server.accepts
    oauth_server.delay_seconds = 0.2  # keep the fetch in flight while the others arrive
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    responses = await asyncio.gather(*(transport.send("GET", f"/{i}") for i in range(100)))
    assert [r.status_code for r in responses] == [200] * 100
    assert oauth_server.token_requests == 1
    assert len(receiver.requests) == 100


async def test_expired_token_is_renewed_with_the_refresh_token(
    pool: TransportPool,
    receiver: Receiver,
    oauth_server: OAuthServer,
    store: MemoryTokenStore,
    clock: ManualClock,
) -> None:
    receiver.authorize = oauth_server.accepts
    oauth_server.expires_in = 60
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    await transport.send("GET", "/a")
    issued = store.refresh[1]
    clock.advance(60)
    assert (await transport.send("GET", "/b")).status_code == 200
    assert oauth_server.requests == {"password": 1, "refresh_token": 1}
    assert store.refresh[1] != issued  # rotated and stored
    assert store.refresh[1] in oauth_server.live_refresh_tokens()


async def test_password_grant_runs_again_when_no_refresh_token_was_issued(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer, clock: ManualClock
) -> None:
    receiver.authorize = oauth_server.accepts
    oauth_server.issue_refresh_on_password = False
    oauth_server.expires_in = 60
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    await transport.send("GET", "/a")
    clock.advance(60)
    assert (await transport.send("GET", "/b")).status_code == 200
    assert oauth_server.requests == {"password": 2}


async def test_a_401_drops_the_token_fetches_again_and_retries_once(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.authorize = oauth_server.accepts
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    await transport.send("GET", "/first")
    oauth_server.expire_access_tokens()  # the server forgot every token (e.g. restarted)
    response = await transport.send("POST", "/second", body=b'{"n": 2}')
    assert response.status_code == 200
    second = [r for r in receiver.requests if r.path == "/second"]
    assert len(second) == 2 and second[1].body == b'{"n": 2}'
    assert oauth_server.requests == {"password": 1, "refresh_token": 1}


async def test_a_401_with_a_fresh_token_is_retried_only_once(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.authorize = lambda _header: False  # refuses every token
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=password_grant(oauth_server.token_url))
    )
    response = await transport.send("GET", "/never")
    assert response.status_code == 401
    assert len(receiver.requests) == 2


async def test_rotation_under_50_concurrent_requests(
    pool: TransportPool,
    receiver: Receiver,
    oauth_server: OAuthServer,
    store: MemoryTokenStore,
    clock: ManualClock,
) -> None:
    receiver.authorize = oauth_server.accepts
    oauth_server.expires_in = 60
    oauth_server.delay_seconds = 0.1
    first = oauth_server.issue_refresh_token()
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=refresh_grant(oauth_server.token_url, first))
    )
    await transport.send("GET", "/warm")
    assert oauth_server.requests == {"refresh_token": 1}
    clock.advance(60)  # the access token expired: all 50 need a new one at once
    responses = await asyncio.gather(*(transport.send("GET", f"/{i}") for i in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert oauth_server.requests == {"refresh_token": 2}
    assert oauth_server.refresh_reused == 0
    assert oauth_server.live_refresh_tokens() == [store.refresh[1]]


async def test_revoked_refresh_token_puts_the_server_in_needs_credentials(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer, store: MemoryTokenStore
) -> None:
    token = oauth_server.issue_refresh_token()
    oauth_server.revoke_refresh_tokens()
    transport = await leased(
        pool, 1, 1, server(receiver.host, auth=refresh_grant(oauth_server.token_url, token))
    )
    with pytest.raises(NeedsCredentials) as caught:
        await transport.send("GET", "/held")
    assert caught.value.oauth_error == "invalid_grant"
    assert "new refresh token" in store.states[1]
    assert receiver.requests == []
    assert token not in str(caught.value)
    # Held: further sends do not hammer the token endpoint with the dead token.
    with pytest.raises(NeedsCredentials):
        await transport.send("GET", "/held-again")
    assert oauth_server.requests == {"refresh_token": 1}
    # Saving a new refresh token (a new revision) clears the state and resumes.
    store.forget(1)
    fresh = oauth_server.issue_refresh_token()
    transport = await leased(
        pool, 1, 2, server(receiver.host, auth=refresh_grant(oauth_server.token_url, fresh))
    )
    assert (await transport.send("GET", "/resumed")).status_code == 200


async def test_client_secret_post(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    oauth_server.client_auth = {"post"}
    receiver.authorize = oauth_server.accepts
    basic = server(receiver.host, auth=password_grant(oauth_server.token_url))
    posted = server(
        receiver.host,
        auth=password_grant(oauth_server.token_url, client_auth="client_secret_post"),
    )
    assert (await fetch_token(basic)).oauth_error == "invalid_client"
    assert (await (await leased(pool, 1, 1, posted)).send("GET", "/")).status_code == 200


async def test_token_endpoint_uses_the_servers_tls_settings(
    pool: TransportPool,
    receiver: Receiver,
    oauth_server_tls: OAuthServer,
    tls_material: TLSMaterial,
) -> None:
    trusted = server(
        "127.0.0.1:1",
        "https",
        verify_certificate="certificate",
        certificate=tls_material.ca_pem,
        auth=password_grant(oauth_server_tls.token_url),
    )
    system = trusted.model_copy(update={"verify_certificate": "enable", "certificate": None})
    assert (await fetch_token(trusted)).ok
    refused = await fetch_token(system)
    assert refused.stage == "tls"


async def test_fetch_token_reports_and_never_returns_the_token(oauth_server: OAuthServer) -> None:
    config = server("127.0.0.1:1", auth=password_grant(oauth_server.token_url, scope="useraccount"))
    started = time.perf_counter()
    diagnosis = await fetch_token(config)
    assert diagnosis.ok and diagnosis.stage is None
    assert diagnosis.token_type == "Bearer"
    assert diagnosis.expires_in == 3600
    assert diagnosis.scope == "useraccount"
    assert 0 <= diagnosis.elapsed_ms <= (time.perf_counter() - started) * 1000 + 1
    [issued] = oauth_server.access
    assert diagnosis.token_preview == f"{issued[:4]}…{issued[-4:]}"
    assert issued not in str(diagnosis.as_dict())
    # Always anew: a second Fetch Token asks the endpoint again.
    await fetch_token(config)
    assert oauth_server.requests == {"password": 2}


async def test_fetch_token_with_a_wrong_client_secret_is_an_oauth_error(
    oauth_server: OAuthServer,
) -> None:
    config = server(
        "127.0.0.1:1",
        auth=password_grant(oauth_server.token_url, client_secret="not-the-" + CLIENT_SECRET),
    )
    diagnosis = await fetch_token(config)
    assert not diagnosis.ok
    assert diagnosis.stage == "oauth_error"
    assert diagnosis.status == 401
    assert diagnosis.oauth_error == "invalid_client"
    assert diagnosis.oauth_error_description == "unknown client or wrong secret"
    assert "client secret" in diagnosis.message
    assert CLIENT_SECRET not in str(diagnosis.as_dict())
