"""Planning: a stored event becomes one delivery per firing point, or a reason why not.

The ticket is read from SecureChange (a ticket that cannot be read leaves the event
pending, retried with backoff); the workflow's integration and its points are
matched on the event's own step context (the trigger document's completed and
current step, not the step the ticket has reached since); each point's server is
routed. Requests are not rendered here: they are rendered when sent, so a later
point can use what an earlier one wrote back. A batch of events is decided with one
read of each integration and server, and its plans are stored in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow_integrator import logs
from workflow_integrator.delivery.configuration import Configuration, UnknownServer, read_once
from workflow_integrator.delivery.queue import (
    ClaimedEvent,
    DeliveryQueue,
    PlannedDelivery,
    PlanToStore,
)
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.conditions import ConditionTimeout
from workflow_integrator.domain.events import TicketInfo, ticket_info_from_dict
from workflow_integrator.domain.integration import Integration, IntegrationPoint, fold
from workflow_integrator.domain.matching import (
    Values,
    WorkflowEvent,
    condition_holds,
    match,
    route,
)
from workflow_integrator.domain.retry import backoff_delay
from workflow_integrator.domain.ticket import Ticket
from workflow_integrator.securechange.client import SecureChangeError
from workflow_integrator.securechange.tickets import NotConfigured, SecureChangeTicketReader

log = logging.getLogger("workflow_integrator.delivery.planner")


@dataclass(frozen=True, slots=True)
class Plan:
    """What planning decided for one event: deliveries, or the reason there are none."""

    deliveries: list[PlannedDelivery]
    failed_reason: str | None = None


def event_facts(event: str, info: TicketInfo) -> WorkflowEvent:
    """The step context of the event itself, from its trigger document."""
    return WorkflowEvent.from_ticket_info(event, info)


class Planner:
    """Claims pending events and plans them (see the module docstring)."""

    def __init__(
        self,
        queue: DeliveryQueue,
        configuration: Configuration,
        securechange: SecureChangeTicketReader,
        clock: Clock,
        worker_id: str,
        rng: random.Random | None = None,
        *,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 20,
        first_retry_seconds: float = 1.0,
        max_retry_seconds: float = 600.0,
    ) -> None:
        self._queue = queue
        self._config = configuration
        self._securechange = securechange
        self._clock = clock
        self._worker_id = worker_id
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._lease = lease
        self._batch = batch
        self._first = first_retry_seconds
        self._cap = max_retry_seconds

    async def plan_due(self) -> int:
        """Plan the events due now; returns how many were claimed."""
        events = await asyncio.to_thread(
            self._queue.claim_events, self._worker_id, self._batch, self._clock.now(),
            self._lease,
        )
        if not events:
            return 0
        # Read side by side, on one read of the connection settings. The moment is taken
        # before reading: a write-back landing meanwhile makes the snapshot stale, not new.
        read_at = self._clock.now()
        try:
            found: list[Ticket | SecureChangeError | NotConfigured] = [
                *await self._securechange.tickets([event.ticket_id for event in events])]
        except NotConfigured as exc:
            found = [exc] * len(events)
        tickets = [await self._judge(event, ticket)
                   for event, ticket in zip(events, found, strict=True)]
        read = [(event, ticket) for event, ticket in zip(events, tickets, strict=True)
                if ticket is not None]
        if read:
            plans = await asyncio.to_thread(self._decide_all, read, read_at)
            await asyncio.to_thread(self._queue.store_plans, self._worker_id, plans,
                                    self._clock.now())
        return len(events)

    async def plan(self, event: ClaimedEvent) -> None:
        """Plan one claimed event and store the plan (or postpone it)."""
        # Lines about this event carry its id and the id of the request that stored it.
        with logs.bound(event_id=event.id, request_id=event.request_id):
            await self._plan(event)

    async def _plan(self, event: ClaimedEvent) -> None:
        read_at = self._clock.now()  # before reading (see plan_due)
        ticket = await self._read(event)
        if ticket is None:
            return
        [plan] = await asyncio.to_thread(self._decide_all, [(event, ticket)], read_at)
        await asyncio.to_thread(self._queue.store_plans, self._worker_id, [plan],
                                self._clock.now())

    async def _read(self, event: ClaimedEvent) -> Ticket | Plan | None:
        """The event's ticket; a failed plan when it does not exist; None when postponed."""
        try:
            ticket: Ticket | SecureChangeError | NotConfigured = (
                await self._securechange.ticket(event.ticket_id))
        except (SecureChangeError, NotConfigured) as exc:
            ticket = exc
        return await self._judge(event, ticket)

    async def _judge(
        self, event: ClaimedEvent, read: Ticket | SecureChangeError | NotConfigured
    ) -> Ticket | Plan | None:
        """A ticket read goes on to planning; a missing one fails the event; any other
        error postpones it with backoff (None)."""
        if isinstance(read, Ticket):
            return read
        if isinstance(read, SecureChangeError) and read.status == 404:
            return Plan([], str(read))
        wait = backoff_delay(event.attempt, self._rng, first=self._first, cap=self._cap)
        with logs.bound(event_id=event.id, request_id=event.request_id):
            log.info("event %s: ticket %s not read, retrying in %.1fs: %s",
                     event.id, event.ticket_id, wait.total_seconds(), read)
        await asyncio.to_thread(self._queue.postpone_event, event.id, self._worker_id,
                                str(read), self._clock.now() + wait)
        return None

    def _decide_all(
        self, read: list[tuple[ClaimedEvent, Ticket | Plan]], read_at: datetime
    ) -> list[PlanToStore]:
        config = read_once(self._config)
        plans = []
        for event, ticket in read:
            # Lines about this event carry its id and the id of the request that stored it.
            with logs.bound(event_id=event.id, request_id=event.request_id):
                if isinstance(ticket, Plan):  # the ticket does not exist
                    log.info("event %s: not planned: %s", event.id, ticket.failed_reason)
                    plans.append(PlanToStore(event.id, {}, [], ticket.failed_reason,
                                             read_at=read_at))
                    continue
                try:
                    plan = self.decide(event, ticket, config)
                except Exception:  # the others go on; this one is planned again after its lease
                    log.exception("event %s: planning failed", event.id)
                    continue
                if plan.failed_reason:
                    log.info("event %s: not planned: %s", event.id, plan.failed_reason)
                else:
                    log.info("event %s: %d deliveries planned", event.id, len(plan.deliveries))
                plans.append(PlanToStore(event.id, ticket.to_dict(), plan.deliveries,
                                         plan.failed_reason, read_at=read_at))
        return plans

    def decide(
        self, event: ClaimedEvent, ticket: Ticket, configuration: Configuration | None = None
    ) -> Plan:
        """The deliveries of ``event`` on ``ticket`` as read (database reads: off the loop)."""
        config = configuration or self._config
        workflow = ticket.workflow.name
        integration = config.integration(workflow) if workflow else None
        if integration is None:
            return Plan([], f"no integration for workflow '{workflow}' (ticket "
                            f"{ticket.id}); create one, then replan the event")
        if not integration.enabled:
            return Plan([], f"the integration of workflow '{integration.workflow}' is "
                            "disabled; enable it, then replan the event")
        info = ticket_info_from_dict(event.info)
        facts = event_facts(event.event, info)
        values = config.values(
            ticket, facts, create_date=info.create_date, update_date=info.update_date,
            integration=integration,
        )
        broken: dict[str, str] = {}

        def holds(point: IntegrationPoint) -> bool:
            try:
                return condition_holds(point, values)
            except ConditionTimeout as exc:
                broken[point.name] = f"the point's condition cannot be evaluated: {exc}"
                return True  # it fires, to be recorded dead with the reason

        firing = match(integration, facts, ticket, holds)
        planned = [self._routed(integration, point, values, broken.get(point.name), config)
                   for point in firing]
        return Plan(planned)

    def _routed(
        self, integration: Integration, point: IntegrationPoint, values: Values,
        error: str | None, config: Configuration,
    ) -> PlannedDelivery:
        index = next(i for i, p in enumerate(integration.points) if fold(p.name) == fold(
            point.name))
        if error is not None:
            return PlannedDelivery(point.name, index, None, error)
        writes_back = point.response is not None and bool(point.response.fields)
        try:
            server = route(integration, point, values)
            return PlannedDelivery(point.name, index, config.server_id(server),
                                   writes_back=writes_back)
        except ConditionTimeout as exc:
            return PlannedDelivery(point.name, index, None,
                                   f"the route cannot be evaluated: {exc}")
        except UnknownServer as exc:
            return PlannedDelivery(point.name, index, None, str(exc))
