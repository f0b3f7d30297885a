"""Failed sign-ins per client address, so one address cannot guess through many names."""

from __future__ import annotations

import math
import threading
from collections import deque
from datetime import datetime, timedelta

from workflow_integrator.domain.clock import Clock, SystemClock


class SignInThrottle:
    """At most ``limit`` failures per address within ``window`` seconds (per process)."""

    def __init__(self, limit: int = 20, window: float = 300.0, clock: Clock | None = None) -> None:
        self.limit = limit
        self.window = timedelta(seconds=window)
        self._clock: Clock = clock or SystemClock()
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds to wait before this address may try again, or None when it may now."""
        with self._lock:
            now = self._clock.now()
            recent = self._recent(address, now)
            if len(recent) < self.limit:
                return None
            return max(1, math.ceil((recent[0] + self.window - now).total_seconds()))

    def failed(self, address: str) -> None:
        """Record a failed sign-in from ``address``."""
        with self._lock:
            now = self._clock.now()
            self._recent(address, now).append(now)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        recent = self._failures.setdefault(address, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent
