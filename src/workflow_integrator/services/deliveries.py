"""Reading, replaying and cancelling deliveries: one service for the API, the UI and the CLI.

Attempt records are stored with every secret already masked by the sender; this
module only reads them and never decrypts anything.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.delivery.queue import DeliveryFilter, DeliveryQueue
from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.domain.delivery import (
    CANCELLABLE_STATES,
    DEFAULT_REPLAY_STATES,
    REPLAYABLE_STATES,
    DeliveryState,
)
from workflow_integrator.services.errors import Conflict, InvalidInput, NotFound
from workflow_integrator.store import delivery_records
from workflow_integrator.store import servers as server_store
from workflow_integrator.store.deliveries import DeliveryAttemptRow, DeliveryRow

#: Largest id a delivery, event or ticket can have (64-bit); larger ones name nothing.
MAX_ID = 2**63 - 1
MAX_PAGE = 1000
MAX_REASON = 500
#: Deliveries listed per query while collecting a bulk replay.
_COLLECT_PAGE = 500

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a bulk replay runs."""


def replayed_message(count: int) -> str:
    """What a bulk replay tells people (UI and CLI)."""
    return f"Replayed {count} {'delivery' if count == 1 else 'deliveries'}."


def _names(states: Iterable[DeliveryState]) -> str:
    return ", ".join(s.value for s in states)


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """Filters as a person gives them (server by name); :meth:`DeliveryService.filter` checks them.

    ``states`` accepts names separated by commas as well as repeated values.
    """

    states: Sequence[str] = ()
    server: str | None = None
    workflow: str | None = None
    ticket_id: int | None = None
    event_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One attempt as recorded (secrets were masked when it was recorded)."""

    id: int
    series: int
    number: int
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    method: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: str | None
    response_status: int | None
    response_headers: list[tuple[str, str]]
    response_body: str | None
    error_class: str | None
    error_message: str | None
    stage: str | None
    outcome: str
    reason: str

    @property
    def request_line(self) -> str:
        """``POST https://…`` as sent."""
        return f"{self.method} {self.url}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id, "series": self.series, "number": self.number,
            "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
            "duration_ms": self.duration_ms, "method": self.method, "url": self.url,
            "request_headers": [list(p) for p in self.request_headers],
            "request_body": self.request_body, "response_status": self.response_status,
            "response_headers": [list(p) for p in self.response_headers],
            "response_body": self.response_body, "error_class": self.error_class,
            "error_message": self.error_message, "stage": self.stage,
            "outcome": self.outcome, "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery as people see it; ``attempts`` is filled only for one delivery's detail."""

    id: int
    event_id: int
    ticket_id: int
    workflow: str
    point_name: str
    point_index: int
    server_id: int | None
    server: str | None  # its name; None once the server was deleted
    state: DeliveryState
    attempts_made: int  # in the current series
    replay_series: int
    next_attempt_at: datetime | None  # only while pending
    last_status: int | None
    reason: str | None
    late: bool
    idempotency_key: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    give_up_at: datetime | None
    writeback_state: str
    writeback_detail: str | None
    cancelled_by: str | None
    cancelled_why: str | None
    replayed_by: str | None
    replayed_at: datetime | None
    attempts: list[AttemptView] = field(default_factory=list)

    @property
    def can_replay(self) -> bool:
        """Whether an admin may replay it now."""
        return self.state in REPLAYABLE_STATES and self.server_id is not None

    @property
    def can_cancel(self) -> bool:
        """Whether an admin may cancel it now."""
        return self.state in CANCELLABLE_STATES

    def summary(self) -> dict[str, Any]:
        """JSON-ready, without attempts."""
        return {
            "id": self.id, "event_id": self.event_id, "ticket_id": self.ticket_id,
            "workflow": self.workflow, "point": self.point_name,
            "point_index": self.point_index, "server_id": self.server_id,
            "server": self.server, "state": self.state.value,
            "attempts": self.attempts_made, "replay_series": self.replay_series,
            "next_attempt_at": _iso(self.next_attempt_at), "last_status": self.last_status,
            "reason": self.reason, "late": self.late, "idempotency_key": self.idempotency_key,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "finished_at": _iso(self.finished_at), "give_up_at": _iso(self.give_up_at),
            "writeback": {"state": self.writeback_state, "detail": self.writeback_detail},
            "cancelled_by": self.cancelled_by, "cancelled_why": self.cancelled_why,
            "replayed_by": self.replayed_by, "replayed_at": _iso(self.replayed_at),
        }

    def detail(self) -> dict[str, Any]:
        """JSON-ready, with every attempt of every series, oldest first."""
        return {**self.summary(), "attempt_records": [a.as_dict() for a in self.attempts]}


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """One page of the list, newest first; ``next_cursor`` continues it (None: the end)."""

    items: list[DeliveryView]
    next_cursor: int | None


