"""The delivery engine: planning, sending and write-back loops, started and drained together.

``wi serve`` runs it inside the web process (started and drained by the lifespan);
``wi worker`` runs it alone. Any number of processes may share one database: the
queue's claims and leases keep them from sending a delivery twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from workflow_integrator.delivery.configuration import Configuration, UnknownServer
from workflow_integrator.delivery.planner import Planner
from workflow_integrator.delivery.queue import DeliveryQueue
from workflow_integrator.delivery.retention import Retention
from workflow_integrator.delivery.sender import Sender, ServerRevision
from workflow_integrator.delivery.wakeup import Wakeup, keep_running, sleep_until
from workflow_integrator.delivery.worker import (
    SendWorker,
    WorkerSettings,
    WritebackWorker,
    off_loop,
)
from workflow_integrator.delivery.writeback import TicketWriter
from workflow_integrator.domain.clock import Clock
from workflow_integrator.outbound.transport import TransportPool
from workflow_integrator.services.errors import NotFound
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue
from workflow_integrator.store.wakeups import can_notify, listen_dsn, listen_for_work

if TYPE_CHECKING:
    from workflow_integrator.app import Services

log = logging.getLogger("workflow_integrator.delivery.engine")


def new_worker_id() -> str:
    """A name for this process's claims: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DeliveryEngine:
    """The loops of one process (see the module docstring)."""

    queue: DeliveryQueue
    planner: Planner
    sender: SendWorker
    writeback: WritebackWorker
    wakeup: Wakeup
    clock: Clock
    settings: WorkerSettings
    retention: Retention
    #: PostgreSQL: where to LISTEN for work stored by other processes (None: poll only).
    listen: str | None = None
    #: On stop, how long sends in flight may finish before they are handed back.
    drain_seconds: float = 10.0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _planning: bool = False
    _plan_flag: asyncio.Event | None = None
    _stop_flag: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        """Whether the loops were started and not stopped."""
        return bool(self._tasks)

    def health(self) -> tuple[bool, str]:
        """Whether every loop runs (for ``/readyz``), and which do not."""
        if not self._tasks:
            return False, "the delivery engine is not running"
        stopped = [t.get_name() for t in self._tasks if t.done()]
        if stopped:
            return False, f"delivery loops stopped: {', '.join(stopped)}"
        return True, (f"{len(self._tasks)} loops running, {len(self.sender.in_flight)} of "
                      f"{self.settings.concurrency} sends in flight (worker "
                      f"{self.sender.worker_id})")

    def wake(self) -> None:
        """New work may be due (an event was stored, a server was saved): look now."""
        self.sender.refresh_held_soon()
        self.wakeup.set()

    def wake_threadsafe(self) -> None:
        """:meth:`wake` from any thread (intake stores events in worker threads)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.wake)

    def wake_planner(self) -> None:
        """Events were stored or replanned: only the planner has new work (sending and
        write-back are woken by what planning stores)."""
        if self._plan_flag is not None:
            self._plan_flag.set()

    def wake_for_work(self) -> None:
        """Another process stored events or replayed deliveries: plan and send now (held
        deliveries are checked on their own schedule)."""
        self.wake_planner()
        self.sender.wake()

    def wake_planner_threadsafe(self) -> None:
        """:meth:`wake_planner` from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.wake_planner)

    async def start(self) -> None:
        """Start the planning, sending and write-back loops."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._planning = True
        self._plan_flag = self.wakeup.listener()
        self._stop_flag = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._plan_loop(), name="wi-planner"),
            asyncio.create_task(self.sender.run(), name="wi-sender"),
            asyncio.create_task(self.writeback.run(), name="wi-writeback"),
            asyncio.create_task(self._prune_loop(), name="wi-retention"),
        ]
        if self.listen is not None:
            self._tasks.append(asyncio.create_task(
                listen_for_work(self.listen, self.wake_for_work), name="wi-listen"))
        for task in self._tasks:
            task.add_done_callback(_report_crash)
        log.info("delivery engine started (worker %s, %s concurrent sends)",
                 self.sender.worker_id, self.settings.concurrency)

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; finish or release the sends in flight within ``grace_seconds``
        (default :attr:`drain_seconds`)."""
        self._loop = None
        if grace_seconds is None:
            grace_seconds = self.drain_seconds
        if not self._tasks:
            return
        self._planning = False
        if self._plan_flag is not None:
            self._plan_flag.set()
        if self._stop_flag is not None:
            self._stop_flag.set()
        self.writeback.stop()
        for task in self._tasks:
            if task.get_name() == "wi-listen":
                task.cancel()
        await self.sender.drain(grace_seconds)
        _done, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        log.info("delivery engine stopped")

    async def _plan_loop(self) -> None:
        await keep_running("planning", lambda: self._planning, self._plan_step, self._plan_idle)

    async def _prune_loop(self) -> None:
        await keep_running("retention", lambda: self._planning, self._prune_step,
                           self._prune_idle)

    async def _prune_step(self) -> bool:
        await self.retention.prune_if_due()
        return False

    async def _prune_idle(self) -> None:
        assert self._stop_flag is not None
        # The clock decides when a run is due; a poll looks at it now and then.
        await sleep_until(self._stop_flag, self.clock, self.retention.next_run,
                          at_least=self.settings.min_sleep_seconds,
                          at_most=self.settings.poll_seconds)

    async def _plan_step(self) -> bool:
        if not await self.planner.plan_due():
            return False
        self.sender.wake()  # the send loop has new deliveries
        return True

    async def _plan_idle(self) -> None:
        assert self._plan_flag is not None
        due = await off_loop(self.queue.next_due, self.clock.now(), "plan")
        await sleep_until(self._plan_flag, self.clock, due,
                          at_least=self.settings.min_sleep_seconds,
                          at_most=self.settings.poll_seconds)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("delivery loop %s stopped: %r", task.get_name(), task.exception())


