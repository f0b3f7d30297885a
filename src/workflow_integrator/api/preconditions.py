"""Optimistic concurrency over HTTP: a resource's ``revision`` as its ``ETag``, and ``If-Match``.

A client sends back the ETag it read; a change to a newer revision answers 412 so that
two editors never silently overwrite each other. Without ``If-Match`` writes work as before.
"""

from __future__ import annotations

from fastapi import Request, Response

from workflow_integrator.services.errors import ServiceError


class BadPrecondition(ServiceError):
    """An ``If-Match`` header that can never match a revision (HTTP 412)."""


def etag(revision: int) -> str:
    """The strong entity tag of a resource at ``revision``."""
    return f'"{revision}"'


def expected_revision(request: Request) -> int | None:
    """The revision ``If-Match`` names; None when the header is absent or ``*``."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip()
    if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2:
        tag = tag[1:-1]
    if not (tag.isascii() and tag.isdigit()):
        raise BadPrecondition(
            f"If-Match must be one ETag as a read returned it, such as '\"3\"', not {header!r}"
        )
    return int(tag)


def tag_response(response: Response, revision: int) -> None:
    """Put the resource's ETag on ``response``."""
    response.headers["ETag"] = etag(revision)
