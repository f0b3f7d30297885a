"""Errors the service layer raises; each interface turns them into its own answer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

# Cross-field rules name the field they concern first: "password: the password is required".
_FIELD_PREFIX = re.compile(r"^([a-z_]+): (.+)$", re.DOTALL)
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


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


class Stale(ServiceError):
    """The change was made to an older revision than the stored one (HTTP 412)."""

    def __init__(self, thing: str, current: int, expected: int) -> None:
        super().__init__(
            f"{thing} was changed by someone else since you read it (you had revision "
            f"{expected}; it is now at revision {current})"
        )
        self.current = current

    @classmethod
    def check(cls, thing: str, current: int, expected: int | None) -> None:
        """Refuse a change based on ``expected`` when ``current`` is newer (None: no check)."""
        if expected is not None and expected != current:
            raise cls(thing, current, expected)


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

    @classmethod
    def from_validation(cls, exc: ValidationError, document: Any = None) -> InvalidInput:
        """The one way a pydantic ``ValidationError`` becomes field errors (see
        :func:`describe_validation_errors`); ``document`` is the validated input."""
        return cls(describe_validation_errors(exc.errors(), document))


def describe_validation_errors(
    errors: Iterable[Mapping[str, Any]], document: Any = None
) -> list[dict[str, Any]]:
    """Pydantic errors as ``{loc, msg, type}`` entries that name the field and the fix.

    Never the rejected input (it may be a secret). pydantic's message prefixes go;
    a cross-field message that starts with ``field: `` moves the field into ``loc``;
    union tags that pydantic puts into locations (a part that is not a key of the
    document there, unless it is the missing field) mean nothing to a user and go.
    """
    described: list[dict[str, Any]] = []
    for error in errors:
        missing = error.get("type") == "missing"
        loc = _user_location(list(error.get("loc", ())), document, missing)
        msg = str(error.get("msg", "invalid value"))
        for prefix in _PYDANTIC_PREFIXES:
            msg = msg.removeprefix(prefix)
        match = _FIELD_PREFIX.match(msg)
        if match:
            if not loc or loc[-1] != match.group(1):
                loc.append(match.group(1))
            msg = match.group(2)
        described.append({"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))})
    return described


def _user_location(loc: list[Any], document: Any, missing: bool) -> list[str | int]:
    out: list[str | int] = []
    node = document
    for index, part in enumerate(loc):
        if isinstance(node, Mapping):
            if part in node:
                node = node[part]
            elif missing and index == len(loc) - 1:
                node = None  # the field the user left out
            else:
                continue  # a union tag, not a field of the document
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        out.append(part if isinstance(part, int) else str(part))
    return out
