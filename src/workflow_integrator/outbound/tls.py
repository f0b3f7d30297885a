"""One place that turns a server's TLS settings into an ``ssl.SSLContext``."""

from __future__ import annotations

import os
import ssl
import tempfile
from typing import Literal

from workflow_integrator.domain.outbound_server import OutboundServer, VerifyMode


def _load_client_certificate(ctx: ssl.SSLContext, certificate: str, key: str) -> None:
    # ssl can only read key material from files: write a private temporary file, then remove it.
    fd, path = tempfile.mkstemp(prefix="wi-client-", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(certificate.strip() + "\n" + key.strip() + "\n")
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


def build_ssl_context(
    mode: VerifyMode,
    certificate: str | None = None,
    *,
    client_certificate: str | None = None,
    client_key: str | None = None,
    purpose: Literal["server", "proxy"] = "server",
) -> ssl.SSLContext:
    """The SSL context for one of the three "Verify certificate" modes.

    ``disable``: no verification at all; ``enable``: the system trust store;
    ``certificate``: only the uploaded PEM certificate(s). For an HTTPS proxy
    (``purpose="proxy"``) the ``certificate`` mode trusts the system store as well,
    since a corporate proxy's certificate rarely matches the server's own.
    """
    if mode == "disable":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif mode == "enable" or not certificate:
        ctx = ssl.create_default_context()
    else:
        ctx = ssl.create_default_context(cadata=certificate)
        if purpose == "proxy":
            ctx.load_default_certs()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_certificate and client_key and purpose == "server":
        _load_client_certificate(ctx, client_certificate, client_key)
    return ctx


def server_ssl_context(server: OutboundServer) -> ssl.SSLContext:
    """The context WI uses towards the server (and its token endpoint)."""
    return build_ssl_context(
        server.verify_certificate,
        server.certificate,
        client_certificate=server.client_certificate,
        client_key=server.client_key.get_secret_value() if server.client_key else None,
    )


def proxy_ssl_context(server: OutboundServer) -> ssl.SSLContext:
    """The context WI uses towards an ``https://`` proxy."""
    return build_ssl_context(server.verify_certificate, server.certificate, purpose="proxy")
