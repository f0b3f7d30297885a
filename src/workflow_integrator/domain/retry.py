"""The one rule for retrying a request: which responses are worth retrying, and when.

Network errors and timeouts are retryable too; callers classify exceptions (see
``outbound.errors`` for the stage of a failure).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
"""Request Timeout, Too Early, Too Many Requests and every server error."""


def is_retryable_status(status: int) -> bool:
    """True when a response with this status may succeed if sent again later."""
    return status in RETRYABLE_STATUSES


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for (seconds or HTTP-date), never negative.

    None when the header is absent or unreadable.
    """
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110: an HTTP-date is always GMT
    return max(when - now, timedelta(0))


def backoff_delay(
    attempt: int, rng: random.Random, *, first: float = 1.0, cap: float = 600.0
) -> timedelta:
    """Exponential backoff with full jitter: uniform(0, min(cap, first * 2**(attempt-1))).

    ``attempt`` counts from 1 (the wait after the first failure).
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    # Capping the exponent keeps huge attempt numbers from overflowing a float.
    ceiling = min(cap, first * 2.0 ** min(attempt - 1, 1023))
    return timedelta(seconds=rng.uniform(0.0, ceiling))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, found in headers.items():
        if key.lower() == name:
            return found
    return None
