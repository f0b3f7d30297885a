"""Several processes claiming from one database: no delivery twice, no server over its limit."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from tests.delivery.conftest import LEASE, T0, QueueDb, delivered, open_db
from workflow_integrator.delivery.queue import ClaimedDelivery
from workflow_integrator.domain.delivery import DeliveryState
from workflow_integrator.store.deliveries import DeliveryRow

LIMITS = {"narrow": 2, "wide": 3}
TICKETS = 25
EVENTS_PER_TICKET = 2
PROCESSES = 3


def claim_until_empty(
    url: str, worker: str, barrier: Any
) -> tuple[list[tuple[int, int]], dict[int, int]]:
    """Run in a child process, in lockstep with the others: all claim at once, check what is
    in flight, and record a round later; until every delivery is delivered.

    Returns (delivery id, attempt) of every claim and the most in flight seen per server.
    """
    db = open_db(url)
    claims: list[tuple[int, int]] = []
    most: Counter[int] = Counter()
    now = T0
    held: list[ClaimedDelivery] = []
    size = 1 + int(worker[1:]) * 2  # different batch sizes: the processes see different cuts
    while True:
        barrier.wait()
        batch = db.queue.claim(worker, size, now, LEASE)
        with db.sessions() as session:
            in_flight = session.execute(
                select(DeliveryRow.server_id, func.count())
                .where(DeliveryRow.state == DeliveryState.IN_FLIGHT)
                .group_by(DeliveryRow.server_id)
            ).all()
        for server_id, count in in_flight:
            most[server_id] = max(most[server_id], count)
        barrier.wait()  # everybody holds their claims here
        claims.extend((claimed.id, claimed.attempt) for claimed in batch)
        # Finish the previous round's claims; this round's stay in flight for the next claims.
        for claimed in held:
            assert db.queue.record(claimed.id, worker, delivered(), now)
        held = batch
        barrier.wait()
        with db.sessions() as session:
            left = session.scalar(
                select(func.count()).select_from(DeliveryRow)
                .where(DeliveryRow.state != DeliveryState.DELIVERED)
            )
        if not left:
            break
    db.engine.dispose()
    return claims, dict(most)


def test_processes_never_claim_one_delivery_twice_nor_exceed_a_servers_limit(
    db: QueueDb,
) -> None:
    servers = {name: db.add_server(name, max_concurrency=n) for name, n in LIMITS.items()}
    for ticket in range(TICKETS):
        for n in range(EVENTS_PER_TICKET):
            event = db.add_event(1000 + ticket, f"2024-05-01T10:0{n}:00Z")
            db.plan(event, servers["narrow"], servers["wide"])
    total = TICKETS * EVENTS_PER_TICKET * len(servers)

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        barrier = manager.Barrier(PROCESSES, timeout=60)
        results = pool.starmap(
            claim_until_empty, [(db.url, f"p{i}", barrier) for i in range(PROCESSES)]
        )

    claims = [c for found, _ in results for c in found]
    ids = [delivery_id for delivery_id, _ in claims]
    assert len(ids) == total and len(set(ids)) == total
    assert all(attempt_no == 1 for _, attempt_no in claims)
    assert {r.state for r in db.deliveries()} == {DeliveryState.DELIVERED}
    for name, server_id in servers.items():
        seen = max(most.get(server_id, 0) for _, most in results)
        assert 1 <= seen <= LIMITS[name], (name, seen)
    # The claims really ran side by side.
    assert sum(1 for found, _ in results if found) >= 2


def test_claims_follow_ticket_order_under_concurrency(db: QueueDb) -> None:
    server = db.add_server("one", max_concurrency=4)
    events = [db.add_event(5, f"2024-05-01T10:{m:02d}:00Z") for m in range(6)]
    for event in reversed(events):
        db.plan(event, server)
    order = []
    now = T0
    while True:
        batch = db.queue.claim("w", 10, now, LEASE)
        if not batch:
            break
        assert len(batch) == 1  # one ticket, one server: one at a time
        order.append(batch[0].event_id)
        db.queue.record(batch[0].id, "w", delivered(), now)
        now += timedelta(seconds=1)
    assert order == events
