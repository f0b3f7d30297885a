"""What went wrong on the way to an outbound server, named by the stage that failed."""

from __future__ import annotations

import socket
import ssl
from typing import Literal

import httpx2

from workflow_integrator.outbound.network_guard import policy_refusal

Stage = Literal[
    "policy", "dns", "connect", "tls", "proxy", "http", "oauth_error", "parse", "script"
]
"""Where a request or token fetch failed, in the order a network engineer checks them
(``policy``: WI's outbound network policy refused the address before connecting)."""


class OutboundError(Exception):
    """A failure with its stage and a message a network engineer can act on.

    The message never holds a secret: callers build it from hosts, statuses and the
    OAuth ``error``/``error_description`` only.
    """

    def __init__(
        self,
        stage: Stage,
        message: str,
        *,
        status: int | None = None,
        oauth_error: str | None = None,
        oauth_error_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage: Stage = stage
        self.message = message
        self.status = status
        self.oauth_error = oauth_error
        self.oauth_error_description = oauth_error_description


class NeedsCredentials(OutboundError):
    """The refresh token was refused (expired or revoked): a new one must be saved."""

    def __init__(self, reason: str, *, oauth_error: str | None, description: str | None) -> None:
        super().__init__(
            "oauth_error",
            reason,
            status=400,
            oauth_error=oauth_error,
            oauth_error_description=description,
        )
        self.reason = reason


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify(exc: BaseException, *, via_proxy: bool = False) -> Stage:
    """Name the stage an exception from a send or token fetch belongs to.

    ``via_proxy`` tells connection failures apart: with a proxy configured, WI's own
    connection goes to the proxy, so failing to reach it is the ``proxy`` stage.
    """
    if isinstance(exc, OutboundError):
        return exc.stage
    if policy_refusal(exc) is not None:
        return "policy"
    chain = _causes(exc)
    if any(isinstance(item, socket.gaierror) for item in chain):
        return "proxy" if via_proxy else "dns"
    if isinstance(exc, httpx2.ProxyError):
        return "proxy"
    if any(isinstance(item, ssl.SSLError | ssl.CertificateError) for item in chain):
        return "tls"
    text = " ".join(str(item) for item in chain).lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls"
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
        return "proxy" if via_proxy else "connect"
    if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.InvalidURL):
        return "connect"
    return "http"


def describe(exc: BaseException, *, target: str, via_proxy: str | None = None) -> str:
    """A plain-language message for a transport exception, naming the peer and the fix."""
    if isinstance(exc, OutboundError):
        return exc.message
    stage = classify(exc, via_proxy=via_proxy is not None)
    refusal = policy_refusal(exc)
    if refusal is not None:
        return f"the outbound network policy refuses the connection: {refusal}"
    detail = str(exc) or type(exc).__name__
    if stage == "dns":
        return f"cannot resolve the host name of {target} ({detail}); check the name and DNS"
    if stage == "proxy":
        where = via_proxy or "the proxy"
        return (
            f"the proxy {where} failed or refused the request ({detail}); check the proxy setting"
        )
    if stage == "tls":
        return (
            f"TLS handshake with {target} failed ({detail}); check 'Verify certificate': "
            "'enable' trusts only the system trust store, 'certificate' only the uploaded "
            "certificate, and the certificate must name the host"
        )
    if stage == "connect":
        if isinstance(exc, httpx2.ConnectTimeout):
            return f"no answer from {target} while connecting (timeout); check routing and firewall"
        return f"cannot connect to {target} ({detail}); check host, port and firewall"
    if isinstance(exc, httpx2.TimeoutException):
        return f"{target} accepted the connection but did not answer in time ({type(exc).__name__})"
    return f"the HTTP exchange with {target} failed ({detail})"
