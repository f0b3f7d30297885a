"""Errors the service layer raises; each interface turns them into its own answer."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of the errors a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """The named thing does not exist (HTTP 404)."""


class Conflict(ServiceError):
    """The change clashes with what exists, e.g. a duplicate name (HTTP 409)."""


class InUse(Conflict):
    """The thing is referenced and cannot be removed; ``users`` names the referrers."""

    def __init__(self, message: str, users: list[str]) -> None:
        super().__init__(message)
        self.users = users


class UnsupportedMedia(ServiceError):
    """The body is not in an encoding or type WI reads, e.g. not UTF-8 (HTTP 415)."""


class InvalidInput(ServiceError):
    """Validation failed; ``errors`` holds one ``{loc, msg}`` entry per bad field (HTTP 422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(
            "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
        )
        self.errors = errors

    @classmethod
    def single(cls, loc: list[str | int], msg: str) -> InvalidInput:
        """One error at one field."""
        return cls([{"loc": loc, "msg": msg, "type": "value_error"}])
