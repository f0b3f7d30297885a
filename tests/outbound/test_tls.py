"""The three "Verify certificate" modes against a real HTTPS receiver with a trustme certificate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.outbound.configs import leased, server
from tests.servers.outbound_plugin import TLSMaterial
from tests.servers.receiver import Receiver
from workflow_integrator.outbound import OutboundError, TokenManager, TransportPool
from workflow_integrator.outbound.tokens import MemoryTokenStore


@pytest.fixture
async def pool() -> AsyncIterator[TransportPool]:
    pool = TransportPool(TokenManager(MemoryTokenStore()))
    yield pool
    await pool.aclose()


async def test_enable_rejects_a_certificate_outside_the_system_trust_store(
    pool: TransportPool, tls_receiver: Receiver
) -> None:
    config = server(tls_receiver.host, "https", verify_certificate="enable")
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, config)).send("GET", "/x")
    assert caught.value.stage == "tls"
    assert "Verify certificate" in caught.value.message
    assert tls_receiver.requests == []


async def test_certificate_mode_accepts_the_uploaded_ca(
    pool: TransportPool, tls_receiver: Receiver, tls_material: TLSMaterial
) -> None:
    config = server(
        tls_receiver.host,
        "https",
        verify_certificate="certificate",
        certificate=tls_material.ca_pem,
    )
    response = await (await leased(pool, 1, 1, config)).send("GET", "/hello")
    assert response.status_code == 200
    assert tls_receiver.last().path == "/hello"


async def test_certificate_mode_rejects_a_server_signed_by_another_ca(
    pool: TransportPool, tls_receiver: Receiver, tls_material: TLSMaterial
) -> None:
    config = server(
        tls_receiver.host,
        "https",
        verify_certificate="certificate",
        certificate=tls_material.other_ca_pem,
    )
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, config)).send("GET", "/x")
    assert caught.value.stage == "tls"
    assert tls_receiver.requests == []


async def test_disable_accepts_any_certificate(pool: TransportPool, tls_receiver: Receiver) -> None:
    config = server(tls_receiver.host, "https", verify_certificate="disable")
    response = await (await leased(pool, 1, 1, config)).send("POST", "/tickets", body=b'{"a": 1}')
    assert response.status_code == 200
    assert tls_receiver.last().body == b'{"a": 1}'


async def test_plain_http_to_an_https_port_is_an_http_stage_failure(
    pool: TransportPool, tls_receiver: Receiver
) -> None:
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, server(tls_receiver.host, "http"))).send("GET", "/")
    assert caught.value.stage in ("http", "connect")


async def test_mutual_tls_presents_the_client_certificate(
    pool: TransportPool, mtls_receiver: Receiver, tls_material: TLSMaterial
) -> None:
    trust = {"verify_certificate": "certificate", "certificate": tls_material.ca_pem}
    without = server(mtls_receiver.host, "https", **trust)
    with pytest.raises(OutboundError) as caught:
        await (await leased(pool, 1, 1, without)).send("GET", "/")
    # TLS 1.3 reports the missing certificate after the handshake: a disconnect.
    assert caught.value.stage in ("tls", "http")
    assert "client certificate" in caught.value.message
    with_cert = server(
        mtls_receiver.host,
        "https",
        client_certificate=tls_material.client_cert_pem,
        client_key=tls_material.client_key_pem,
        **trust,
    )
    response = await (await leased(pool, 2, 1, with_cert)).send("GET", "/mutual")
    assert response.status_code == 200
    assert mtls_receiver.last().path == "/mutual"
