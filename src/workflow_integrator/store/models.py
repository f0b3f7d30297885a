"""Every table of WI, imported in one place so that ``metadata`` knows them all."""

from __future__ import annotations

from workflow_integrator.store import (
    api_tokens,
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

__all__ = [
    "api_tokens",
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
