"""The loops that send deliveries and write responses back (they know no SQL).

Sending: claim due deliveries in batches up to the free local slots (once half of
them are free, so a busy worker claims in batches, not one by one), read what the
batch needs in one go, send each as its own task, renew the leases of sends in
flight, and persist every outcome under ``asyncio.shield`` so that cancelling a
worker never loses what a send learned. Outcomes finishing together are recorded in
one transaction (group commit: one durable commit for many).
Write-back runs apart, so a slow SecureChange never holds up sending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from workflow_integrator import logs
from workflow_integrator.delivery.configuration import Configuration, UnknownServer, read_once
from workflow_integrator.delivery.planner import event_facts
from workflow_integrator.delivery.queue import (
    ClaimedDelivery,
    ClaimedWriteback,
    DeliveryContext,
    DeliveryQueue,
    OutcomeToRecord,
)
from workflow_integrator.delivery.sender import Sender, ServerRevision
from workflow_integrator.delivery.wakeup import Wakeup, keep_running, sleep_until
from workflow_integrator.delivery.writeback import TicketWriter, WritebackResult
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.delivery import Outcome
from workflow_integrator.domain.events import ticket_info_from_dict
from workflow_integrator.domain.integration import IntegrationPoint
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeError
from workflow_integrator.securechange.tickets import NotConfigured, SecureChangeTicketReader
from workflow_integrator.templating.placeholders import PlaceholderValues

log = logging.getLogger("workflow_integrator.delivery.worker")
T = TypeVar("T")
OutcomeObserver = Callable[[ClaimedDelivery, Outcome, datetime | None], None]
"""Told of each stored outcome, with when the delivery's event was received."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How much a worker process takes on and how it keeps its claims."""

    concurrency: int = 16
    lease: timedelta = timedelta(seconds=60)
    writeback_concurrency: int = 4
    #: Longest sleep without being woken: other processes may add work (SQLite has no NOTIFY).
    poll_seconds: float = 1.0
    #: Shortest sleep when work is due but cannot be taken yet (limits, breaker).
    min_sleep_seconds: float = 0.05
    #: How often held deliveries are checked against their servers' state.
    held_refresh_seconds: float = 2.0
    #: How long finished deliveries, their attempts and settled events are kept.
    retention: timedelta = timedelta(days=30)
    #: How often the retention is applied, and how many rows go per transaction.
    prune_every: timedelta = timedelta(minutes=5)
    prune_batch: int = 500

    @property
    def renew_seconds(self) -> float:
        """Leases of sends in flight are renewed three times per lease."""
        return self.lease.total_seconds() / 3


