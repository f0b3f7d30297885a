"""Delivery states and what one send learned (pure).

Minimal version for the engine; the delivery store brings the full one (breaker policy,
held-time accounting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

OutcomeKind = Literal["delivered", "retry", "dead", "held"]


class DeliveryState(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    DEAD = "dead"
    HELD = "held"
    CANCELLED = "cancelled"


class WritebackState(StrEnum):
    """Where the write-back of a delivered request's response stands."""

    NONE = "none"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt as recorded: secrets masked, bodies bounded."""

    started_at: datetime
    duration_ms: int
    method: str
    url: str
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: str | None = None
    response_status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a send learned, and what happens next."""

    kind: OutcomeKind
    reason: str
    attempt: AttemptRecord
    status: int | None = None
    retry_at: datetime | None = None
    writeback: dict[str, Any] | None = None
    unmapped: tuple[str, ...] = ()
