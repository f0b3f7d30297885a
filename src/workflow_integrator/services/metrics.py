"""Prometheus metrics: per-process counters and figures read from the shared database.

Counters (events received, attempts, token fetches, e-mails) count what this process
did and carry its ``wi_instance`` label; queue and state figures are read from the
database at each scrape, so every process (``wi serve`` or ``wi worker``, on any
host) reports the same numbers for them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from workflow_integrator.delivery.queue import ClaimedDelivery
from workflow_integrator.domain.clock import Clock
from workflow_integrator.domain.delivery import Breaker, DeliveryState, Outcome
from workflow_integrator.store import figures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = ("closed", "open", "half_open")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
                   4 * 3600, 24 * 3600)


def default_instance() -> str:
    """``host:pid``: tells the processes of one host apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ServerQueue:
    """One outbound server's queue as the delivery store counts it."""

    server: str
    pending: int
    oldest_pending_seconds: float | None
    held_by_reason: dict[str, int] = field(default_factory=dict)
    breaker: str = "closed"


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What the delivery store reports at each scrape."""

    deliveries_by_state: dict[str, int]
    servers: list[ServerQueue]


QueueSource = Callable[[], QueueFigures]
"""Reads the queue figures from the database (provided by the delivery store)."""


class _DatabaseFigures(Collector):
    def __init__(self, sessions: sessionmaker[Session], metrics: Metrics) -> None:
        self._sessions = sessions
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        with self._sessions() as session:
            events = figures.events_by_state(session)
            servers = figures.server_states(session)
        gauge = GaugeMetricFamily("wi_events", "Stored events by state", labels=["state"])
        for state, count in sorted(events.items()):
            gauge.add_metric([state], count)
        yield gauge
        credentials = GaugeMetricFamily(
            "wi_server_credentials_state",
            "1 for each outbound server's credential state (ok, needs_credentials)",
            labels=["server", "state"])
        # Joins server_id labels (token fetches) to names in queries.
        info = GaugeMetricFamily("wi_server_info", "Outbound server id and name",
                                 labels=["server_id", "server"])
        for server_id, name, state in servers:
            info.add_metric([str(server_id), name], 1)
            for option in ("ok", "needs_credentials"):
                credentials.add_metric([name, option], 1 if state == option else 0)
        yield credentials
        yield info
        source = self._metrics.queue_source
        if source is not None:
            yield from _queue_metrics(source())


def _queue_metrics(queue: QueueFigures) -> Iterable[Metric]:
    deliveries = GaugeMetricFamily("wi_deliveries", "Deliveries by state", labels=["state"])
    for state, count in sorted(queue.deliveries_by_state.items()):
        deliveries.add_metric([state], count)
    depth = GaugeMetricFamily("wi_queue_depth", "Pending deliveries per server",
                              labels=["server"])
    oldest = GaugeMetricFamily("wi_queue_oldest_pending_seconds",
                               "Age of the oldest pending delivery per server",
                               labels=["server"])
    held = GaugeMetricFamily("wi_held_deliveries", "Held deliveries per server and reason",
                             labels=["server", "reason"])
    breaker = GaugeMetricFamily("wi_circuit_breaker_state",
                                "1 for each server's circuit-breaker state",
                                labels=["server", "state"])
    for server in queue.servers:
        depth.add_metric([server.server], server.pending)
        oldest.add_metric([server.server], server.oldest_pending_seconds or 0.0)
        for reason, count in sorted(server.held_by_reason.items()):
            held.add_metric([server.server, reason], count)
        for state in BREAKER_STATES:
            breaker.add_metric([server.server, state], 1 if server.breaker == state else 0)
    return (deliveries, depth, oldest, held, breaker)


class Metrics:
    """One process's metrics registry (never the global one: no import-time state)."""

    def __init__(self, sessions: sessionmaker[Session], instance: str | None = None) -> None:
        self.instance = instance or default_instance()
        self.registry = CollectorRegistry()
        self.queue_source: QueueSource | None = None
        labels = ["wi_instance"]
        self._events = Counter("wi_events_received", "Workflow events received",
                               ["event", "source", "outcome", *labels], registry=self.registry)
        self._attempts = Counter("wi_delivery_attempts", "Delivery attempts by outcome and "
                                 "HTTP status class", ["outcome", "status_class", *labels],
                                 registry=self.registry)
        self._latency = Histogram("wi_delivery_latency_seconds",
                                  "From intake of the event to its delivery", labels,
                                  buckets=LATENCY_BUCKETS, registry=self.registry)
        self._token_fetches = Counter("wi_token_fetches", "OAuth 2.0 token fetches per server",
                                      ["server_id", "outcome", *labels],
                                      registry=self.registry)
        self._emails = Counter("wi_emails", "E-mails by kind (test, failure) and outcome",
                               ["kind", "outcome", *labels], registry=self.registry)
        self.registry.register(_DatabaseFigures(sessions, self))

    def event_received(self, event: str, source: str, *, duplicate: bool) -> None:
        """An event was stored (or recognised as a retry of one stored before)."""
        self._events.labels(event, source, "duplicate" if duplicate else "stored",
                            self.instance).inc()

    def attempt(self, outcome: str, status: int | None) -> None:
        """A delivery attempt ended (``outcome``: delivered, retry, dead, held)."""
        status_class = f"{status // 100}xx" if status else "none"
        self._attempts.labels(outcome, status_class, self.instance).inc()

    def delivered(self, seconds_since_intake: float) -> None:
        """A delivery succeeded this long after its event was received."""
        self._latency.labels(self.instance).observe(max(0.0, seconds_since_intake))

    def outcome_observer(
        self, clock: Clock
    ) -> Callable[[ClaimedDelivery, Outcome, datetime | None], None]:
        """An outcome observer for a send worker: counts the attempt, times a delivery."""

        def observe(_delivery: ClaimedDelivery, outcome: Outcome,
                    received_at: datetime | None) -> None:
            self.attempt(outcome.kind, outcome.status or outcome.attempt.response_status)
            if outcome.kind == "delivered" and received_at is not None:
                self.delivered((clock.now() - received_at).total_seconds())

        return observe

    def token_fetch(self, server_id: object, ok: bool) -> None:
        """A token fetch for a server ended."""
        self._token_fetches.labels(str(server_id), "ok" if ok else "failed",
                                   self.instance).inc()

    def email(self, kind: str, ok: bool) -> None:
        """An e-mail was sent or failed."""
        self._emails.labels(kind, "sent" if ok else "failed", self.instance).inc()

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


