"""The delivery queue's storage operations, as the engine sees them (no SQL here).

The deliveries table is the queue: planning inserts deliveries in the transaction
that marks their event planned, workers claim them under a lease, and every
outcome is recorded in one transaction. ``store.deliveries`` implements this
protocol on SQLite and PostgreSQL. Every operation is short and synchronous:
async callers run it with ``asyncio.to_thread`` and never across a network call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from workflow_integrator.domain.delivery import DeliveryState, Outcome


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this worker holds a lease on."""

    id: int
    event_id: int
    ticket_id: int
    workflow: str
    point_name: str
    server_id: int
    attempt: int  # 1-based number of this attempt within its series
    idempotency_key: str  # the same on every attempt and replay of the delivery
    order_at: datetime
    late: bool  # a later delivery of its ticket to its server was sent before it
    replay_series: int  # 0 for the first series, +1 per replay
    lease_expires_at: datetime
    give_up_at: datetime | None = None
    point_index: int = 0


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One firing point's delivery, or why it cannot be sent (then stored ``dead`` at once).

    ``writes_back``: the point maps response values into the ticket, so the ticket's later
    deliveries (to any server) wait until it is delivered and written back.
    """

    point_name: str
    point_index: int
    server_id: int | None
    error: str | None = None
    writes_back: bool = False


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """A stored event this worker plans under a lease."""

    id: int
    ticket_id: int
    event: str
    info: dict[str, Any]
    attempt: int  # 1-based planning attempt
    request_id: str | None = None  # of the API request that stored the event (for logs)


@dataclass(frozen=True, slots=True)
class ClaimedWriteback:
    """The response values of a delivered request, to be written into its ticket."""

    delivery_id: int
    ticket_id: int
    workflow: str
    point_name: str
    fields: dict[str, Any]
    attempt: int  # 1-based write-back attempt


@dataclass(frozen=True, slots=True)
class DeliveryContext:
    """What sending a delivery needs besides the delivery: its event and the ticket as read.

    ``stale`` is True when a write-back changed the ticket after it was read: read it again
    (and save it with ``save_ticket``) before rendering.
    """

    event: str
    info: dict[str, Any]
    ticket: dict[str, Any]
    ticket_read_at: datetime
    stale: bool
    received_at: datetime | None = None  # when the event arrived (delivery latency)
    request_id: str | None = None  # of the API request that stored the event (for logs)


@dataclass(frozen=True, slots=True)
class OutcomeToRecord:
    """One finished send's outcome, for recording several in one transaction."""

    delivery_id: int
    outcome: Outcome
    now: datetime


@dataclass(frozen=True, slots=True)
class PlanToStore:
    """One planned event, for storing several plans in one transaction."""

    event_id: int
    ticket_snapshot: dict[str, Any]
    planned: Sequence[PlannedDelivery]
    failed_reason: str | None = None
    # When the ticket read began (None: when stored). A write-back that lands during the
    # read may be missing from the snapshot, so the snapshot counts as older than the read.
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Which deliveries an admin operation (list, bulk replay) applies to; None = any."""

    states: tuple[DeliveryState, ...] | None = None
    server_id: int | None = None
    workflow: str | None = None
    ticket_id: int | None = None
    event_id: int | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


class DeliveryQueue(Protocol):
    """Storage operations of deliveries, events being planned and write-backs."""

    # -- sending -------------------------------------------------------------------------
    def claim(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries, first reclaiming expired leases.

        FIFO per (ticket, server); never more in flight per server than its
        ``max_concurrency`` (one while its breaker is half-open, none while open).
        """
        ...

    def renew(self, worker_id: str, ids: Sequence[int], now: datetime, lease: timedelta) -> None:
        """Extend this worker's leases on ``ids`` to ``now + lease`` (slow receivers)."""
        ...

    def release(self, worker_id: str, ids: Sequence[int]) -> None:
        """Hand leased deliveries back unsent (shutdown): pending again, attempt not counted."""
        ...

    def record(self, delivery_id: int, worker_id: str, outcome: Outcome, now: datetime) -> bool:
        """Store an attempt, its state transition, the breaker and the write-back, at once.

        False (nothing stored) when this worker lost the lease meanwhile.
        """
        ...

    def record_many(self, worker_id: str, outcomes: Sequence[OutcomeToRecord]) -> list[bool]:
        """:meth:`record` for each outcome, all in one transaction (one durable commit);
        one result per outcome, in order."""
        ...

    def context(self, delivery_id: int) -> DeliveryContext:
        """The event and ticket snapshot a delivery's request is rendered from."""
        ...

    def contexts(self, delivery_ids: Sequence[int]) -> dict[int, DeliveryContext]:
        """:meth:`context` of several deliveries at once (a missing one is left out)."""
        ...

    def save_ticket(self, delivery_id: int, ticket: dict[str, Any], now: datetime) -> None:
        """Replace the ticket snapshot of a delivery's event; its read began at ``now``."""
        ...

    def next_due(self, now: datetime, work: str = "all") -> datetime | None:
        """The earliest time anything (delivery, lease, plan, write-back) may need a worker;
        ``work`` "send", "writeback" or "plan" asks about that loop's work only (a loop
        waiting for another loop's work would poll instead of sleeping until woken)."""
        ...

    def refresh_held(self, now: datetime) -> None:
        """Hold deliveries of disabled / needs_credentials servers and resume the others.

        Resumed deliveries keep their order; their give-up time moves by the time held.
        """
        ...

    # -- write-back ----------------------------------------------------------------------
    def claim_writebacks(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedWriteback]:
        """Lease due write-backs, the earliest of each ticket first."""
        ...

    def record_writeback(
        self, delivery_id: int, worker_id: str, ok: bool, detail: str,
        retry_at: datetime | None, now: datetime,
    ) -> bool:
        """Done, retried at ``retry_at``, or failed (no ``retry_at``); False: lease lost."""
        ...

    # -- planning ------------------------------------------------------------------------
    def claim_events(
        self, worker_id: str, limit: int, now: datetime, lease: timedelta
    ) -> list[ClaimedEvent]:
        """Lease pending events due for planning, in event order."""
        ...

    def store_plan(
        self, event_id: int, worker_id: str, ticket_snapshot: dict[str, Any],
        planned: Sequence[PlannedDelivery], now: datetime, *, failed_reason: str | None = None,
    ) -> bool:
        """Insert the event's deliveries and mark it planned (``failed`` with a reason), at once.

        False (nothing stored) when this worker lost the planning lease.
        """
        ...

    def store_plans(
        self, worker_id: str, plans: Sequence[PlanToStore], now: datetime
    ) -> list[bool]:
        """:meth:`store_plan` for each plan, all in one transaction; one result per plan."""
        ...

    def postpone_event(
        self, event_id: int, worker_id: str, reason: str, retry_at: datetime
    ) -> bool:
        """Keep the event pending and plan it again at ``retry_at`` (SecureChange unreachable)."""
        ...

    # -- admin ---------------------------------------------------------------------------
    def cancel(self, delivery_id: int, who: str, why: str, now: datetime) -> bool:
        """Cancel a pending or held delivery, recording who and why; False otherwise."""
        ...

    def replay(self, target: int | DeliveryFilter, who: str, now: datetime) -> int:
        """Start a new attempt series (same id and idempotency key); how many were replayed.

        A filter without states replays ``dead`` deliveries only.
        """
        ...

    def prune(self, older_than: datetime, batch: int) -> int:
        """Delete finished deliveries, their attempts and planned events older than
        ``older_than``, ``batch`` rows per transaction; how many deliveries and events went."""
        ...
