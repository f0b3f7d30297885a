"""End-to-end delivery benchmark on SQLite: events stored through intake, planned from
the SecureChange simulator's tickets and delivered by the engine to a receiver in its own
process, next to a plain ``httpx2.AsyncClient`` loop sending the same requests there.

Two engine runs: ``burst`` (all events stored first, then the engine started: the
engine alone) and ``paced`` (events stored at ``--rate`` per second while it runs:
intake→delivered latency under a steady load).
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from rich.table import Table
from sqlalchemy import select
from tests.servers.simulator import SimulatorHandle, run_simulator
from tests.servers.uvicorn_thread import free_port

from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.engine import DeliveryEngine, build_engine
from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.delivery.worker import WorkerSettings
from workflow_integrator.domain.delivery import DeliveryState
from workflow_integrator.securechange.trigger_info import render_ticket_info
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue, DeliveryRow
from workflow_integrator.store.events import EventRow

WORKFLOW = "Firewall Change Request"
PATH = "/api/now/table/incident"
BODY = '{"short_description": "{{ticket_subject}}", "correlation_id": "{{ticket_id}}"}'
USER, PASSWORD = "wi", "pw-0123456789"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """One measured run: how many requests, how long, and their latencies (seconds)."""

    name: str
    requests: int
    seconds: float
    latencies: list[float]
    #: Whether its rate compares with the plain client's (a paced run's does not).
    comparable: bool = True

    @property
    def per_second(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0


@contextmanager
def receiver_process() -> Iterator[str]:
    """The receiver (bench/receiver.py) under uvicorn in a process of its own; its host."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                    break
            except httpx2.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the benchmark receiver did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _configure(services: Services, simulator: SimulatorHandle, host: str,
               concurrency: int) -> None:
    services.securechange.replace(simulator.connection_settings())
    services.servers.create({"name": "receiver", "host": host, "protocol": "http",
                             "max_concurrency": concurrency,
                             "auth": {"method": "basic", "username": USER, "password": PASSWORD}})
    services.integrations.create({
        "workflow": WORKFLOW, "default_server": "receiver",
        "points": [{"name": "open incident", "on": {"trigger": "CREATE"},
                    "request": {"method": "POST", "path": PATH, "body": BODY}}],
    })


def _documents(simulator: SimulatorHandle, count: int, label: str) -> list[bytes]:
    """Trigger documents of ``count`` new tickets (one CREATE each)."""
    tickets = [simulator.create_ticket(f"bench {label} {i}") for i in range(count)]
    return [render_ticket_info(simulator.server.simulator.ticket_info(t.id)).encode()
            for t in tickets]


def _store(intake: EventIntake, documents: list[bytes]) -> list[int]:
    ids = []
    for document in documents:
        stored = intake.receive_securechange(document, "CREATE")
        assert stored is not None
        ids.append(stored.event.id)
    return ids


def _delivered(services: Services, event_ids: list[int]) -> list[tuple[float, str]]:
    """(intake→finished seconds, state) of the finished deliveries of these events."""
    with services.sessions() as session:
        rows = session.execute(
            select(DeliveryRow.state, DeliveryRow.finished_at, EventRow.received_at)
            .join(EventRow, EventRow.id == DeliveryRow.event_id)
            .where(DeliveryRow.event_id.in_(event_ids), DeliveryRow.finished_at.is_not(None))
        ).all()
    return [((finished - received).total_seconds(), state)
            for state, finished, received in rows if finished is not None]


async def _wait_finished(services: Services, event_ids: list[int],
                         timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while True:
        done = await asyncio.to_thread(_delivered, services, event_ids)
        if len(done) >= len(event_ids):
            bad = [state for _, state in done if state != DeliveryState.DELIVERED]
            if bad:
                raise RuntimeError(f"{len(bad)} deliveries ended {bad[0]}")
            return [latency for latency, _ in done]
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)} of {len(event_ids)} delivered in {timeout}s")
        await asyncio.sleep(0.01)


async def _engine_runs(services: Services, engine: DeliveryEngine, burst: list[bytes],
                       paced: list[bytes], rate: float) -> list[Run]:
    intake = EventIntake(services.sessions)
    ids = await asyncio.to_thread(_store, intake, burst)
    start = time.perf_counter()
    await engine.start()
    try:
        latencies = await _wait_finished(services, ids, 300)
        runs = [Run("engine, events stored first", len(ids), time.perf_counter() - start,
                    latencies)]
        paced_ids: list[int] = []

        def store_paced() -> None:
            begin = time.perf_counter()
            for index, document in enumerate(paced):
                pause = begin + index / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                paced_ids.extend(_store(intake, [document]))
                engine.wake_threadsafe()

        start = time.perf_counter()
        writer = threading.Thread(target=store_paced)
        writer.start()
        await asyncio.to_thread(writer.join)
        latencies = await _wait_finished(services, paced_ids, 300)
        runs.append(Run(f"engine, intake at {rate:g}/s", len(paced_ids),
                        time.perf_counter() - start, latencies, comparable=False))
        return runs
    finally:
        await engine.stop()


async def _plain_client(host: str, count: int, concurrency: int) -> Run:
    """The same requests from a plain client loop with the engine's concurrency."""
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async with httpx2.AsyncClient(base_url=f"http://{host}") as client:
        async def send(index: int) -> None:
            body = f'{{"short_description": "bench {index}", "correlation_id": "{index}"}}'
            async with limit:
                began = time.perf_counter()
                response = await client.post(PATH, content=body, headers={
                    "Authorization": auth, "Content-Type": "application/json",
                    "Idempotency-Key": f"bench-{index}"})
                latencies.append(time.perf_counter() - began)
                assert response.status_code == 201, response.text

        start = time.perf_counter()
        await asyncio.gather(*(send(i) for i in range(count)))
        return Run("plain httpx2.AsyncClient", count, time.perf_counter() - start, latencies)


def run_delivery_bench(folder: Path, events: int, rate: float, concurrency: int) -> Table:
    """Run the engine (burst, paced) and the plain client; their figures as a table."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None, data_dir=folder, worker_concurrency=concurrency)
    with run_simulator(folder / "securechange-sim.json") as simulator, \
            receiver_process() as host:
        services = build_services(settings)
        try:
            _configure(services, simulator, host, concurrency)
            burst = _documents(simulator, events, "burst")
            paced = _documents(simulator, events, "paced")
            queue = DatabaseDeliveryQueue(services.engine, services.sessions)
            engine = build_engine(services, queue,
                                  settings=WorkerSettings(concurrency=concurrency))
            runs = asyncio.run(_engine_runs(services, engine, burst, paced, rate))
            plain = asyncio.run(_plain_client(host, events, concurrency))
        finally:
            services.close()
    return _table(events, [*runs, plain])


def _table(events: int, runs: list[Run]) -> Table:
    plain = runs[-1]
    table = Table(title=f"End-to-end delivery, SQLite, {events} events "
                        "(latency: intake→delivered; plain client: per request)")
    for column in ("run", "requests", "seconds", "per second", "p50", "p95", "p99",
                   "vs plain"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for run in runs:
        cuts = statistics.quantiles(run.latencies, n=100, method="inclusive")
        table.add_row(run.name, str(run.requests), f"{run.seconds:.2f}", f"{run.per_second:,.0f}",
                      *(f"{cuts[p - 1] * 1e3:.1f} ms" for p in (50, 95, 99)),
                      f"{run.per_second / plain.per_second:.2f}" if run.comparable else "-")
    return table
