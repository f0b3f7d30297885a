"""Failing stages as Fetch Token and Test connection report them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import leased, password_grant, server
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from tests.servers.uvicorn_thread import free_port
from workflow_integrator.domain.redaction import token_preview
from workflow_integrator.outbound import MemoryTokenStore, TokenManager, TransportPool, fetch_token
from workflow_integrator.outbound.diagnostics import check_connection


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


async def test_dns_failure(pool: TransportPool) -> None:
    # .invalid never resolves (RFC 6761), so this fails in the resolver, not on the network.
    diagnosis = await fetch_token(
        server("127.0.0.1:1", auth=password_grant("http://token.example.invalid/oauth/token"))
    )
    assert diagnosis.stage == "dns"
    assert "token.example.invalid" in diagnosis.message
    assert (
        await check_connection(await leased(pool, 1, 1, server("wi-test.invalid")))
    ).stage == "dns"


async def test_connection_refused(pool: TransportPool) -> None:
    port = free_port()
    diagnosis = await check_connection(await leased(pool, 1, 1, server(f"127.0.0.1:{port}")))
    assert not diagnosis.ok and diagnosis.stage == "connect"
    assert f"127.0.0.1:{port}" in diagnosis.message


async def test_token_url_that_is_not_a_token_endpoint(receiver: Receiver) -> None:
    missing = await fetch_token(
        server("127.0.0.1:1", auth=password_grant(f"{receiver.url}/status/404"))
    )
    assert missing.stage == "http" and missing.status == 404
    assert "Access Token URL" in missing.message
    not_oauth = await fetch_token(
        server("127.0.0.1:1", auth=password_grant(f"{receiver.url}/token"))
    )
    assert not_oauth.stage == "parse" and not_oauth.status == 200


async def test_wrong_user_password_is_invalid_grant(oauth_server: OAuthServer) -> None:
    config = server(
        "127.0.0.1:1", auth=password_grant(oauth_server.token_url, password="wrong-one")
    )
    diagnosis = await fetch_token(config)
    assert diagnosis.stage == "oauth_error" and diagnosis.oauth_error == "invalid_grant"
    assert diagnosis.status == 400


async def test_test_connection_success_and_http_statuses(
    pool: TransportPool, receiver: Receiver
) -> None:
    transport = await leased(pool, 1, 1, server(f"{receiver.host}/api"))
    good = await check_connection(transport, "get", "/ping")
    assert good.ok and good.status == 200 and "GET /api/ping answered 200" in good.message
    bad = await check_connection(transport, "POST", "/status/403")
    assert not bad.ok and bad.stage == "http" and bad.status == 403
    assert receiver.last().method == "POST"


def test_mask_token_shows_first_and_last_four_only() -> None:
    assert token_preview("abcdefghijklmnopqrstuvwxyz") == "abcd…wxyz"
    assert token_preview("short-token") == "********"


async def test_fetch_token_uses_the_servers_timeout(oauth_server: OAuthServer) -> None:
    oauth_server.delay_seconds = 2
    config = server("127.0.0.1:1", timeout_seconds=0.3, auth=password_grant(oauth_server.token_url))
    diagnosis = await fetch_token(config)
    assert not diagnosis.ok and diagnosis.stage == "http"
    assert "did not answer in time" in diagnosis.message
