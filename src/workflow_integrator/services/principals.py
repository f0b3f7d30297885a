"""Who is asking: an API token or a signed-in user, with a role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")


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
