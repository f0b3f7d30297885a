"""The mail server WI sends failure e-mails through: host, port, security, login, sender."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from workflow_integrator.domain.certificates import CertificateError, parse_certificates
from workflow_integrator.domain.hosts import HostError, parse_host
from workflow_integrator.domain.outbound_server import VerifyMode
from workflow_integrator.domain.redaction import MASK as SECRET_MASK

SmtpSecurity = Literal["plain", "starttls", "tls"]
"""``plain``: no encryption; ``starttls``: upgrade after connecting; ``tls``: TLS from the start."""

DEFAULT_PORTS: dict[str, int] = {"plain": 25, "starttls": 587, "tls": 465}

# One address, as mail servers accept it in MAIL FROM/RCPT TO (no display name, no spaces).
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def check_address(value: str) -> str:
    """A single e-mail address, or a ValueError that shows the expected shape."""
    text = value.strip()
    if not _ADDRESS.match(text) or len(text) > 254:
        raise ValueError(f"'{value}' is not an e-mail address; write it as name@example.com")
    return text


class SmtpSettings(BaseModel):
    """How WI reaches its mail server; ``password`` is a secret, encrypted at rest."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    host: str = Field(description="Mail server name or address (no port: see `port`)")
    port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Default by security: 25 plain, 587 starttls, 465 tls",
    )
    security: SmtpSecurity = Field(
        default="starttls",
        description="plain (no encryption), starttls (upgrade after connecting) or tls "
        "(implicit TLS from the first byte)",
    )
    verify_certificate: VerifyMode = Field(
        default="enable",
        description="enable (system trust store), certificate (trust only `certificate`) "
        "or disable",
    )
    certificate: str | None = Field(default=None, max_length=262_144)
    username: str | None = Field(default=None, max_length=256, description="Login user, if any")
    password: SecretStr | None = Field(default=None, description="Login password (secret)")
    sender: str = Field(description="The From address of WI's e-mails, e.g. wi@example.com")
    timeout_seconds: float = Field(default=30, gt=0, le=600)

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        try:
            target = parse_host(value)
        except HostError as exc:
            raise ValueError(str(exc)) from None
        if target.port is not None or target.base_path or target.scheme:
            raise ValueError("give only the server's name or address here and the port in "
                             "`port`, e.g. host 'mail.example.com', port 587")
        return target.hostname

    @field_validator("sender")
    @classmethod
    def _valid_sender(cls, value: str) -> str:
        return check_address(value)

    @field_validator("username")
    @classmethod
    def _blank_user_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("certificate")
    @classmethod
    def _valid_certificate(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parse_certificates(value)
        except CertificateError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> SmtpSettings:
        if self.verify_certificate == "certificate" and not self.certificate:
            raise ValueError("certificate: upload the mail server's CA or self-signed "
                             "certificate (PEM) when verify_certificate is 'certificate'")
        if self.verify_certificate != "certificate" and self.certificate:
            raise ValueError("certificate: a certificate is only used with verify_certificate "
                             "= 'certificate'; remove it or change the mode")
        if self.password is not None and not self.username:
            raise ValueError("username: a password needs a user name to log in with")
        return self

    @property
    def effective_port(self) -> int:
        """The port WI connects to."""
        return self.port or DEFAULT_PORTS[self.security]

    def warnings(self) -> list[str]:
        """Plain-language warnings shown next to the settings."""
        notes = []
        if self.security == "plain":
            notes.append("security is plain: e-mails"
                         + (" and the password" if self.password else "")
                         + " travel unencrypted.")
        elif self.verify_certificate == "disable":
            notes.append("TLS certificate verification is disabled: WI cannot tell the real "
                         "mail server from an impostor.")
        return notes

    def view(self) -> dict[str, Any]:
        """The settings as API, CLI and UI show them: the password only as the mask."""
        data = self.model_dump(mode="json", exclude={"password"})
        data["password"] = SECRET_MASK if self.password is not None else None
        data["effective_port"] = self.effective_port
        data["warnings"] = self.warnings()
        return data