class DeliveryService:
    """List, show, replay and cancel deliveries, for the API, the UI and the CLI."""

    def __init__(
        self, sessions: sessionmaker[Session], queue: DeliveryQueue, clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._queue = queue
        self._clock = clock or SystemClock()
        #: Called after deliveries became pending again, so delivery engines look at once.
        self.on_replayed: list[Callable[[], None]] = []

    # -- filters -----------------------------------------------------------------------

    def filter(self, query: DeliveryQuery) -> DeliveryFilter:
        """Check a person's filters; InvalidInput names each bad one and what is accepted."""
        errors: list[dict[str, Any]] = []

        def bad(name: str, msg: str) -> None:
            errors.append({"loc": [name], "msg": msg, "type": "value_error"})

        states: list[DeliveryState] = []
        for text in query.states:
            for name in (part.strip().lower() for part in text.split(",")):
                if not name:
                    continue
                try:
                    states.append(DeliveryState(name))
                except ValueError:
                    bad("state", f"unknown state '{name}'; use one of {_names(DeliveryState)}")
        server_id: int | None = None
        if query.server is not None:
            server_id = self._server_id(query.server)
            if server_id is None:
                bad("server", f"no outbound server named '{query.server}'")
        for name, value in (("ticket_id", query.ticket_id), ("event_id", query.event_id)):
            if value is not None and not 1 <= value <= MAX_ID:
                bad(name, f"must be a whole number from 1 to {MAX_ID}")
        since, until = _utc(query.since), _utc(query.until)
        if since is not None and until is not None and until <= since:
            bad("until", "must be later than since")
        if errors:
            raise InvalidInput(errors)
        return DeliveryFilter(
            states=tuple(dict.fromkeys(states)) or None, server_id=server_id,
            workflow=query.workflow or None, ticket_id=query.ticket_id,
            event_id=query.event_id, since=since, until=until,
        )

    # -- reading -----------------------------------------------------------------------

    def list(
        self, query: DeliveryQuery, *, cursor: int | None = None, limit: int = 100
    ) -> DeliveryPage:
        """Deliveries matching the filters, newest first; pass ``next_cursor`` to go on."""
        flt = self.filter(query)
        if cursor is not None and not 1 <= cursor <= MAX_ID:
            raise InvalidInput.single(["cursor"], f"must be a whole number from 1 to {MAX_ID}")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput.single(["limit"], f"must be from 1 to {MAX_PAGE}")
        rows = delivery_records.list_deliveries(
            self._sessions, flt, before_id=cursor, limit=limit + 1
        )
        names = self._server_names()
        items = [_view(row, names) for row in rows[:limit]]
        return DeliveryPage(items, items[-1].id if len(rows) > limit else None)

    def get(self, delivery_id: int) -> DeliveryView:
        """One delivery with every attempt; NotFound when there is none."""
        record = (
            delivery_records.get_delivery(self._sessions, delivery_id)
            if 1 <= delivery_id <= MAX_ID else None
        )
        if record is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        view = _view(record.delivery, self._server_names())
        return replace(view, attempts=[_attempt(a) for a in record.attempts])

    # -- changing ----------------------------------------------------------------------

    def replay(self, delivery_id: int, who: str) -> DeliveryView:
        """Send a dead, delivered or cancelled delivery again (same id and idempotency key).

        A new attempt series starts; earlier attempts stay recorded.
        """
        self.get(delivery_id)
        if not self._queue.replay(delivery_id, who, self._clock.now()):
            now = self.get(delivery_id)
            if now.server_id is None:
                raise Conflict(
                    f"delivery {delivery_id} has no server (it was deleted, or none could be "
                    "chosen when it was planned): replan its event instead"
                )
            raise Conflict(
                f"delivery {delivery_id} is {now.state.value}; only {_names(REPLAYABLE_STATES)} "
                "deliveries can be replayed"
            )
        self._replayed()
        return self.get(delivery_id)

    def replay_matching(
        self, query: DeliveryQuery, who: str, *, progress: Progress | None = None
    ) -> int:
        """Replay every delivery the filters select; how many.

        Without a state only ``dead`` ones: replaying delivered requests creates their
        records at the receiver again. States that cannot be replayed are refused.
        """
        flt = self.filter(query)
        states = flt.states or DEFAULT_REPLAY_STATES
        refused = [s for s in states if s not in REPLAYABLE_STATES]
        if refused:
            raise InvalidInput.single(
                ["state"], f"{_names(refused)} deliveries cannot be replayed; use "
                f"{_names(REPLAYABLE_STATES)}",
            )
        ids = self._matching_ids(replace(flt, states=states))
        replayed = 0
        if progress:
            progress(0, len(ids))
        for done, delivery_id in enumerate(ids, start=1):
            # One short transaction each: a large replay never holds the database long.
            replayed += self._queue.replay(delivery_id, who, self._clock.now())
            if progress:
                progress(done, len(ids))
        if replayed:
            self._replayed()
        return replayed

    def cancel(self, delivery_id: int, who: str, why: str) -> DeliveryView:
        """Cancel a pending or held delivery, recording who and why."""
        why = why.strip()
        if not why:
            raise InvalidInput.single(["reason"], "say why the delivery is cancelled")
        if len(why) > MAX_REASON:
            raise InvalidInput.single(["reason"], f"at most {MAX_REASON} characters")
        self.get(delivery_id)
        if not self._queue.cancel(delivery_id, who, why, self._clock.now()):
            state = self.get(delivery_id).state
            raise Conflict(
                f"delivery {delivery_id} is {state.value}; only {_names(CANCELLABLE_STATES)} "
                "deliveries can be cancelled"
            )
        return self.get(delivery_id)

    # -- inside ------------------------------------------------------------------------

    def _matching_ids(self, flt: DeliveryFilter) -> builtins.list[int]:
        ids: builtins.list[int] = []
        cursor: int | None = None
        while True:
            rows = delivery_records.list_deliveries(
                self._sessions, flt, before_id=cursor, limit=_COLLECT_PAGE
            )
            ids.extend(row.id for row in rows)
            if len(rows) < _COLLECT_PAGE:
                return sorted(ids)  # oldest first: a ticket's earlier request goes first
            cursor = rows[-1].id

    def _server_names(self) -> dict[int, str]:
        with self._sessions() as session:
            return {row.id: row.name for row in server_store.list_rows(session)}

    def _server_id(self, name: str) -> int | None:
        for server_id, found in self._server_names().items():
            if found == name:
                return server_id
        return None

    def _replayed(self) -> None:
        for hook in self.on_replayed:
            hook()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _view(row: DeliveryRow, names: dict[int, str]) -> DeliveryView:
    state = DeliveryState(row.state)
    return DeliveryView(
        id=row.id, event_id=row.event_id, ticket_id=row.ticket_id, workflow=row.workflow,
        point_name=row.point_name, point_index=row.point_index, server_id=row.server_id,
        server=names.get(row.server_id) if row.server_id is not None else None,
        state=state, attempts_made=row.attempts, replay_series=row.replay_series,
        next_attempt_at=row.due_at if state is DeliveryState.PENDING else None,
        last_status=row.last_status, reason=row.reason, late=row.late,
        idempotency_key=row.idempotency_key, created_at=row.created_at,
        updated_at=row.updated_at, finished_at=row.finished_at, give_up_at=row.give_up_at,
        writeback_state=row.writeback_state, writeback_detail=row.writeback_detail,
        cancelled_by=row.cancelled_by, cancelled_why=row.cancelled_why,
        replayed_by=row.replayed_by, replayed_at=row.replayed_at,
    )


def _attempt(row: DeliveryAttemptRow) -> AttemptView:
    return AttemptView(
        id=row.id, series=row.series, number=row.number, started_at=row.started_at,
        finished_at=row.finished_at, duration_ms=row.duration_ms, method=row.method,
        url=row.url, request_headers=[(str(k), str(v)) for k, v in row.request_headers],
        request_body=row.request_body, response_status=row.response_status,
        response_headers=[(str(k), str(v)) for k, v in row.response_headers],
        response_body=row.response_body, error_class=row.error_class,
        error_message=row.error_message, stage=row.stage, outcome=row.outcome,
        reason=row.reason,
    )
