"""Deliveries: their states, what one send learned, the circuit breaker and held time (pure).

No I/O and no clock of its own: every rule takes ``now`` from the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

OutcomeKind = Literal["delivered", "retry", "dead", "held"]
BreakerSignal = Literal["success", "failure", "none"]


class DeliveryState(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # waiting to be sent (first time or retry scheduled)
    IN_FLIGHT = "in_flight"  # claimed by a worker under a lease
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up, or an answer that sending again cannot change
    HELD = "held"  # its server is disabled or needs credentials
    CANCELLED = "cancelled"


#: States in which a delivery still has to go out: a later one of the same ticket waits.
UNFINISHED_STATES: tuple[DeliveryState, ...] = (
    DeliveryState.PENDING,
    DeliveryState.IN_FLIGHT,
    DeliveryState.HELD,
)
#: States an admin may cancel.
CANCELLABLE_STATES: tuple[DeliveryState, ...] = (DeliveryState.PENDING, DeliveryState.HELD)
#: States a replay starts from unless told otherwise.
DEFAULT_REPLAY_STATES: tuple[DeliveryState, ...] = (DeliveryState.DEAD,)
#: States a replay may start from at all.
REPLAYABLE_STATES: tuple[DeliveryState, ...] = (
    DeliveryState.DEAD,
    DeliveryState.DELIVERED,
    DeliveryState.CANCELLED,
)
#: States that will not change without an admin.
FINISHED_STATES: tuple[DeliveryState, ...] = REPLAYABLE_STATES


class WritebackState(StrEnum):
    """Where the write-back of a delivered request's response stands."""

    NONE = "none"  # nothing to write
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt as recorded: secrets masked, bodies bounded (by the sender)."""

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
    """What a send learned, and what happens next.

    ``retry_at`` is set for ``retry``; ``writeback`` holds the values the point's
    response mapping found (field name → value), written into the ticket later.
    """

    kind: OutcomeKind
    reason: str
    attempt: AttemptRecord
    status: int | None = None
    retry_at: datetime | None = None
    writeback: dict[str, Any] | None = None
    unmapped: tuple[str, ...] = ()


#: Stages of an attempt that ended before its request reached the server.
NOT_SENT_STAGES = frozenset({"render", "config", "ticket", "internal"})


def breaker_signal(outcome: Outcome) -> BreakerSignal:
    """What an outcome says about the server's health.

    The server answered (delivered, or a final answer below 500): success. A retry,
    a 5xx or a transport failure: failure. A request never sent (it could not be
    rendered, its point or server is gone, its ticket could not be read again, WI
    failed inside) or a credentials problem: nothing.
    """
    if outcome.kind == "delivered":
        return "success"
    if outcome.kind == "held" or outcome.attempt.stage in NOT_SENT_STAGES:
        return "none"
    if outcome.kind == "retry":
        return "failure"
    status = outcome.status if outcome.status is not None else outcome.attempt.response_status
    if status is not None:
        return "failure" if status >= 500 else "success"
    return "failure" if outcome.attempt.error_class is not None else "none"


# -- circuit breaker -----------------------------------------------------------------------


class BreakerState(StrEnum):
    """A server's circuit breaker as shown to people."""

    CLOSED = "closed"  # sending normally
    OPEN = "open"  # cooling down: nothing is sent
    HALF_OPEN = "half_open"  # cooled down: one probe at a time until one succeeds


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a server's breaker opens and for how long."""

    failure_threshold: int = 5
    first_cooldown: timedelta = timedelta(seconds=30)
    max_cooldown: timedelta = timedelta(minutes=10)

    def cooldown(self, openings: int) -> timedelta:
        """The cooldown of the ``openings``-th opening in a row (1-based): doubles, capped."""
        exponent = min(max(openings, 1) - 1, 32)  # 2**32 × any cooldown is past any cap
        factor: int = 2**exponent
        return min(self.max_cooldown, self.first_cooldown * factor)


@dataclass(frozen=True, slots=True)
class Breaker:
    """Stored breaker of one server.

    ``open_until`` is None while closed; once it has passed the breaker is half-open.
    ``openings`` counts openings since the last success (it grows the cooldown).
    """

    failures: int = 0
    open_until: datetime | None = None
    openings: int = 0

    def state(self, now: datetime) -> BreakerState:
        """Closed, open, or half-open at ``now``."""
        if self.open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self.open_until else BreakerState.HALF_OPEN

    def allowance(self, now: datetime, max_concurrency: int) -> int:
        """How many requests may be in flight to the server at ``now``."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return max_concurrency
        return 0 if state is BreakerState.OPEN else 1

    def after(self, signal: BreakerSignal, now: datetime, policy: BreakerPolicy) -> Breaker:
        """The breaker once an outcome with ``signal`` was recorded at ``now``."""
        if signal == "none":
            return self
        if signal == "success":
            return Breaker()
        failures = self.failures + 1
        state = self.state(now)
        if state is BreakerState.OPEN:
            # A request sent before the breaker opened failed late: it proves nothing new.
            return replace(self, failures=failures)
        if state is BreakerState.HALF_OPEN or failures >= policy.failure_threshold:
            openings = self.openings + 1
            return Breaker(failures, now + policy.cooldown(openings), openings)
        return replace(self, failures=failures)


# -- held time ------------------------------------------------------------------------------


def give_up_after_hold(
    give_up_at: datetime | None, held_since: datetime | None, now: datetime
) -> datetime | None:
    """The give-up time of a delivery resumed at ``now``: pushed back by the time it was held.

    Time spent held (server disabled, credentials missing) is nobody's failure to deliver.
    """
    if give_up_at is None or held_since is None or now <= held_since:
        return give_up_at
    return give_up_at + (now - held_since)


# -- event order ----------------------------------------------------------------------------

_SECURECHANGE_TIME = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)


_EPOCH_NUMBER = re.compile(r"^\s*(\d{1,17})\s*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Epoch numbers above this are milliseconds (1973 in ms; in seconds, the year 5138).
_EPOCH_MILLIS_FROM = 10**11


def parse_update_time(text: str | None) -> datetime | None:
    """A SecureChange update time in UTC: ISO 8601 (``2024-05-01T10:15:30.123+02:00``,
    ``…Z``) or an epoch number, milliseconds or seconds judged by its size.

    None when the text is not such a time. A time without offset is taken as UTC.
    """
    if not text:
        return None
    epoch = _EPOCH_NUMBER.match(text)
    if epoch is not None:
        number = int(epoch.group(1))
        try:
            if number > _EPOCH_MILLIS_FROM:
                return _EPOCH + timedelta(milliseconds=number)
            return _EPOCH + timedelta(seconds=number)
        except OverflowError:
            return None
    match = _SECURECHANGE_TIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if offset and offset.upper() != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            return None
        moment -= sign * timedelta(hours=hours, minutes=minutes)
    return moment


def event_order_time(update_date: str | None, received_at: datetime) -> datetime:
    """When an event happened, for ordering a ticket's deliveries: its update time, else arrival.

    SecureChange runs trigger scripts asynchronously and retries them, so arrival order
    is not event order; the trigger document's update time is.
    """
    parsed = parse_update_time(update_date)
    if parsed is not None:
        return parsed
    return received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