def held_reason(server_state: str, config: dict[str, Any]) -> str:
    """Why a server's deliveries are held, as a label: needs_credentials, disabled, resuming."""
    if server_state == "needs_credentials":
        return "needs_credentials"
    if config.get("enabled") is False:
        return "disabled"
    return "resuming"  # the server is available again; the next refresh resumes them


def database_queue(sessions: sessionmaker[Session], now: Callable[[], datetime]) -> QueueSource:
    """The queue figures read from the delivery tables at each scrape (every process agrees)."""

    def read() -> QueueFigures:
        moment = now()
        with sessions() as session:
            states = figures.deliveries_by_state(session)
            pending = {name: (count, oldest)
                       for name, count, oldest in figures.pending_by_server(session)}
            held = figures.held_by_server(session)
            stored = figures.breakers(session)
        by_reason: dict[str, dict[str, int]] = {}
        for name, state, config, count in held:
            reasons = by_reason.setdefault(name, {})
            reason = held_reason(state, config)
            reasons[reason] = reasons.get(reason, 0) + count
        servers = []
        for name, failures, open_until, openings in stored:
            count, oldest = pending.get(name, (0, None))
            breaker = Breaker(failures, open_until, openings).state(moment)
            servers.append(ServerQueue(
                name, count,
                (moment - oldest).total_seconds() if oldest is not None else None,
                by_reason.get(name, {}), breaker.value))
        return QueueFigures({state.value: states.get(state.value, 0) for state in DeliveryState}
                            | states, servers)

    return read
