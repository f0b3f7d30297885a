"""Wake the engine's loops early: new work arrived, a slot came free, settings changed."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

from workflow_integrator.domain.clock import Clock


class Wakeup:
    """One signal heard by every loop that waits on it (each loop has its own flag)."""

    def __init__(self) -> None:
        self._events: list[asyncio.Event] = []

    def listener(self) -> asyncio.Event:
        """A flag of its own for one loop; set by every :meth:`set`."""
        event = asyncio.Event()
        self._events.append(event)
        return event

    def set(self) -> None:
        """Wake every loop (safe to call from the event loop's thread only)."""
        for event in self._events:
            event.set()


async def sleep_until(
    flag: asyncio.Event, clock: Clock, due: datetime | None, *, at_least: float, at_most: float
) -> None:
    """Wait until ``due`` (by the clock), the flag is set, or ``at_most`` seconds passed.

    ``at_least`` keeps a loop from spinning on work it cannot take yet.
    """
    wait = at_most
    if due is not None:
        wait = min(at_most, max(at_least, (due - clock.now()).total_seconds()))
    if not flag.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(flag.wait(), timeout=wait)
    flag.clear()
