"""Deliveries in every state, stored through the queue's own operations, for the surface tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from tests.delivery.conftest import LEASE, T0, QueueDb, attempt
from tests.servers.live_wi import FAST_HASHER, LiveWI, serve_wi
from workflow_integrator.app import Services
from workflow_integrator.domain.delivery import Outcome
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue

MASK = "********"  # what the sender writes for a secret
#: Secrets of the seeded servers: no deliveries answer may contain any of them.
SECRETS = ("Seed-Basic-Pw-71", "Seed-Client-Secret-72", "Seed-Refresh-73")


class NoEngine:
    """Runs in place of the delivery engine: the tests' deliveries stay as the tests store them."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


@contextmanager
def serve_without_engine(settings: Settings) -> Iterator[LiveWI]:
    """WI over real HTTP whose lifespan starts no delivery engine."""
    with serve_wi(settings, password_hasher=FAST_HASHER, background=(NoEngine(),)) as live:
        yield live


@dataclass(frozen=True)
class Seeded:
    """Ids of the seeded deliveries by their state, and of their servers and events."""

    delivered: int
    dead: int
    pending: int
    retrying: int
    held: int
    servers: dict[str, int]
    events: dict[int, int]  # ticket id → event id


def seed(services: Services) -> Seeded:
    """Three servers and five deliveries: delivered, dead, pending, retrying, held.

    ``itsm`` and ``jira`` carry secrets; ``remedy`` is disabled, so its delivery is held.
    Planned at T0 (tickets 101-103) and T0 + 1 h (tickets 104-105).
    """
    services.servers.create({
        "name": "itsm", "host": "itsm.example.com",
        "auth": {"method": "basic", "username": "wi", "password": SECRETS[0]},
    })
    services.servers.create({
        "name": "jira", "host": "jira.example.com",
        "auth": {"method": "oauth2", "grant_type": "refresh_token",
                 "token_url": "https://jira.example.com/token", "client_id": "wi",
                 "client_secret": SECRETS[1], "refresh_token": SECRETS[2]},
    })
    services.servers.create({"name": "remedy", "host": "remedy.example.com",
                                      "enabled": False})
    ids = {name: services.servers.id_of(name) for name in ("itsm", "jira", "remedy")}
    db = QueueDb("", services.engine, services.sessions,
                 DatabaseDeliveryQueue(services.engine, services.sessions))
    events = {t: db.add_event(t, f"2026-03-01T08:{t - 100:02d}:00Z") for t in range(101, 106)}
    db.plan(events[101], ids["itsm"])
    db.plan(events[102], ids["itsm"])
    db.plan(events[103], ids["jira"])
    claimed = {c.ticket_id: c for c in db.queue.claim("seed", 10, T0, LEASE)}
    sent_headers = [("Authorization", f"Basic {MASK}"), ("Content-Type", "application/json")]
    assert db.queue.record(claimed[101].id, "seed", Outcome(
        "delivered", "201 Created",
        attempt(T0, 201, request_headers=sent_headers, request_body='{"short": "fw change"}',
                response_headers=[("Content-Type", "application/json")],
                response_body='{"result": {"number": "INC0010001"}}'),
        status=201), T0)
    assert db.queue.record(claimed[102].id, "seed", Outcome(
        "dead", "answered 400: final", attempt(T0, 400, request_headers=sent_headers,
                                               response_body='{"error": "bad field"}'),
        status=400), T0)
    assert db.queue.record(claimed[103].id, "seed", Outcome(
        "retry", "connect failed", attempt(T0, None, error_class="ConnectError",
                                           error_message="connection refused",
                                           stage="connect"),
        retry_at=T0 + timedelta(minutes=5)), T0)
    later = T0 + timedelta(hours=1)
    db.plan(events[104], ids["itsm"], now=later)
    db.plan(events[105], ids["remedy"], now=later)
    db.queue.refresh_held(later)
    return Seeded(
        delivered=claimed[101].id, dead=claimed[102].id, retrying=claimed[103].id,
        pending=db.deliveries(event_id=events[104])[0].id,
        held=db.deliveries(event_id=events[105])[0].id, servers=ids, events=events,
    )