async def off_loop(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A database call in a thread: the event loop never waits on the database."""
    return await asyncio.to_thread(call, *args, **kwargs)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What sending one claimed delivery needs, read together with its batch."""

    context: DeliveryContext
    point: IntegrationPoint | None
    server: ServerRevision | None
    server_error: str | None = None
    #: None when the ticket must be read again first (a write-back changed it).
    values: PlaceholderValues | None = None


class OutcomeRecorder:
    """Group commit of outcomes: those finishing while a transaction is being written
    go together in the next one, so a busy worker pays one durable commit for many."""

    def __init__(self, queue: DeliveryQueue, worker_id: str) -> None:
        self._queue = queue
        self._worker_id = worker_id
        self._waiting: list[tuple[OutcomeToRecord, asyncio.Future[bool]]] = []
        self._writer: asyncio.Future[None] | None = None

    def record(self, delivery_id: int, outcome: Outcome, now: datetime) -> asyncio.Future[bool]:
        """Queue an outcome; the future says whether it was stored (False: lease lost)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((OutcomeToRecord(delivery_id, outcome, now), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        return future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                stored = await off_loop(self._queue.record_many, self._worker_id,
                                        [item for item, _ in batch])
            except Exception:
                log.exception("recording %d outcomes together failed; recording each alone",
                              len(batch))
                await self._write_each(batch)
                continue
            for (_, future), ok in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(ok)

    async def _write_each(self, batch: list[tuple[OutcomeToRecord, asyncio.Future[bool]]]) -> None:
        # One bad outcome must not cost the others theirs.
        for item, future in batch:
            try:
                ok = await off_loop(self._queue.record, item.delivery_id, self._worker_id,
                                    item.outcome, item.now)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(ok)


class SendWorker:
    """Claims and sends deliveries (see the module docstring)."""

    def __init__(
        self,
        queue: DeliveryQueue,
        sender: Sender,
        configuration: Configuration,
        securechange: SecureChangeTicketReader,
        clock: Clock,
        worker_id: str,
        wakeup: Wakeup,
        settings: WorkerSettings | None = None,
    ) -> None:
        self._queue = queue
        self._sender = sender
        self._config = configuration
        self._securechange = securechange
        self._clock = clock
        self.worker_id = worker_id
        self._wakeup = wakeup
        self._flag = wakeup.listener()
        self.settings = settings or WorkerSettings()
        self._sends: dict[int, asyncio.Task[None]] = {}
        self._records: set[asyncio.Future[Any]] = set()
        self._recorder = OutcomeRecorder(queue, worker_id)
        self._stopping = False
        self._last_held_refresh: float | None = None
        #: Called with each stored outcome (metrics, failure notices): quick, never raising.
        self.on_recorded: list[OutcomeObserver] = []

    @property
    def in_flight(self) -> list[int]:
        """Ids of the deliveries being sent by this worker now."""
        return list(self._sends)

    async def run(self) -> None:
        """Claim and send until :meth:`stop`; renew leases alongside."""
        renewer = asyncio.create_task(self._renew_leases(), name="wi-lease-renewal")
        try:
            await keep_running("sending", lambda: not self._stopping, self._step, self._idle)
        finally:
            renewer.cancel()

    async def _step(self) -> bool:
        busy = len(self._sends)
        if busy >= self.settings.concurrency or (
            busy and self.settings.concurrency - busy < self._claim_batch
        ):
            # Too few slots free for a batch: a finishing send sets the flag.
            await sleep_until(self._flag, self._clock, None, at_least=0,
                              at_most=self.settings.poll_seconds)
            return True
        return await self.claim_and_start() > 0

    async def _idle(self) -> None:
        due = await off_loop(self._queue.next_due, self._clock.now(), "send")
        await sleep_until(self._flag, self._clock, due, at_least=self.settings.min_sleep_seconds,
                          at_most=self.settings.poll_seconds)

    @property
    def _claim_batch(self) -> int:
        """While sends are in flight, claim only once this many slots are free."""
        return max(1, self.settings.concurrency // 2)

    def wake(self) -> None:
        """Look for due deliveries now (planning stored some)."""
        self._flag.set()

    def stop(self) -> None:
        """Stop claiming (sends in flight go on until :meth:`drain`)."""
        self._stopping = True
        self._flag.set()

    async def claim_and_start(self) -> int:
        """Refresh held deliveries when due, claim up to the free slots, start their sends."""
        await self._refresh_held()
        free = self.settings.concurrency - len(self._sends)
        if free <= 0:
            return 0
        claimed = await off_loop(self._queue.claim, self.worker_id, free, self._clock.now(),
                                 self.settings.lease)
        prepared: dict[int, Prepared] = {}
        if claimed:
            try:
                prepared = await off_loop(self._prepare_batch, claimed)
            except Exception:  # each send then reads what it needs itself, reporting why not
                log.exception("reading the configuration of %d deliveries failed", len(claimed))
        for delivery in claimed:
            task = asyncio.create_task(self._deliver(delivery, prepared.get(delivery.id)),
                                       name=f"wi-send-{delivery.id}")
            self._sends[delivery.id] = task
            task.add_done_callback(self._finished)
        return len(claimed)

    async def wait_idle(self) -> None:
        """Wait until every send started so far is finished and recorded."""
        while self._sends or self._records:
            await asyncio.gather(*self._sends.values(), *self._records,
                                 return_exceptions=True)

    async def drain(self, grace_seconds: float) -> None:
        """Stop claiming; let sends in flight finish within the grace period, then cancel
        the rest (their deliveries are released, the attempt not counted)."""
        self.stop()
        if self._sends:
            _done, pending = await asyncio.wait(list(self._sends.values()),
                                                timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._records:
            await asyncio.gather(*self._records, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._sends = {i: t for i, t in self._sends.items() if t is not task}
        self._flag.set()  # a slot came free

    async def _refresh_held(self) -> None:
        loop_time = asyncio.get_running_loop().time()
        last = self._last_held_refresh
        if last is not None and loop_time - last < self.settings.held_refresh_seconds:
            return
        self._last_held_refresh = loop_time
        await off_loop(self._queue.refresh_held, self._clock.now())

    def refresh_held_soon(self) -> None:
        """Check held deliveries on the next pass (a server was saved or enabled)."""
        self._last_held_refresh = None
        self._flag.set()

    async def _deliver(self, delivery: ClaimedDelivery, prepared: Prepared | None) -> None:
        # Its own task: every line logged from here on (threads included) names the delivery.
        logs.bind(delivery_id=delivery.id)
        try:
            if prepared is None:
                context = await off_loop(self._queue.context, delivery.id)
                prepared = await off_loop(self._prepare, delivery, context, self._config)
            logs.bind(request_id=prepared.context.request_id)
            outcome = await self._outcome(delivery, prepared)
        except asyncio.CancelledError:
            await self._persist(self._queue.release, self.worker_id, [delivery.id])
            raise
        except Exception as exc:  # a bug must not leave the delivery in flight until expiry
            log.exception("delivery %s: unexpected error", delivery.id)
            outcome = self._sender.not_sent(
                delivery, f"internal error: {type(exc).__name__}: {exc}", stage="internal",
                retry=True,
            )
        stored = await self._record(delivery.id, outcome)
        if not stored:
            log.warning("delivery %s: outcome %s not stored, the lease was lost",
                        delivery.id, outcome.kind)
            return
        log.info("delivery %s: %s (%s)", delivery.id, outcome.kind, outcome.reason,
                 extra={"outcome": outcome.kind, "status": outcome.status,
                        "attempt": delivery.attempt})
        received_at = prepared.context.received_at if prepared is not None else None
        for hook in self.on_recorded:
            try:
                hook(delivery, outcome, received_at)
            except Exception:  # an observer (metrics, notices) must never lose an outcome
                log.exception("delivery %s: an outcome observer failed", delivery.id)
        if outcome.writeback:
            self._wakeup.set()  # the write-back loop has work

    async def _record(self, delivery_id: int, outcome: Outcome) -> bool:
        """Record an outcome (grouped with others) even if this task is cancelled meanwhile."""
        future = self._recorder.record(delivery_id, outcome, self._clock.now())
        self._records.add(future)
        future.add_done_callback(self._records.discard)
        return await asyncio.shield(future)

    async def _persist(self, call: Callable[..., T], *args: Any) -> T:
        """Run a store call to its end even if this task is cancelled meanwhile."""
        future = asyncio.ensure_future(off_loop(call, *args))
        self._records.add(future)
        future.add_done_callback(self._records.discard)
        return await asyncio.shield(future)

    def _prepare_batch(self, claimed: list[ClaimedDelivery]) -> dict[int, Prepared]:
        """Contexts, points, servers and values of a claimed batch: each integration and
        server read once for the batch (off the loop)."""
        config = read_once(self._config)
        contexts = self._queue.contexts([d.id for d in claimed])
        return {d.id: self._prepare(d, contexts[d.id], config)
                for d in claimed if d.id in contexts}

    def _prepare(
        self, delivery: ClaimedDelivery, context: DeliveryContext, config: Configuration
    ) -> Prepared:
        integration = config.integration(delivery.workflow)
        point = integration.point(delivery.point_name) if integration is not None else None
        if point is None:
            return Prepared(context, None, None)
        try:
            server = config.server(delivery.server_id)
        except UnknownServer as exc:
            return Prepared(context, point, None, str(exc))
        if context.stale:
            return Prepared(context, point, server)
        values = self._values(delivery, Ticket.from_dict(context.ticket), context.event,
                              context.info, config)
        return Prepared(context, point, server, values=values)

    async def _outcome(self, delivery: ClaimedDelivery, prepared: Prepared) -> Outcome:
        context, point, server = prepared.context, prepared.point, prepared.server
        if point is None:
            return self._sender.not_sent(
                delivery, f"the integration of '{delivery.workflow}' no longer has a point "
                f"named '{delivery.point_name}'", stage="config", retry=False)
        if server is None:
            return self._sender.not_sent(delivery, prepared.server_error or "", stage="config",
                                         retry=False)
        if prepared.values is not None:
            return await self._sender.send(delivery, point, server, prepared.values)
        if context.stale:
            read_at = self._clock.now()  # before reading: a write-back meanwhile stays newer
            try:
                ticket = await self._securechange.ticket(delivery.ticket_id)
            except (SecureChangeError, NotConfigured) as exc:
                retry = not isinstance(exc, SecureChangeError) or exc.retryable or (
                    exc.status in (401, 403))
                return self._sender.not_sent(
                    delivery, f"the ticket must be read again (a write-back changed it): {exc}",
                    stage="ticket", retry=retry)
            await off_loop(self._queue.save_ticket, delivery.id, ticket.to_dict(), read_at)
        else:
            ticket = Ticket.from_dict(context.ticket)
        values = await off_loop(self._values, delivery, ticket, context.event, context.info,
                                self._config)
        return await self._sender.send(delivery, point, server, values)

    def _values(
        self, delivery: ClaimedDelivery, ticket: Ticket, event: str, info: dict[str, Any],
        config: Configuration,
    ) -> PlaceholderValues:
        trigger = ticket_info_from_dict(info)
        return config.values(
            ticket, event_facts(event, trigger), create_date=trigger.create_date,
            update_date=trigger.update_date,
            integration=config.integration(delivery.workflow),
        )

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.settings.renew_seconds)
            ids = self.in_flight
            if ids:
                await off_loop(self._queue.renew, self.worker_id, ids, self._clock.now(),
                               self.settings.lease)


class WritebackWorker:
    """Claims due write-backs and applies them, a few at a time."""

    def __init__(
        self,
        queue: DeliveryQueue,
        writer: TicketWriter,
        clock: Clock,
        worker_id: str,
        wakeup: Wakeup,
        settings: WorkerSettings | None = None,
    ) -> None:
        self._queue = queue
        self._writer = writer
        self._clock = clock
        self.worker_id = worker_id
        self._wakeup = wakeup
        self._flag = wakeup.listener()
        self.settings = settings or WorkerSettings()
        self._stopping = False

    async def run(self) -> None:
        """Write back until :meth:`stop`."""
        await keep_running("write-back", lambda: not self._stopping, self._step, self._idle)

    async def _step(self) -> bool:
        return await self.run_once() > 0

    async def _idle(self) -> None:
        due = await off_loop(self._queue.next_due, self._clock.now(), "writeback")
        await sleep_until(self._flag, self._clock, due, at_least=self.settings.min_sleep_seconds,
                          at_most=self.settings.poll_seconds)

    def stop(self) -> None:
        """Stop after the write-backs in progress."""
        self._stopping = True
        self._flag.set()

    async def run_once(self) -> int:
        """Claim a batch of due write-backs and apply them; how many were claimed."""
        claimed = await off_loop(self._queue.claim_writebacks, self.worker_id,
                                 self.settings.writeback_concurrency, self._clock.now(),
                                 self.settings.lease)
        if claimed:
            await asyncio.gather(*(self._write(item) for item in claimed))
            self._wakeup.set()  # a ticket's later delivery may wait for these
        return len(claimed)

    async def _write(self, item: ClaimedWriteback) -> None:
        logs.bind(delivery_id=item.delivery_id)  # its own task (gathered): lines name it
        try:
            result = await self._writer.write(item)
        except Exception as exc:  # retried like SecureChange being down, not lost
            log.exception("write-back of delivery %s: unexpected error", item.delivery_id)
            result = WritebackResult(False, f"internal error: {type(exc).__name__}: {exc}",
                                     self._clock.now() + timedelta(seconds=30))
        log.info("write-back of delivery %s: %s (%s)", item.delivery_id,
                 "done" if result.ok else "retry" if result.retry_at else "failed",
                 result.detail)
        persisted: Awaitable[bool] = off_loop(
            self._queue.record_writeback, item.delivery_id, self.worker_id, result.ok,
            result.detail, result.retry_at, self._clock.now())
        await asyncio.shield(asyncio.ensure_future(persisted))
