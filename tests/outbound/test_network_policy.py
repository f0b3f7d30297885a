"""The outbound network policy, applied to the address WI actually connects to.

Real listeners on 127.0.0.1 stand for the outbound server, the proxy and SecureChange:
a listener that counts accepted connections shows that a refusal sent nothing at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from tests.conftest import make_settings
from tests.outbound.configs import leased, password_grant, server
from tests.servers.live_wi import FAST_HASHER, LiveWI, serve_wi
from tests.servers.oauth import OAuthServer
from tests.servers.receiver import Receiver
from tests.servers.simulator import SimulatorHandle
from workflow_integrator.domain.network_policy import (
    DEFAULT_POLICY,
    NetworkPolicy,
    literal_address,
)
from workflow_integrator.outbound import MemoryTokenStore, TokenManager, TransportPool, fetch_token
from workflow_integrator.outbound.diagnostics import check_connection
from workflow_integrator.outbound.network_guard import GuardedBackend, PolicyRefused
from workflow_integrator.securechange.client import SecureChangeClient
from workflow_integrator.securechange.connection import SecureChangeConnection
from workflow_integrator.settings import Settings

DENY_LOOPBACK = NetworkPolicy(deny_loopback=True)


@dataclass
class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    port: int
    accepted: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener(0)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.accepted += 1
        writer.close()

    server_ = await asyncio.start_server(accept, "127.0.0.1", 0)
    found.port = server_.sockets[0].getsockname()[1]
    yield found
    server_.close()
    await server_.wait_closed()


def pool_with(policy: NetworkPolicy) -> TransportPool:
    return TransportPool(TokenManager(MemoryTokenStore()), policy)


# -- the rule (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    ["0x7f000001", "2130706433", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "::ffff:7f00:1"],
)
def test_every_spelling_of_loopback_is_loopback(written: str) -> None:
    assert literal_address(written) == ipaddress.IPv4Address("127.0.0.1")
    assert DENY_LOOPBACK.host_refusal(written) is not None
    assert DEFAULT_POLICY.host_refusal(written) is None


def test_names_are_not_addresses() -> None:
    assert literal_address("itsm.example.com") is None
    assert literal_address("0x7g") is None
    assert literal_address("256.1.1.1") is None


def test_refusals_name_the_rule_and_the_fix() -> None:
    assert DEFAULT_POLICY.host_refusal("169.254.169.254") == (
        "169.254.169.254 is in the denied network 169.254.0.0/16 (link-local, cloud "
        "metadata); allow it with WI_OUTBOUND_ALLOW"
    )
    ec2 = DEFAULT_POLICY.host_refusal("[fd00:ec2::254]")
    assert "fd00:ec2::254/128 (cloud metadata)" in str(ec2)
    assert "(IPv6 link-local)" in str(DEFAULT_POLICY.host_refusal("fe80::1"))
    assert "unspecified address" in str(DEFAULT_POLICY.host_refusal("0.0.0.0"))
    assert "unspecified address" in str(DEFAULT_POLICY.host_refusal("[::]"))
    assert "metadata.google.internal is a denied name" in str(
        DEFAULT_POLICY.host_refusal("Metadata.Google.Internal.")
    )
    assert "denied by WI_OUTBOUND_DENY_LOOPBACK" in str(DENY_LOOPBACK.host_refusal("localhost"))


def test_private_ranges_and_loopback_are_allowed_by_default() -> None:
    for address in ("10.1.2.3", "172.16.0.9", "192.168.1.1", "fd12::5", "127.0.0.1", "::1"):
        assert DEFAULT_POLICY.address_refusal(address) is None


def test_settings_deny_and_allow() -> None:
    policy = Settings(
        _env_file=None,  # type: ignore[call-arg]
        outbound_deny="10.0.0.0/8, 192.168.7.7",
        outbound_allow="10.9.0.0/16, 169.254.169.254",
    ).outbound_policy
    assert "10.0.0.0/8 (denied by WI_OUTBOUND_DENY)" in str(policy.address_refusal("10.1.1.1"))
    assert policy.address_refusal("192.168.7.7") is not None
    assert policy.address_refusal("10.9.3.3") is None  # an allowed network wins
    assert policy.address_refusal("169.254.169.254") is None
    assert policy.address_refusal("169.254.169.253") is not None
    with pytest.raises(ValidationError, match=r"'10\.0\.0\.300' is not an IP address or network"):
        Settings(_env_file=None, outbound_deny="10.0.0.300")  # type: ignore[call-arg]


def test_loopback_deny_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WI_OUTBOUND_DENY_LOOPBACK", "true")
    assert Settings(_env_file=None).outbound_policy.deny_loopback  # type: ignore[call-arg]


# -- applied at connect time -----------------------------------------------------------


async def test_deny_loopback_refuses_a_real_listener(listener: Listener) -> None:
    pool = pool_with(DENY_LOOPBACK)
    try:
        diagnosis = await check_connection(await leased(pool, 1, 1, server(listener.host)))
    finally:
        await pool.aclose()
    assert not diagnosis.ok and diagnosis.stage == "policy"
    assert "127.0.0.1 is in the denied network 127.0.0.0/8" in diagnosis.message
    assert "WI_OUTBOUND_ALLOW" in diagnosis.message
    assert listener.accepted == 0


async def test_allowed_loopback_connects(receiver: Receiver) -> None:
    pool = pool_with(DEFAULT_POLICY)
    try:
        transport = await leased(pool, 1, 1, server(receiver.host))
        diagnosis = await check_connection(transport, "GET", "/ping")
    finally:
        await pool.aclose()
    assert diagnosis.ok and diagnosis.status == 200
    assert receiver.last().path == "/ping"


@pytest.mark.parametrize("host", ["0x7f000001", "[::ffff:127.0.0.1]", "localhost"])
async def test_alternative_spellings_are_refused(listener: Listener, host: str) -> None:
    pool = pool_with(DENY_LOOPBACK)
    try:
        diagnosis = await check_connection(
            await leased(pool, 1, 1, server(f"{host}:{listener.port}"))
        )
    finally:
        await pool.aclose()
    assert diagnosis.stage == "policy", diagnosis.message
    assert "denied network 127.0.0.0/8" in diagnosis.message
    assert listener.accepted == 0


async def test_a_name_is_judged_by_the_address_it_resolves_to(listener: Listener) -> None:
    # Not a known name: only resolving it shows it is loopback, here denied by network.
    policy = NetworkPolicy.from_settings(deny="127.0.0.0/8, ::1")
    pool = pool_with(policy)
    try:
        diagnosis = await check_connection(
            await leased(pool, 1, 1, server(f"localhost:{listener.port}"))
        )
    finally:
        await pool.aclose()
    assert diagnosis.stage == "policy"
    assert "localhost resolves only to denied addresses" in diagnosis.message
    assert "(denied by WI_OUTBOUND_DENY)" in diagnosis.message
    assert listener.accepted == 0


@pytest.mark.parametrize(
    "target", ["169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal", "0.0.0.0"]
)
async def test_metadata_refused_before_any_traffic(listener: Listener, target: str) -> None:
    # Through a "proxy" that is the counting listener: any traffic at all would reach it.
    pool = pool_with(DEFAULT_POLICY)
    try:
        config = server(target, proxy=listener.host)
        diagnosis = await check_connection(await leased(pool, 1, 1, config))
    finally:
        await pool.aclose()
    assert diagnosis.stage == "policy", diagnosis.message
    assert "WI_OUTBOUND_ALLOW" in diagnosis.message or "denied name" in diagnosis.message
    assert listener.accepted == 0


async def test_a_denied_proxy_is_refused(listener: Listener) -> None:
    pool = pool_with(DENY_LOOPBACK)
    try:
        config = server("10.255.255.1", proxy=listener.host)
        diagnosis = await check_connection(await leased(pool, 1, 1, config))
    finally:
        await pool.aclose()
    assert diagnosis.stage == "policy"
    assert "127.0.0.1 is in the denied network 127.0.0.0/8" in diagnosis.message
    assert listener.accepted == 0


async def test_token_url_is_under_the_policy(oauth_server: OAuthServer) -> None:
    metadata = await fetch_token(
        server("10.0.0.1", auth=password_grant("http://169.254.169.254/latest/token"))
    )
    assert metadata.stage == "policy" and "169.254.0.0/16" in metadata.message
    loopback = await fetch_token(
        server("10.0.0.1", auth=password_grant(oauth_server.token_url)), policy=DENY_LOOPBACK
    )
    assert loopback.stage == "policy" and not oauth_server.access
    allowed = await fetch_token(server("10.0.0.1", auth=password_grant(oauth_server.token_url)))
    assert allowed.ok


async def test_securechange_client_is_under_the_policy(sc_simulator: SimulatorHandle) -> None:
    connection = SecureChangeConnection.model_validate(sc_simulator.connection_settings())
    async with SecureChangeClient(connection, policy=DENY_LOOPBACK) as client:
        refused = await client.check()
    assert not refused.ok and refused.stage == "policy"
    assert "denied network 127.0.0.0/8" in refused.message
    async with SecureChangeClient(connection) as client:
        assert (await client.check()).ok


# -- surfaced, never a 500 -------------------------------------------------------------


@pytest.fixture
def strict_wi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveWI]:
    settings = make_settings(tmp_path_factory.mktemp("strict") / "data").model_copy(
        update={"outbound_deny_loopback": True}
    )
    with serve_wi(settings, password_hasher=FAST_HASHER) as live:
        yield live


def test_test_connection_and_fetch_token_report_the_policy(
    strict_wi: LiveWI, receiver: Receiver, sc_simulator: SimulatorHandle
) -> None:
    base = "/api/v1/outbound-servers"
    with strict_wi.client() as client:
        created = client.post(
            base, json={"name": "meta", "host": "169.254.169.254", "protocol": "http"}
        )
        assert created.status_code == 201, created.text
        metadata = client.post(f"{base}/meta/test")
        local = client.post(
            f"{base}/fetch-token",
            json={"name": "x", "host": receiver.host, "protocol": "http",
                  "auth": {"method": "bearer", "token": "abcd-efgh"}},
        )
        client.post(base, json={"name": "local", "host": receiver.host, "protocol": "http"})
        loopback = client.post(f"{base}/local/test")
        securechange = client.post(
            "/api/v1/securechange/test", json=sc_simulator.connection_settings()
        )
    assert metadata.status_code == 200 and metadata.json()["stage"] == "policy"
    assert "169.254.0.0/16 (link-local, cloud metadata)" in metadata.json()["message"]
    assert local.status_code == 200  # a static token reaches nothing: nothing to refuse
    assert loopback.status_code == 200 and loopback.json()["stage"] == "policy"
    assert not receiver.requests
    assert securechange.status_code == 200 and securechange.json()["stage"] == "policy"


async def test_the_backend_connects_to_the_very_address_it_checked(listener: Listener) -> None:
    # A name is resolved once; the connection goes to that checked address, so a
    # second lookup (DNS rebinding) has nothing to change.
    stream = await GuardedBackend(DEFAULT_POLICY).connect_tcp("localhost", listener.port, 5)
    try:
        assert stream.get_extra_info("server_addr")[0] == "127.0.0.1"
    finally:
        await stream.aclose()
    with pytest.raises(PolicyRefused, match="localhost is a loopback name"):
        await GuardedBackend(DENY_LOOPBACK).connect_tcp("localhost", listener.port, 5)
