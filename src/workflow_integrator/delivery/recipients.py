"""The e-mail addresses of a failure notice: fixed ones, and SecureChange users looked up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from workflow_integrator.domain.failure_notice import Wanted
from workflow_integrator.securechange.client import SecureChangeError, SecureChangeUser


class UserDirectory(Protocol):
    """SecureChange's ``/users`` (``SecureChangeClient`` is one)."""

    async def user(self, user_id: int) -> SecureChangeUser:
        """The user with this id."""
        ...

    async def find_user(self, name: str) -> SecureChangeUser | None:
        """The user with this login name, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Recipients:
    """Addresses to mail, and the users that could not be mailed (with why)."""

    addresses: tuple[str, ...]
    unresolved: tuple[str, ...]


async def resolve(wanted: Wanted, directory: UserDirectory) -> Recipients:
    """Look the wanted users up; a user that cannot be found never stops the others."""
    addresses = list(wanted.addresses)
    unresolved: list[str] = []
    for user_id, name in wanted.users:
        who = name or f"user {user_id}"
        try:
            found = (await directory.user(user_id) if user_id is not None
                     else await directory.find_user(name))
        except SecureChangeError as exc:
            unresolved.append(f"{who}: {exc}")
            continue
        if found is None:
            unresolved.append(f"{who}: no such SecureChange user")
        elif not found.email:
            unresolved.append(f"{who}: has no e-mail address in SecureChange")
        elif found.email.lower() not in addresses:
            addresses.append(found.email.lower())
    return Recipients(tuple(addresses), tuple(unresolved))
