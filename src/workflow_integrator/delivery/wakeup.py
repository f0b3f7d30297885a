"""The engine's loops: how they sleep, how they are woken early, how they survive errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from workflow_integrator.domain.clock import Clock

log = logging.getLogger("workflow_integrator.delivery")
#: Pause after an unexpected error (a database restart, say) before the loop goes on.
ERROR_PAUSE_SECONDS = 2.0


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


async def keep_running(
    name: str,
    running: Callable[[], bool],
    step: Callable[[], Awaitable[bool]],
    idle: Callable[[], Awaitable[None]],
) -> None:
    """Run ``step`` while ``running()``; ``idle`` when a step found nothing to do.

    An unexpected error is logged and the loop goes on after a pause: a database that
    restarts must not stop delivery for good.
    """
    while running():
        try:
            if not await step() and running():
                await idle()
        except Exception:
            log.exception("%s: unexpected error; going on in %ss", name, ERROR_PAUSE_SECONDS)
            await asyncio.sleep(ERROR_PAUSE_SECONDS)
