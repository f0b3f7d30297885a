"""Every table of WI, imported in one place so that ``metadata`` knows them all."""

from __future__ import annotations

from workflow_integrator.store import (
    api_tokens,
    audit,
    deliveries,
    events,
    integrations,
    mail_outbox,
    securechange_settings,
    servers,
    smtp_settings,
    tokens,
    users,
)
from workflow_integrator.store.base import Base

metadata = Base.metadata

ENCRYPTED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("outbound_servers", "id", "secrets"),
    ("securechange_settings", "id", "password"),
    ("smtp_settings", "id", "password"),
    ("oauth_tokens", "server_id", "access_token"),
    ("oauth_tokens", "server_id", "refresh_token"),
)
"""(table, primary-key column, column) of every column that holds SecretBox ciphertext."""

__all__ = [
    "ENCRYPTED_COLUMNS",
    "api_tokens",
    "audit",
    "deliveries",
    "events",
    "integrations",
    "mail_outbox",
    "metadata",
    "securechange_settings",
    "servers",
    "smtp_settings",
    "tokens",
    "users",
]
