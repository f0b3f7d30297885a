"""Planning: a stored event becomes one delivery per firing point, or a reason why not.

The ticket is read from SecureChange (a ticket that cannot be read leaves the event
pending, retried with backoff); the workflow's integration and its points are
matched on the event's own step context (the trigger document's completed and
current step, not the step the ticket has reached since); each point's server is
routed. Requests are not rendered here: they are rendered when sent, so a later
point can use what an earlier one wrote back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workflow_integrator.delivery.configuration import Configuration, UnknownServer
from workflow_integrator.delivery.queue import ClaimedEvent, DeliveryQueue, PlannedDelivery
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
        # Each reads its own ticket: read them side by side.
        await asyncio.gather(*(self.plan(event) for event in events))
        return len(events)

    async def plan(self, event: ClaimedEvent) -> None:
        """Plan one claimed event and store the plan (or postpone it)."""
        try:
            ticket = await self._securechange.ticket(event.ticket_id)
        except (SecureChangeError, NotConfigured) as exc:
            if isinstance(exc, SecureChangeError) and exc.status == 404:
                await self._store(event, {}, Plan([], str(exc)))
                return
            wait = backoff_delay(event.attempt, self._rng, first=self._first, cap=self._cap)
            log.info("event %s: ticket %s not read, retrying in %.1fs: %s",
                     event.id, event.ticket_id, wait.total_seconds(), exc)
            await asyncio.to_thread(self._queue.postpone_event, event.id, self._worker_id,
                                    str(exc), self._clock.now() + wait)
            return
        plan = await asyncio.to_thread(self.decide, event, ticket)
        await self._store(event, ticket.to_dict(), plan)

    def decide(self, event: ClaimedEvent, ticket: Ticket) -> Plan:
        """The deliveries of ``event`` on ``ticket`` as read (database reads: off the loop)."""
        workflow = ticket.workflow.name
        integration = self._config.integration(workflow) if workflow else None
        if integration is None:
            return Plan([], f"no integration for workflow '{workflow}' (ticket "
                            f"{ticket.id}); create one, then replan the event")
        if not integration.enabled:
            return Plan([], f"the integration of workflow '{integration.workflow}' is "
                            "disabled; enable it, then replan the event")
        info = ticket_info_from_dict(event.info)
        facts = event_facts(event.event, info)
        values = self._config.values(
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
        planned = [self._routed(integration, point, values, broken.get(point.name))
                   for point in firing]
        return Plan(planned)

    def _routed(
        self, integration: Integration, point: IntegrationPoint, values: Values,
        error: str | None,
    ) -> PlannedDelivery:
        index = next(i for i, p in enumerate(integration.points) if fold(p.name) == fold(
            point.name))
        if error is not None:
            return PlannedDelivery(point.name, index, None, error)
        writes_back = point.response is not None and bool(point.response.fields)
        try:
            server = route(integration, point, values)
            return PlannedDelivery(point.name, index, self._config.server_id(server),
                                   writes_back=writes_back)
        except ConditionTimeout as exc:
            return PlannedDelivery(point.name, index, None,
                                   f"the route cannot be evaluated: {exc}")
        except UnknownServer as exc:
            return PlannedDelivery(point.name, index, None, str(exc))

    async def _store(self, event: ClaimedEvent, snapshot: Mapping[str, Any], plan: Plan) -> None:
        await asyncio.to_thread(
            self._queue.store_plan, event.id, self._worker_id, dict(snapshot),
            plan.deliveries, self._clock.now(), failed_reason=plan.failed_reason,
        )
