"""Runs the failure-mail queue beside the API (a background runner of the lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from workflow_integrator.delivery.mailer import FailureMailer

log = logging.getLogger("workflow_integrator.delivery.mail_runner")


class MailRunner:
    """Sends due failure e-mails every ``interval`` seconds until stopped.

    Any number of processes may run one: claims with a lease keep each e-mail to one
    sender at a time.
    """

    def __init__(self, mailer: FailureMailer, now: Callable[[], datetime],
                 interval: float = 15.0) -> None:
        self._mailer = mailer
        self._now = now
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run(), name="wi-failure-mails")

    async def stop(self) -> None:
        """Stop the loop; an e-mail being sent has its outcome recorded (shielded)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._mailer.settled()  # an e-mail just sent is recorded before we return
        self._task = None

    def wake(self) -> None:
        """Send now instead of at the next interval (after new e-mails were queued)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                # A full batch means more may be due: go again at once.
                while await self._mailer.send_due(self._now()) >= 20:
                    pass
            except Exception:
                # A database hiccup must not end the loop; the next round tries again.
                log.exception("sending failure e-mails failed; trying again later")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
