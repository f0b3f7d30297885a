"""Retention: finished deliveries, their attempts and settled events older than the
retention are pruned now and then, in batches, by the queue's one pruning rule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from workflow_integrator.delivery.queue import DeliveryQueue
from workflow_integrator.delivery.worker import off_loop
from workflow_integrator.domain.clock import Clock

log = logging.getLogger("workflow_integrator.delivery.retention")


class Retention:
    """Runs the queue's ``prune`` at most once per ``every`` (by the clock)."""

    def __init__(self, queue: DeliveryQueue, clock: Clock, keep: timedelta,
                 every: timedelta, batch: int,
                 others: Sequence[Callable[[datetime], int]] = ()) -> None:
        self.queue = queue
        #: Other records with their own retention (the audit log), pruned on the same run.
        self.others = tuple(others)
        self.clock = clock
        self.keep = keep
        self.every = every
        self.batch = batch
        #: None: the first run is due at once (a process that starts prunes).
        self.next_run: datetime | None = None

    async def prune_if_due(self) -> int | None:
        """Prune when a run is due: how many rows went, or None when none was due."""
        now = self.clock.now()
        if self.next_run is not None and now < self.next_run:
            return None
        self.next_run = now + self.every
        removed = await off_loop(self.queue.prune, now - self.keep, self.batch)
        for prune in self.others:
            removed += await off_loop(prune, now)
        if removed:
            log.info("retention: pruned %s records older than %s", removed, now - self.keep)
        return removed
