"""Pytest fixtures for the real servers outbound tests talk to (session-scoped, reset per test)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.servers.oauth import OAuthServer, run_oauth_server
from tests.servers.proxy import ProxyServer, run_proxy
from tests.servers.receiver import Receiver, run_receiver
from tests.servers.socks import SocksServer, run_socks

PROXY_USER = "proxy-user"
PROXY_PASSWORD = "proxy-pass-5ecret"


@dataclass(frozen=True)
class TLSMaterial:
    """A CA that signed the receivers' certificate for 127.0.0.1, and an unrelated CA."""

    ca_pem: str
    other_ca_pem: str
    certfile: str
    keyfile: str
    client_cert_pem: str
    client_key_pem: str
    ca_file: str


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    """Certificates from trustme: the server's chain, a client certificate, another CA."""
    folder: Path = tmp_path_factory.mktemp("tls")
    ca, other = trustme.CA(), trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("wi-client@example.com")
    certfile, keyfile, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(certfile))
    for extra in server_cert.cert_chain_pems[1:]:
        extra.write_to_path(str(certfile), append=True)
    server_cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(ca_file))
    return TLSMaterial(
        ca_pem=ca.cert_pem.bytes().decode(),
        other_ca_pem=other.cert_pem.bytes().decode(),
        certfile=str(certfile),
        keyfile=str(keyfile),
        client_cert_pem=b"".join(p.bytes() for p in client_cert.cert_chain_pems).decode(),
        client_key_pem=client_cert.private_key_pem.bytes().decode(),
        ca_file=str(ca_file),
    )


@pytest.fixture(scope="session")
def _http_receiver() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def _https_receiver(tls_material: TLSMaterial) -> Iterator[Receiver]:
    with run_receiver(certfile=tls_material.certfile, keyfile=tls_material.keyfile) as receiver:
        yield receiver


@pytest.fixture
def receiver(_http_receiver: Receiver) -> Receiver:
    """A plain HTTP receiver on 127.0.0.1 that records every request (cleared per test)."""
    _http_receiver.clear()
    return _http_receiver


@pytest.fixture
def tls_receiver(_https_receiver: Receiver) -> Receiver:
    """An HTTPS receiver whose certificate was signed by ``tls_material.ca_pem``."""
    _https_receiver.clear()
    return _https_receiver


@pytest.fixture(scope="session")
def _oauth_server() -> Iterator[OAuthServer]:
    with run_oauth_server() as server:
        yield server


@pytest.fixture(scope="session")
def _oauth_server_tls(tls_material: TLSMaterial) -> Iterator[OAuthServer]:
    with run_oauth_server(certfile=tls_material.certfile, keyfile=tls_material.keyfile) as server:
        yield server


@pytest.fixture
def oauth_server(_oauth_server: OAuthServer) -> OAuthServer:
    """A real OAuth 2.0 token endpoint over HTTP, reset (no tokens, zero counters) per test."""
    _oauth_server.reset()
    return _oauth_server


@pytest.fixture
def oauth_server_tls(_oauth_server_tls: OAuthServer) -> OAuthServer:
    """The token endpoint over HTTPS (certificate from ``tls_material``), reset per test."""
    _oauth_server_tls.reset()
    return _oauth_server_tls


@pytest.fixture(scope="session")
def forward_proxy() -> Iterator[ProxyServer]:
    """proxy.py without authentication."""
    with run_proxy() as proxy:
        yield proxy


@pytest.fixture(scope="session")
def auth_proxy() -> Iterator[ProxyServer]:
    """proxy.py that demands Basic proxy credentials (``PROXY_USER``/``PROXY_PASSWORD``)."""
    with run_proxy(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def socks_proxy() -> Iterator[SocksServer]:
    """A SOCKS5 proxy demanding ``PROXY_USER``/``PROXY_PASSWORD``."""
    with run_socks(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def tls_proxy(tls_material: TLSMaterial) -> Iterator[ProxyServer]:
    """proxy.py listening with TLS (an ``https://`` proxy), certificate from ``tls_material``."""
    with run_proxy(certfile=tls_material.certfile, keyfile=tls_material.keyfile) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def _mtls_receiver(tls_material: TLSMaterial) -> Iterator[Receiver]:
    with run_receiver(
        certfile=tls_material.certfile,
        keyfile=tls_material.keyfile,
        client_ca=tls_material.ca_file,
    ) as receiver:
        yield receiver


@pytest.fixture
def mtls_receiver(_mtls_receiver: Receiver) -> Receiver:
    """An HTTPS receiver that demands a client certificate signed by ``tls_material``'s CA."""
    _mtls_receiver.clear()
    return _mtls_receiver
