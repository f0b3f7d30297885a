"""The one rule for what is worth retrying, and how long to wait before the next try."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 425, 429, *range(500, 600)})


def is_retryable_status(status: int) -> bool:
    """408, 425, 429 and every 5xx may succeed later; other statuses will not."""
    return status in RETRYABLE_STATUSES


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for (seconds or HTTP date); None if absent."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    text = raw.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))


def backoff_delay(
    attempt: int, rng: random.Random, *, first: float = 1.0, cap: float = 600.0
) -> timedelta:
    """Exponential backoff with full jitter after failed attempt number ``attempt`` (1-based)."""
    ceiling = min(cap, first * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=rng.uniform(0, ceiling))
