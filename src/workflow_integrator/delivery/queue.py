"""The delivery queue's storage operations, as the engine sees them (no SQL here).

Minimal version for the engine; the delivery store brings the full protocol and
its implementation (``store/deliveries.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from workflow_integrator.domain.delivery import Outcome


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds a lease on."""

    id: int
    event_id: int
    ticket_id: int
    workflow: str
    point_name: str
    server_id: int
    attempt: int
    idempotency_key: str
    order_at: datetime
    late: bool
    replay_series: int
    lease_expires_at: datetime
    give_up_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One firing point's delivery, or why it cannot be sent."""

    point_name: str
    point_index: int
    server_id: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """A stored event this worker plans."""

    id: int
    ticket_id: int
    event: str
    info: dict[str, Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class ClaimedWriteback:
    """The response values of a delivered request, to be written into its ticket."""

    delivery_id: int
    ticket_id: int
    workflow: str
    point_name: str
    fields: dict[str, Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What sending a delivery needs besides the delivery: the event and the ticket read."""

    event: str
    info: dict[str, Any]
    ticket: dict[str, Any]
    ticket_read_at: datetime
    stale: bool


class DeliveryQueue(Protocol):
    """Storage operations of deliveries, events being planned and write-backs."""

    def claim(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]: ...

    def renew(self, worker_id: str, ids: list[int], now: datetime, lease: timedelta) -> None: ...

    def release(self, worker_id: str, ids: list[int]) -> None: ...

    def record(self, delivery_id: int, worker_id: str, outcome: Outcome, now: datetime) -> None: ...

    def context(self, delivery_id: int) -> DeliveryContext: ...

    def next_due(self, now: datetime) -> datetime | None: ...

    def refresh_held(self, now: datetime) -> None: ...

    def claim_writebacks(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedWriteback]: ...

    def record_writeback(
        self, delivery_id: int, worker_id: str, ok: bool, detail: str,
        retry_at: datetime | None, now: datetime,
    ) -> None: ...

    def claim_events(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedEvent]: ...

    def store_plan(
        self, event_id: int, worker_id: str, ticket_snapshot: dict[str, Any],
        planned: list[PlannedDelivery], now: datetime, *, failed_reason: str | None = None,
    ) -> None: ...

    def postpone_event(
        self, event_id: int, worker_id: str, reason: str, retry_at: datetime
    ) -> None: ...
