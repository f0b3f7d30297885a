"""Sending e-mail through WI's mail server (aiosmtplib): plain, STARTTLS or implicit TLS."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from workflow_integrator.domain.smtp import SmtpSettings
from workflow_integrator.outbound.tls import build_ssl_context


@dataclass(frozen=True, slots=True)
class Mail:
    """One e-mail to send: plain text, one or more recipients."""

    to: tuple[str, ...]
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class MailResult:
    """What a send learned: ``ok``, a message naming the stage that failed, and whether to retry."""

    ok: bool
    message: str
    duration_ms: int
    retryable: bool = False
    refused: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """A JSON-able view."""
        return {"ok": self.ok, "message": self.message, "duration_ms": self.duration_ms,
                "retryable": self.retryable, "refused": list(self.refused)}


class SmtpError(Exception):
    """A send failed; the message names the stage and never holds the password."""

    def __init__(self, message: str, *, retryable: bool,
                 refused: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.refused = tuple(refused)


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    """The TLS context for STARTTLS and implicit TLS, built by the one TLS rule."""
    if settings.security == "plain":
        return None
    return build_ssl_context(settings.verify_certificate, settings.certificate)


def compose(settings: SmtpSettings, mail: Mail) -> EmailMessage:
    """The RFC 5322 message for ``mail``, sent from the configured sender."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(mail.body)
    return message


def _target(settings: SmtpSettings) -> str:
    return f"{settings.host}:{settings.effective_port} ({settings.security})"


def describe(exc: BaseException, settings: SmtpSettings) -> SmtpError:
    """Turn an aiosmtplib, TLS or socket failure into a message that names the fix."""
    target = _target(settings)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SmtpError(f"{target} refused the login of '{settings.username}' "
                         f"({exc.code} {exc.message}); check user name and password",
                         retryable=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = [r.recipient for r in exc.recipients]
        return SmtpError(f"{target} refused the recipient(s) {', '.join(refused)}",
                         retryable=False, refused=refused)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return SmtpError(f"{target} refused the sender {exc.sender} ({exc.code} {exc.message}); "
                         "check the sender address", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SmtpError(f"{target} does not offer it: {exc.message}; check the security "
                         "setting (plain, starttls or tls) and the port", retryable=False)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return SmtpError(f"no answer from {target} in time; check host, port and firewall",
                         retryable=True)
    if _is_tls(exc):
        return SmtpError(f"TLS with {target} failed ({exc}); check 'Verify certificate' and "
                         "that security matches the port (tls is usually 465, starttls 587)",
                         retryable=False)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SmtpError(f"{target} answered {exc.code} {exc.message}",
                         retryable=400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected
                  | OSError | aiosmtplib.SMTPException):
        if any(isinstance(c, socket.gaierror) for c in _causes(exc)):
            return SmtpError(f"cannot resolve {settings.host}; check the name and DNS",
                             retryable=True)
        return SmtpError(f"cannot talk to {target} ({exc}); check host, port, security and "
                         "firewall", retryable=True)
    raise exc


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_tls(exc: BaseException) -> bool:
    return any(isinstance(c, ssl.SSLError | ssl.CertificateError) for c in _causes(exc))


async def send(settings: SmtpSettings, mail: Mail) -> MailResult:
    """Send one e-mail; failures come back as a result, never as an exception."""
    started = time.monotonic()
    try:
        refused = await _deliver(settings, compose(settings, mail))
    except Exception as exc:
        error = describe(exc, settings)
        return MailResult(False, error.message, _ms(started), error.retryable, error.refused)
    accepted = [address for address in mail.to if address not in refused]
    message = f"sent to {', '.join(accepted)} through {_target(settings)}"
    if refused:
        # The others have it already: sending again would duplicate their copy.
        message += f"; refused: {', '.join(refused)}"
    return MailResult(True, message, _ms(started), refused=tuple(refused))


async def _deliver(settings: SmtpSettings, message: EmailMessage) -> list[str]:
    password = settings.password.get_secret_value() if settings.password else None
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.effective_port,
        use_tls=settings.security == "tls",
        start_tls=settings.security == "starttls",
        tls_context=tls_context(settings),
        timeout=settings.timeout_seconds,
    )
    async with client:
        if settings.username and password is not None:
            await client.login(settings.username, password)
        errors, _ = await client.send_message(message)
    return list(errors)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
