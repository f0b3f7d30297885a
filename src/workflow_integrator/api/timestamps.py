"""Times in query parameters and filter bodies: ISO 8601 text only.

pydantic also reads numbers (and text such as ``0.5``) as seconds since 1970, which
the OpenAPI document (``format: date-time``) does not promise and no user means.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator


def _iso_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value[:4].isdigit() or len(value) < 10 \
            or value[4] != "-":
        raise ValueError("enter a datetime in ISO 8601, such as 2026-03-01T12:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_text)]
"""A date and time written in ISO 8601 (``2026-03-01`` or ``2026-03-01T12:00:00Z``)."""
