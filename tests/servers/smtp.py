"""A real SMTP server for the tests (aiosmtpd): STARTTLS with login, or implicit TLS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.live_wi import free_port

SMTP_USER = "wi-mailer"
SMTP_PASSWORD = "smtp-secret-4f9a1c"


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: Message
    login: str | None


@dataclass
class MailServer:
    """A running test SMTP server and everything it received."""

    port: int
    mode: Literal["starttls", "tls", "plain"]
    ca: trustme.CA
    messages: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ca_pem(self) -> str:
        """The CA certificate WI must trust to verify this server."""
        return self.ca.cert_pem.bytes().decode()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """An API body that reaches this server, verified against its CA, with the login."""
        body: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": self.mode,
            "verify_certificate": "certificate" if self.mode != "plain" else "enable",
            "certificate": self.ca_pem if self.mode != "plain" else None,
            "username": SMTP_USER,
            "password": SMTP_PASSWORD,
            "sender": "wi@example.com",
            "timeout_seconds": 10,
        }
        body.update(overrides)
        return body


class _Handler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, _srv: SMTP, _session: Session, envelope: Envelope, address: str,
        _options: list[str],
    ) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, _srv: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        auth = session.auth_data
        login = auth.decode() if isinstance(auth, bytes) else None
        with self.server.lock:
            self.server.messages.append(Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(content),
                login))
        return "250 Message accepted"


def _authenticator(server: MailServer) -> Any:
    def check(_srv: SMTP, session: Session, _env: Envelope, _mechanism: str,
              data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == SMTP_USER
              and data.password.decode() == SMTP_PASSWORD)
        with server.lock:
            server.logins.append((data.login.decode() if isinstance(data, LoginPassword)
                                  else "?", ok))
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    return check


@contextmanager
def mail_server(mode: Literal["starttls", "tls", "plain"] = "starttls") -> Iterator[MailServer]:
    """Serve SMTP on 127.0.0.1 with a certificate from a fresh test CA.

    ``starttls``: STARTTLS required before login, login required before mail.
    ``tls``: implicit TLS from the first byte, login required.
    ``plain``: no TLS, no login (the port-25 relay of a closed network).
    """
    ca = trustme.CA(organization_name="WI Mail Test CA")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = MailServer(port=free_port(), mode=mode, ca=ca)
    kwargs: dict[str, Any] = {"authenticator": _authenticator(server)}
    if mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True, auth_required=True)
    elif mode == "tls":
        kwargs.update(ssl_context=context, auth_required=True, auth_require_tls=False,
                      server_hostname="localhost")
    else:
        kwargs.update(auth_require_tls=False)
    controller = Controller(_Handler(server), hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
