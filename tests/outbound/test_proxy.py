"""Requests through a real forward proxy (proxy.py): http targets, CONNECT tunnels, proxy auth."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import leased, password_grant, server
from tests.servers.oauth import OAuthServer
from tests.servers.outbound_plugin import PROXY_PASSWORD, PROXY_USER, TLSMaterial
from tests.servers.proxy import ProxyServer
from tests.servers.receiver import Receiver
from tests.servers.socks import SocksServer
from tests.servers.uvicorn_thread import free_port
from workflow_integrator.outbound import OutboundError, TokenManager, TransportPool, fetch_token
from workflow_integrator.outbound.diagnostics import check_connection
from workflow_integrator.outbound.tokens import MemoryTokenStore


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


async def test_http_target_goes_through_the_proxy(
    pool: TransportPool, receiver: Receiver, forward_proxy: ProxyServer
) -> None:
    config = server(receiver.host, proxy=forward_proxy.address)
    response = await (await leased(pool, 1, 1, config)).send("GET", "/via-proxy-http")
    assert response.status_code == 200
    assert receiver.last().path == "/via-proxy-http"
    await pool.aclose()  # proxy.py logs a request when its connection closes
    assert forward_proxy.saw(f"GET {receiver.host}/via-proxy-http")


async def test_https_target_is_tunnelled_with_connect(
    pool: TransportPool,
    tls_receiver: Receiver,
    forward_proxy: ProxyServer,
    tls_material: TLSMaterial,
) -> None:
    config = server(
        tls_receiver.host,
        "https",
        verify_certificate="certificate",
        certificate=tls_material.ca_pem,
        proxy=forward_proxy.url,
    )
    response = await (await leased(pool, 1, 1, config)).send("GET", "/via-tunnel")
    assert response.status_code == 200
    assert tls_receiver.last().path == "/via-tunnel"
    await pool.aclose()
    assert forward_proxy.saw(f"CONNECT {tls_receiver.host}")


async def test_proxy_credentials_are_accepted(
    pool: TransportPool, receiver: Receiver, tls_receiver: Receiver, auth_proxy: ProxyServer
) -> None:
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@{auth_proxy.address}"
    plain = await (await leased(pool, 1, 1, server(receiver.host, proxy=proxy))).send(
        "GET", "/authed"
    )
    tunnelled = await (
        await leased(pool, 2, 1, server(tls_receiver.host, "https", proxy=proxy))
    ).send("GET", "/authed-tls")
    assert plain.status_code == 200 and tunnelled.status_code == 200
    assert receiver.last().path == "/authed"
    assert tls_receiver.last().path == "/authed-tls"
    # The proxy consumed its credentials: the receiver never sees them.
    assert "proxy-authorization" not in tls_receiver.last().headers


async def test_wrong_proxy_credentials_are_a_proxy_stage_failure(
    pool: TransportPool, receiver: Receiver, tls_receiver: Receiver, auth_proxy: ProxyServer
) -> None:
    proxy = f"http://{PROXY_USER}:wrong-password@{auth_proxy.address}"
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, server(tls_receiver.host, "https", proxy=proxy))).send(
            "GET", "/"
        )
    assert caught.value.stage == "proxy"
    assert "407" in caught.value.message
    assert "wrong-password" not in caught.value.message
    # For an http target the proxy answers 407 itself; the diagnosis names the proxy stage.
    diagnosis = await check_connection(await leased(pool, 2, 1, server(receiver.host, proxy=proxy)))
    assert diagnosis.stage == "proxy" and diagnosis.status == 407
    assert "wrong-password" not in diagnosis.message
    assert receiver.requests == [] and tls_receiver.requests == []


async def test_unreachable_proxy_is_a_proxy_stage_failure(
    pool: TransportPool, receiver: Receiver
) -> None:
    config = server(receiver.host, proxy=f"127.0.0.1:{free_port()}")
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, config)).send("GET", "/")
    assert caught.value.stage == "proxy"


async def test_socks5_proxy_with_credentials(
    pool: TransportPool, receiver: Receiver, tls_receiver: Receiver, socks_proxy: SocksServer
) -> None:
    proxy = f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@{socks_proxy.address}"
    plain = await (await leased(pool, 1, 1, server(receiver.host, proxy=proxy))).send(
        "GET", "/socks"
    )
    secure = await (await leased(pool, 2, 1, server(tls_receiver.host, "https", proxy=proxy))).send(
        "GET", "/socks-tls"
    )
    assert plain.status_code == 200 and secure.status_code == 200
    assert receiver.last().path == "/socks" and tls_receiver.last().path == "/socks-tls"
    assert receiver.host in socks_proxy.connects and tls_receiver.host in socks_proxy.connects


async def test_socks5_proxy_refuses_wrong_credentials(
    pool: TransportPool, receiver: Receiver, socks_proxy: SocksServer
) -> None:
    proxy = f"socks5://{PROXY_USER}:wrong-password@{socks_proxy.address}"
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, server(receiver.host, proxy=proxy))).send("GET", "/")
    assert caught.value.stage == "proxy"
    assert receiver.requests == []


async def test_https_proxy(
    pool: TransportPool,
    receiver: Receiver,
    tls_receiver: Receiver,
    tls_proxy: ProxyServer,
    tls_material: TLSMaterial,
) -> None:
    proxy = f"https://{tls_proxy.address}"
    trust = {"verify_certificate": "certificate", "certificate": tls_material.ca_pem}
    secure = await (
        await leased(pool, 1, 1, server(tls_receiver.host, "https", proxy=proxy, **trust))
    ).send("GET", "/over-tls-proxy")
    assert secure.status_code == 200
    assert tls_receiver.last().path == "/over-tls-proxy"
    await pool.aclose()
    assert tls_proxy.saw(f"CONNECT {tls_receiver.host}")
    # With the system trust store only, the proxy's own certificate is refused.
    system = server(tls_receiver.host, "https", proxy=proxy, verify_certificate="enable")
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 2, 1, system)).send("GET", "/")
    assert caught.value.stage == "tls", caught.value.message


async def test_token_endpoint_is_reached_through_the_servers_proxy(
    pool: TransportPool, receiver: Receiver, oauth_server: OAuthServer, auth_proxy: ProxyServer
) -> None:
    receiver.authorize = oauth_server.accepts
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@{auth_proxy.address}"
    config = server(receiver.host, proxy=proxy, auth=password_grant(oauth_server.token_url))
    assert (await (await leased(pool, 1, 1, config)).send("GET", "/with-token")).status_code == 200
    await pool.aclose()
    token_host = oauth_server.url.removeprefix("http://")
    assert auth_proxy.saw(f"POST {token_host}/oauth/token")
    assert auth_proxy.saw(f"GET {receiver.host}/with-token")
    # Fetch Token goes the same way; with wrong proxy credentials it fails at the proxy.
    refused = server(
        receiver.host,
        proxy=f"http://{PROXY_USER}:nope@{auth_proxy.address}",
        auth=password_grant(oauth_server.token_url),
    )
    diagnosis = await fetch_token(refused)
    assert (not diagnosis.ok and diagnosis.status == 407) or diagnosis.stage == "proxy"
    assert oauth_server.token_requests == 1
