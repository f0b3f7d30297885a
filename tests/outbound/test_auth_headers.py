"""Every auth method's Authorization header, as the receiver gets it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import BASIC_PASSWORD, STATIC_TOKEN, leased, password_grant, server
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from workflow_integrator.outbound import TokenManager, TransportPool
from workflow_integrator.outbound.tokens import MemoryTokenStore


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


async def test_basic_sends_user_and_password(pool: TransportPool, receiver: Receiver) -> None:
    config = server(
        receiver.host, auth={"method": "basic", "username": "wi", "password": BASIC_PASSWORD}
    )
    await (await leased(pool, 1, 1, config)).send("GET", "/")
    header = receiver.last().headers["authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == f"wi:{BASIC_PASSWORD}"


async def test_static_bearer_token(pool: TransportPool, receiver: Receiver) -> None:
    config = server(receiver.host, auth={"method": "bearer", "token": STATIC_TOKEN})
    await (await leased(pool, 1, 1, config)).send("GET", "/")
    assert receiver.last().headers["authorization"] == f"Bearer {STATIC_TOKEN}"


async def test_oauth2_token_is_sent_as_bearer(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer
) -> None:
    receiver.authorize = oauth_server.accepts
    config = server(receiver.host, auth=password_grant(oauth_server.token_url))
    response = await (await leased(pool, 1, 1, config)).send("GET", "/")
    assert response.status_code == 200
    assert oauth_server.accepts(receiver.last().headers["authorization"])


async def test_no_auth_sends_no_authorization(pool: TransportPool, receiver: Receiver) -> None:
    await (await leased(pool, 1, 1, server(receiver.host))).send("GET", "/")
    assert "authorization" not in receiver.last().headers


async def test_configured_headers_base_path_and_request_headers(
    pool: TransportPool, receiver: Receiver
) -> None:
    config = server(
        f"{receiver.host}/api/v2",
        headers="Content-Type: application/json, Accept: text/html, application/json, X-Source: WI",
    )
    transport = await leased(pool, 1, 1, config)
    await transport.send("POST", "/tickets/7", headers={"X-Ticket": "7"}, body='{"id": 7}')
    seen = receiver.last()
    assert seen.path == "/api/v2/tickets/7"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["accept"] == "text/html, application/json"
    assert seen.headers["x-source"] == "WI"
    assert seen.headers["x-ticket"] == "7"


async def test_transport_is_reused_and_rebuilt_on_a_new_revision(
    pool: TransportPool, receiver: Receiver
) -> None:
    first = await leased(pool, 1, 1, server(receiver.host, headers="X-Rev: 1"))
    assert (await leased(pool, 1, 1, server(receiver.host, headers="X-Rev: 1"))) is first
    second = await leased(pool, 1, 2, server(receiver.host, headers="X-Rev: 2"))
    assert second is not first
    await second.send("GET", "/")
    assert receiver.last().headers["x-rev"] == "2"


async def test_at_most_max_concurrency_requests_run_at_once(
    pool: TransportPool, receiver: Receiver
) -> None:
    transport = await leased(pool, 1, 1, server(receiver.host, max_concurrency=3))
    responses = await asyncio.gather(*(transport.send("GET", "/sleep/100") for _ in range(12)))
    assert {r.status_code for r in responses} == {200}
    assert receiver.max_in_flight == 3
