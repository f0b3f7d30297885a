"""The clock: the one source of the current time wherever time decides behaviour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time; injected so that tests move time instead of sleeping."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move (for tests and simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _utc(start) if start is not None else datetime.now(UTC)

    def now(self) -> datetime:
        """The time this clock was set or advanced to."""
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        """Move forward by ``delta`` (a float counts seconds)."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a clock does not run backwards; use set() for that")
        self._now += step

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (naive values are taken as UTC)."""
        self._now = _utc(when)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
