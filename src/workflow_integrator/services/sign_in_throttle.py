"""How often a sign-in may be tried: a progressive delay per (user name, address).

Keyed by the name as typed, whether or not such a user exists, so the answer never
tells names apart; and by address, so a stranger who guesses at ``admin`` delays
only their own attempts, never the real admin's from another address. A cap per
address still stops one address from guessing through many names. Kept per process.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow_integrator.domain.clock import Clock, SystemClock

FREE_ATTEMPTS = 5
"""Failed sign-ins per (name, address) answered at once; after that each waits longer."""
FIRST_DELAY = 15.0
"""Seconds the first delayed attempt waits; each further failure doubles it."""
MAX_DELAY = 900.0
"""The longest wait (15 minutes)."""
ADDRESS_LIMIT = 20
"""Failed sign-ins per address, whatever the names, within ``ADDRESS_WINDOW``."""
ADDRESS_WINDOW = 300.0
_MAX_KEYS = 10_000  # bounds memory when names or addresses are made up by the thousand


@dataclass
class _Failures:
    count: int
    last: datetime


class SignInThrottle:
    """Progressive delay per (name, address) plus a cap per address; time comes from
    the injected ``clock`` (tests move it instead of sleeping)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._pairs: dict[tuple[str, str], _Failures] = {}
        self._addresses: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def retry_after(self, name: str, address: str) -> int | None:
        """Seconds before this name may be tried again from this address, or None."""
        with self._lock:
            now = self._clock.now()
            waits = [0.0]
            recent = self._recent(address, now)
            if len(recent) >= ADDRESS_LIMIT:
                waits.append((recent[0] - now).total_seconds() + ADDRESS_WINDOW)
            pair = self._pairs.get((name, address))
            if pair is not None and pair.count >= FREE_ATTEMPTS:
                waits.append((pair.last - now).total_seconds() + delay_after(pair.count))
            wait = max(waits)
            return int(wait) + 1 if wait > 0 else None

    def failed(self, name: str, address: str) -> None:
        """Record a failed sign-in of ``name`` from ``address``."""
        with self._lock:
            now = self._clock.now()
            self._recent(address, now).append(now)
            pair = self._pairs.setdefault((name, address), _Failures(0, now))
            pair.count += 1
            pair.last = now
            if len(self._pairs) > _MAX_KEYS:
                self._forget_old(now)

    def succeeded(self, name: str, address: str) -> None:
        """A right password: the pair starts afresh."""
        with self._lock:
            self._pairs.pop((name, address), None)

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        recent = self._addresses.setdefault(address, deque())
        while recent and recent[0] < now - timedelta(seconds=ADDRESS_WINDOW):
            recent.popleft()
        return recent

    def _forget_old(self, now: datetime) -> None:
        for key, pair in list(self._pairs.items()):
            if (now - pair.last).total_seconds() > MAX_DELAY:
                del self._pairs[key]
        for address in [a for a, recent in self._addresses.items() if not recent]:
            del self._addresses[address]


def delay_after(failures: int) -> float:
    """The wait after ``failures`` failed sign-ins of one pair: none for the first
    ``FREE_ATTEMPTS``, then 15 s, 30 s, 60 s ... up to 15 minutes."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return min(FIRST_DELAY * 2.0 ** min(failures - FREE_ATTEMPTS, 20), MAX_DELAY)
