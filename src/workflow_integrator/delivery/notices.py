"""Failure notices: deliveries that went ``dead`` or stay ``held`` too long become e-mails.

Runs beside the delivery engine. Each round claims the failures nobody was told about
(in the database, so one process mails each), has the notifier queue one digest per
recipient, and wakes the mail runner. A dead outcome wakes it early; a short pause
first lets a burst of failures (a server going down) land in one digest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator import logs
from workflow_integrator.delivery.notifier import FailureNotifier
from workflow_integrator.delivery.queue import ClaimedDelivery
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.delivery import Outcome
from workflow_integrator.domain.failure_notice import FailedDelivery
from workflow_integrator.store import delivery_notices

log = logging.getLogger("workflow_integrator.delivery.notices")


class FailureNotices:
    """Finds untold failures every ``interval`` seconds (or when woken) and queues e-mails."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notifier: FailureNotifier,
        clock: Clock,
        *,
        held_after: timedelta | None,
        interval: float = 15.0,
        gather_seconds: float = 1.0,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._clock = clock
        self._held_after = held_after
        self._interval = interval
        self._gather = gather_seconds
        self._on_queued = on_queued
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._run(), name="wi-failure-notices")

    async def stop(self) -> None:
        """Stop the loop (claims of a round cut short are given back)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def wake(self) -> None:
        """Look for failures soon (a delivery just went dead)."""
        self._wake.set()

    def observe(self, _delivery: ClaimedDelivery, outcome: Outcome,
                _received_at: datetime | None) -> None:
        """An outcome observer of the send worker: a dead delivery wakes the loop."""
        if outcome.kind == "dead":
            self.wake()

    async def run_once(self) -> int:
        """Claim the untold failures and queue their e-mails; how many failures."""
        now = self._clock.now()
        notices = await asyncio.to_thread(self._claim, now)
        if not notices:
            return 0
        failures = [n.failure for n in notices]
        try:
            report = await self._notifier.notify(failures, now)
        except BaseException:
            # Given back: the next round (here or in another process) tells them.
            await asyncio.shield(asyncio.to_thread(self._unclaim, failures))
            raise
        for notice in notices:
            failure = notice.failure
            with logs.bound(delivery_id=failure.delivery_id, request_id=notice.request_id):
                log.info("delivery %s: %s; failure e-mails queued (%d this round)",
                         failure.delivery_id, failure.state, len(report.mail_ids),
                         extra={"mail_ids": list(report.mail_ids)})
        if report.mail_ids and self._on_queued is not None:
            self._on_queued()
        return len(notices)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                # A database hiccup must not end the loop; the next round tries again.
                log.exception("queuing failure e-mails failed; trying again later")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
                await asyncio.sleep(self._gather)  # more may fail with it: one digest

    def _claim(self, now: datetime) -> list[delivery_notices.Notice]:
        with self._sessions() as session:
            found = delivery_notices.claim_due(session, now, self._held_after)
            session.commit()
        return found

    def _unclaim(self, failures: list[FailedDelivery]) -> None:
        with self._sessions() as session:
            delivery_notices.unclaim(session, failures)
            session.commit()
