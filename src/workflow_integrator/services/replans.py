"""Replan: a failed event (no integration, integration disabled) planned again once fixed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.domain.clock import Clock, SystemClock
from workflow_integrator.domain.events import EventState
from workflow_integrator.services.errors import Conflict, NotFound
from workflow_integrator.store import events as event_store
from workflow_integrator.store import replans as replan_store
from workflow_integrator.store.events import EventFilter


class ReplanService:
    """Moves failed events back to pending, for the API and the CLI."""

    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock | None = None,
        on_replanned: list[Callable[[], None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock or SystemClock()
        #: Called after events were moved, so delivery engines look for work at once.
        self.on_replanned = on_replanned or []

    def replan(self, event_id: int) -> None:
        """Plan one failed event again; 404 if there is none, 409 if it did not fail."""
        if not replan_store.replan(self._sessions, [event_id], self._clock.now()):
            row = event_store.get(self._sessions, event_id)
            if row is None:
                raise NotFound(f"event {event_id} does not exist")
            raise Conflict(
                f"event {event_id} is {row.state}, not {EventState.FAILED.value}: only failed "
                "events are planned again (a planned event's deliveries can be replayed)"
            )
        self._replanned()

    def replan_failed(self, flt: EventFilter) -> int:
        """Plan again every failed event the filter selects; how many."""
        moved = replan_store.replan(self._sessions, replace(flt, state=None), self._clock.now())
        if moved:
            self._replanned()
        return len(moved)

    def _replanned(self) -> None:
        for hook in self.on_replanned:
            hook()
