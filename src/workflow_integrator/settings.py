"""WI's settings: one object, every knob an environment variable (``WI_...``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflow_integrator.domain.network_policy import NetworkPolicy
from workflow_integrator.domain.networks import parse_networks


class Settings(BaseSettings):
    """Settings read from ``WI_*`` environment variables (and an optional ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="WI_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Folder for the SQLite database, the secret key file and plugins.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file `wi.db` in the data folder. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db",
    )
    host: str = Field(default="127.0.0.1", description="Address `wi serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `wi serve` listens on.")
    secret_key: SecretStr | None = Field(
        default=None,
        description="Secret-encryption key(s), base64url, comma separated, newest first. "
        "Default: the key file in the data folder, created on first start (mode 0600).",
    )
    secret_key_file: Path | None = Field(
        default=None, description="Key file path; default: <data_dir>/secret.key"
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the API accepts."
    )
    plugin_dir: Path | None = Field(
        default=None, description="Folder holding custom_functions.py; default <data_dir>/plugins"
    )
    token_script_dir: Path | None = Field(
        default=None,
        description="If set, bearer token scripts must live in this folder; a path "
        "outside it is refused when a server is saved, imported or tried.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For WI believes (e.g. 10.0.0.5). Empty: the header is ignored.",
    )
    outbound_deny: str = Field(
        default="",
        description="Comma-separated addresses or CIDR networks WI never connects to "
        "(outbound servers, token URLs, proxies, SecureChange), on top of the built-in "
        "denials: link-local and cloud metadata (169.254.0.0/16, fe80::/10, "
        "fd00:ec2::254, metadata.google.internal) and unspecified addresses (0.0.0.0, ::).",
    )
    outbound_allow: str = Field(
        default="",
        description="Comma-separated addresses or CIDR networks WI may connect to even "
        "when a denial (built-in or WI_OUTBOUND_DENY) covers them.",
    )
    outbound_deny_loopback: bool = Field(
        default=False,
        description="Refuse outbound connections to loopback (127.0.0.0/8, ::1, "
        "localhost); allowed by default for local set-ups and the demo.",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Lowest level logged."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="json: one JSON object per line; text: readable lines; auto: text when "
        "stderr is a terminal, else json.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) `wi serve` presents: with tls_key_file, WI "
        "listens with HTTPS.",
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key of tls_cert_file (keep it mode 0600)."
    )

    shutdown_grace_seconds: int = Field(
        default=30, ge=0, le=3600,
        description="On SIGTERM, how long `wi serve` lets requests in flight finish.",
    )

    public_url: str | None = Field(
        default=None,
        description="WI's address as users reach it (e.g. https://wi.example.com), for "
        "links in e-mails.",
    )
    mail_interval_seconds: float = Field(
        default=15, gt=0, le=3600,
        description="How often queued failure e-mails that are due are sent.",
    )
    held_notify_after_seconds: float = Field(
        default=3600, ge=0, le=30 * 86400,
        description="A delivery held this long (its server disabled or needing credentials) "
        "is told about in a failure e-mail, once per hold; 0: held deliveries are not mailed.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends to read /metrics on WI's own address.",
    )
    metrics_listen: str | None = Field(
        default=None,
        description="host:port of a separate plain-HTTP listener serving /metrics without "
        "a token (e.g. 127.0.0.1:9464 or an internal address).",
    )
    instance_name: str | None = Field(
        default=None,
        description="This process's wi_instance label in metrics; default host:pid.",
    )

    worker_concurrency: int = Field(
        default=16, ge=1, le=1000,
        description="Requests one process sends at once (each server's max_concurrency "
        "still holds across all processes).",
    )
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI's own OpenTelemetry instrumentation report each request to "
        "the providers an installed SDK sets up (off: its per-request check is skipped).",
    )
    serve_workers: bool = Field(
        default=True,
        description="Whether `wi serve` also delivers (false: API and UI only, with "
        "`wi worker` processes delivering).",
    )
    delivery_lease_seconds: float = Field(
        default=60, ge=1, le=3600,
        description="How long a claimed delivery is reserved for its process; renewed while "
        "sending, reclaimed by others after a crash.",
    )
    delivery_drain_seconds: float = Field(
        default=10, ge=0, le=600,
        description="On shutdown, how long sends in flight may finish before they are handed "
        "back unsent.",
    )
    delivery_poll_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="Longest wait before looking for work stored by another process "
        "(PostgreSQL also wakes workers at once with LISTEN/NOTIFY).",
    )
    delivery_give_up_hours: float = Field(
        default=24, gt=0, le=8760,
        description="Hours after which a delivery that keeps failing is given up (dead); "
        "time spent held does not count, and a replay starts the age again.",
    )
    retention_days: int = Field(
        default=30, ge=1, le=3650,
        description="Days finished deliveries, their attempts and settled events are kept; "
        "older ones are pruned every few minutes.",
    )

    audit_retention_days: int = Field(
        default=365, ge=1, le=36500,
        description="Days audit-log records (who changed configuration) are kept; older "
        "ones are pruned with the deliveries' retention run.",
    )

    @field_validator("outbound_deny", "outbound_allow")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if self.metrics_listen is not None:
            host, sep, port = self.metrics_listen.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("WI_METRICS_LISTEN must be host:port, e.g. 127.0.0.1:9464")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both WI_TLS_CERT_FILE and WI_TLS_KEY_FILE to listen with "
                             "HTTPS, or neither")
        return self

    @property
    def outbound_policy(self) -> NetworkPolicy:
        """The outbound network policy these settings describe."""
        return NetworkPolicy.from_settings(
            self.outbound_deny, self.outbound_allow, self.outbound_deny_loopback
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'wi.db').resolve()}"

    @property
    def resolved_secret_key_file(self) -> Path:
        """Where the generated secret key lives when ``WI_SECRET_KEY`` is not set."""
        return self.secret_key_file or self.data_dir / "secret.key"

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where the separate metrics listener binds, if one is set."""
        if self.metrics_listen is None:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def delivery_give_up_after(self) -> timedelta:
        """How long a delivery is retried before it is given up."""
        return timedelta(hours=self.delivery_give_up_hours)

    @property
    def resolved_plugin_dir(self) -> Path:
        """Folder of the ``custom_functions.py`` placeholder plugin."""
        return self.plugin_dir or self.data_dir / "plugins"
