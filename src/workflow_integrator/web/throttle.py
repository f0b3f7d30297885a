"""Failed sign-ins per client address, so one address cannot guess through many names."""

from __future__ import annotations

import threading
import time
from collections import deque


class SignInThrottle:
    """At most ``limit`` failures per address within ``window`` seconds (per process)."""

    def __init__(self, limit: int = 20, window: float = 300.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds to wait before this address may try again, or None when it may now."""
        with self._lock:
            recent = self._recent(address, time.monotonic())
            if len(recent) < self.limit:
                return None
            return int(recent[0] + self.window - time.monotonic()) + 1

    def failed(self, address: str) -> None:
        """Record a failed sign-in from ``address``."""
        with self._lock:
            self._recent(address, time.monotonic()).append(time.monotonic())

    def _recent(self, address: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(address, deque())
        while recent and recent[0] < now - self.window:
            recent.popleft()
        return recent
