"""Who is asking: an API token or a signed-in user, with a role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "viewer", "trigger"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
"""Roles of people signing in to the web UI."""
TOKEN_ROLES: tuple[Role, ...] = ("admin", "viewer", "trigger")
"""Roles of API tokens: ``trigger`` may only deliver workflow events (wi-trigger's token,
which lives on the SecureChange host, so a stolen one cannot reconfigure WI)."""


@dataclass(frozen=True)
class Principal:
    """The caller of an operation. ``viewer`` sees everything and changes nothing."""

    name: str
    role: Role
    kind: Literal["token", "user"] = "token"

    @property
    def can_write(self) -> bool:
        """Only admins change configuration."""
        return self.role == "admin"

    @property
    def can_read(self) -> bool:
        """Admins and viewers see configuration; a trigger token sees nothing."""
        return self.role in ("admin", "viewer")

    @property
    def can_send_events(self) -> bool:
        """Admins and trigger tokens deliver workflow events to the intake."""
        return self.role in ("admin", "trigger")
