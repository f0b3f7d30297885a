"""How WI reaches SecureChange's REST API: host, credentials, TLS, timeout."""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from workflow_integrator.domain.certificates import CertificateError, parse_certificates
from workflow_integrator.domain.hosts import (
    HostError,
    HostTarget,
    parse_host,
    protocol_from_pasted_url,
)
from workflow_integrator.domain.redaction import MASK
from workflow_integrator.outbound.tls import build_ssl_context

API_BASE_PATH = "/securechangeworkflow/api/securechange"


class SecureChangeConnection(BaseModel):
    """SecureChange connection settings (the password is a secret)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    host: str = Field(
        description="SecureChange host: name or address with optional :port, or a pasted URL"
    )
    protocol: Literal["https", "http"] = Field(default="https")
    username: str = Field(min_length=1, max_length=200, description="REST API user")
    password: SecretStr | None = Field(default=None, description="REST API password (secret)")
    verify_certificate: Literal["disable", "enable", "certificate"] = Field(
        default="enable",
        description="enable (system trust store), certificate (trust only the uploaded "
        "certificate) or disable",
    )
    certificate: str | None = Field(default=None, max_length=262_144)
    timeout_seconds: float = Field(default=30, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _split_pasted_url(cls, data: Any) -> Any:
        return protocol_from_pasted_url(data)

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        try:
            target = parse_host(value)
        except HostError as exc:
            raise ValueError(str(exc)) from None
        return target.display()

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
    def _cross_field(self) -> SecureChangeConnection:
        if self.verify_certificate == "certificate" and not self.certificate:
            raise ValueError("certificate: upload SecureChange's CA or self-signed certificate "
                             "(PEM) when verify_certificate is 'certificate'")
        if self.verify_certificate != "certificate" and self.certificate:
            raise ValueError("certificate: a certificate is only used with verify_certificate "
                             "= 'certificate'; remove it or change the mode")
        return self

    @property
    def target(self) -> HostTarget:
        """The parsed host."""
        return parse_host(self.host)

    @property
    def base_url(self) -> str:
        """The REST API root, e.g. ``https://sc.example.com/securechangeworkflow/api/securechange``."""
        return f"{self.protocol}://{self.target.display()}{API_BASE_PATH}"

    def warnings(self) -> list[str]:
        """Plain-language warnings shown next to the settings."""
        notes = []
        if self.protocol == "https" and self.verify_certificate == "disable":
            notes.append("TLS certificate verification is disabled: WI cannot tell the real "
                         "SecureChange from an impostor.")
        if self.protocol == "http":
            notes.append("protocol is HTTP: the password travels unencrypted.")
        return notes

    def ssl_verify(self) -> ssl.SSLContext | bool:
        """What the HTTP client verifies the server certificate against."""
        if self.protocol == "http":
            return True
        # The same three modes as outbound servers, built in the same one place.
        return build_ssl_context(self.verify_certificate, self.certificate)

    def view(self) -> dict[str, Any]:
        """The settings as the API and CLI show them: password masked, never returned."""
        data = self.model_dump(mode="json", exclude={"password"})
        data["password"] = MASK if self.password is not None else None
        data["base_url"] = self.base_url
        data["warnings"] = self.warnings()
        return data