def build_engine(
    services: Services,
    queue: DeliveryQueue,
    *,
    clock: Clock | None = None,
    settings: WorkerSettings | None = None,
    transports: TransportPool | None = None,
    rng: random.Random | None = None,
) -> DeliveryEngine:
    """An engine on the process's services: its servers, integrations and SecureChange."""
    clock = clock or services.clock
    settings = settings or WorkerSettings()
    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    worker_id = new_worker_id()
    wakeup = Wakeup()
    pool = transports or services.transports
    line = services.tickets
    configuration = engine_configuration(services)
    sender = Sender(pool, clock, rng)
    planner = Planner(queue, configuration, line, clock, worker_id, rng, lease=settings.lease)
    send_worker = SendWorker(queue, sender, configuration, line, clock, worker_id, wakeup,
                             settings)
    writeback = WritebackWorker(queue, TicketWriter(line, clock, rng), clock, worker_id, wakeup,
                                settings)
    retention = Retention(queue, clock, settings.retention, settings.prune_every,
                          settings.prune_batch, others=(services.audit.prune,))
    listen = listen_dsn(services.engine) if can_notify(services.engine) else None
    return DeliveryEngine(queue, planner, send_worker, writeback, wakeup, clock, settings,
                          retention, listen)


def engine_configuration(services: Services) -> Configuration:
    """The engine's view of the process's integrations, placeholders and servers."""

    def server_id(name: str) -> int:
        try:
            return services.servers.id_of(name)
        except NotFound as exc:
            raise UnknownServer(exc.message) from None

    def server(server_id: int) -> ServerRevision:
        try:
            row, config = services.servers.get_config_by_id(server_id)
        except NotFound as exc:
            raise UnknownServer(exc.message) from None
        return ServerRevision(row.id, row.revision, config)

    return Configuration(
        integration=services.integrations.for_workflow,
        values=services.placeholders.values,
        server_id=server_id,
        server=server,
        securechange_url=services.securechange.web_url,
    )


def delivery_engine(
    services: Services, *, concurrency: int | None = None, clock: Clock | None = None
) -> DeliveryEngine:
    """The engine on the process's database with WI's delivery settings, woken when this
    process stores an event, replans one or saves a server's connection."""
    settings = services.settings
    queue = DatabaseDeliveryQueue(services.engine, services.sessions,
                                  give_up_after=settings.delivery_give_up_after)
    worker = WorkerSettings(
        concurrency=concurrency or settings.worker_concurrency,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        poll_seconds=settings.delivery_poll_seconds,
        retention=timedelta(days=settings.retention_days),
    )
    engine = build_engine(services, queue, clock=clock, settings=worker)
    engine.drain_seconds = settings.delivery_drain_seconds
    services.events.on_stored.append(engine.wake_planner_threadsafe)
    services.replans.on_replanned.append(engine.wake_planner_threadsafe)
    services.deliveries.on_replayed.append(engine.wake_threadsafe)
    services.servers.change_hooks.append(lambda _session, _server_id: engine.wake_threadsafe())
    engine.sender.on_recorded.append(services.metrics.outcome_observer(engine.clock))
    services.readiness.watch("workers", engine.health)
    return engine


async def run_until_stopped(engine: DeliveryEngine, stop: asyncio.Event,
                            grace_seconds: float) -> None:
    """Run ``engine`` until ``stop`` is set, then drain it (``wi worker``)."""
    await engine.start()
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    await engine.stop(grace_seconds)
