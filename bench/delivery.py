"""End-to-end delivery benchmark: intake → delivered to an OAuth 2.0 receiver in its own
process, next to a plain ``httpx2.AsyncClient`` loop sending the same requests there.

WI runs as the operator runs it (``wi serve``, ``wi worker`` processes); the bench
process stores or posts events, serves the SecureChange simulator's tickets and reads
the figures from the database. Runs (see ``bench/README.md``):

- plain client: the same requests with one OAuth token, at the engine's concurrency;
- engine alone: events stored first, then one ``wi worker`` plans and sends them;
- saturation: events posted to ``wi serve`` as fast as it takes them;
- paced: events posted at ``--rate`` per second (intake→delivered latency);
- PostgreSQL (``--postgres``): saturation with ``wi serve`` (no workers) and 1, then 2
  ``wi worker`` processes (scaling ratio);
- pending: ``--pending`` deliveries seeded directly in the database, drained by one
  ``wi worker`` (peak RSS, drain time);
- statements: one engine in this process, every statement counted
  (``before_cursor_execute``) per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import event, func, insert, select
from tests.foundation.wi_cli import WI, wi_env
from tests.servers.postgres import create_database, postgres_cluster
from tests.servers.simulator import SimulatorHandle, run_simulator
from tests.servers.uvicorn_thread import free_port

from bench.receiver import CLIENT_ID, CLIENT_SECRET, PASSWORD, USER
from bench.runner import Result, Runner
from workflow_integrator.app import Services, build_services
from workflow_integrator.delivery.engine import build_engine
from workflow_integrator.delivery.worker import WorkerSettings
from workflow_integrator.domain.delivery import DeliveryState, WritebackState
from workflow_integrator.domain.events import EventState, dedupe_key
from workflow_integrator.securechange.trigger_info import render_ticket_info
from workflow_integrator.settings import Settings
from workflow_integrator.store.deliveries import DatabaseDeliveryQueue, DeliveryRow
from workflow_integrator.store.events import EventRow

WORKFLOW = "Firewall Change Request"
PATH = "/api/now/table/incident"
BODY = '{"short_description": "{{ticket_subject}}", "correlation_id": "{{ticket_id}}"}'
ROOT = Path(__file__).resolve().parents[1]
INTAKE_PATH = "/api/v1/events/securechange?event=CREATE"


@dataclass(frozen=True)
class Sizes:
    """How much each run sends."""

    events: int = 2000
    paced_events: int = 1000
    rate: float = 200.0
    concurrency: int = 16
    pending: int = 100_000
    statement_events: int = 300
    #: Posts to ``wi serve`` at once in the saturation runs.
    intake_concurrency: int = 8


SMOKE = Sizes(events=12, paced_events=8, rate=50.0, concurrency=4, pending=100,
              statement_events=8, intake_concurrency=4)
#: Lifetime of the receiver's access tokens (WI renews 10 %, at most 60 s, early).
TOKEN_SECONDS = 3600


@dataclass
class Row:
    """One line of the table (and of the JSON file)."""

    run: str
    database: str
    workers: str
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    #: Compared with the plain client's rate (paced runs are not: they wait for events).
    comparable: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Requests per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0

    def cuts(self) -> dict[str, float | None]:
        """p50/p95/p99 of the latencies, seconds (None without latencies)."""
        if len(self.latencies) < 2:
            only = self.latencies[0] if self.latencies else None
            return {"p50": only, "p95": only, "p99": only}
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}

    def figures(self, plain: float | None) -> dict[str, Any]:
        """The row as JSON."""
        return {"run": self.run, "database": self.database, "workers": self.workers,
                "requests": self.requests, "seconds": round(self.seconds, 3),
                "per_second": round(self.per_second, 1), **self.cuts(),
                "vs_plain": round(self.per_second / plain, 3) if plain and self.comparable
                else None, "note": self.note, **self.extra}


# -- the receiver --------------------------------------------------------------------------


@dataclass
class Receiver:
    """bench/receiver.py in a process of its own."""

    host: str

    def stats(self) -> dict[str, int]:
        """Token endpoint calls and accepted requests so far."""
        answer: dict[str, int] = httpx2.get(f"http://{self.host}/stats", trust_env=False).json()
        return answer


@contextmanager
def receiver_process(token_seconds: int = 3600) -> Iterator[Receiver]:
    """Start the receiver under uvicorn; stop it after the block."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env={**os.environ, "BENCH_TOKEN_SECONDS": str(token_seconds)},
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/ready", process)
        yield Receiver(f"127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx2.get(url, trust_env=False, timeout=2).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"{url} did not answer")
        time.sleep(0.05)


# -- a WI site: its database, configuration and processes ----------------------------------


@dataclass
class Site:
    """A configured WI data folder and database, and the bench's view of it."""

    folder: Path
    database: str
    settings: Settings
    services: Services
    token: str
    url: str | None = None

    def env(self, concurrency: int, **extra: str) -> dict[str, str]:
        """The environment of this site's ``wi`` processes."""
        values = {"WI_WORKER_CONCURRENCY": str(concurrency), "WI_LOG_LEVEL": "warning",
                  **extra}
        if self.url is not None:
            values["WI_DATABASE_URL"] = self.url
        return wi_env(self.settings.data_dir, **values)


@contextmanager
def wi_site(folder: Path, database: str, url: str | None, simulator: SimulatorHandle,
            receiver: Receiver, concurrency: int) -> Iterator[Site]:
    """A fresh data folder and database: SecureChange, the OAuth server, the integration."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(_env_file=None, data_dir=folder / "data", database_url=url)
    services = build_services(settings)
    try:
        services.securechange.replace(simulator.connection_settings())
        services.servers.create({
            "name": "receiver", "host": receiver.host, "protocol": "http",
            "max_concurrency": concurrency,
            "auth": {"method": "oauth2", "grant_type": "password",
                     "token_url": f"http://{receiver.host}/oauth/token", "username": USER,
                     "password": PASSWORD, "client_id": CLIENT_ID,
                     "client_secret": CLIENT_SECRET, "client_auth": "client_secret_post"},
        })
        services.integrations.create({
            "workflow": WORKFLOW, "default_server": "receiver",
            "points": [{"name": "open incident", "on": {"trigger": "CREATE"},
                        "request": {"method": "POST", "path": PATH, "body": BODY}}],
        })
        _, token = services.tokens.create("bench", "admin")
        yield Site(folder, database, settings, services, token, url)
    finally:
        services.close()


@contextmanager
def wi_processes(site: Site, concurrency: int, *, serve: bool, workers: int,
                 serve_workers: bool = False) -> Iterator[tuple[str | None, list[int]]]:
    """``wi serve`` (when ``serve``) and ``workers`` × ``wi worker``; (serve URL, pids)."""
    processes: list[subprocess.Popen[bytes]] = []
    url = None
    logs = site.folder / "logs"
    logs.mkdir(exist_ok=True)
    try:
        if serve:
            port = free_port()
            env = site.env(concurrency, WI_SERVE_WORKERS=str(serve_workers).lower())
            processes.append(_spawn([WI, "serve", "--port", str(port)], site, env, logs))
            url = f"http://127.0.0.1:{port}"
            _wait_http(f"{url}/healthz", processes[-1])
        for _ in range(workers):
            processes.append(_spawn([WI, "worker"], site, site.env(concurrency), logs))
        yield url, [p.pid for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(command: list[str], site: Site, env: dict[str, str],
           logs: Path) -> subprocess.Popen[bytes]:
    name = f"{Path(command[0]).name}-{command[1]}-{len(list(logs.iterdir()))}"
    with (logs / f"{name}.err").open("wb") as err:
        return subprocess.Popen(command, cwd=site.folder, env=env, stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL)


# -- events --------------------------------------------------------------------------------


def documents(simulator: SimulatorHandle, count: int, label: str) -> list[bytes]:
    """Trigger documents of ``count`` new tickets (one CREATE each)."""
    tickets = [simulator.create_ticket(f"bench {label} {i}") for i in range(count)]
    return [render_ticket_info(simulator.server.simulator.ticket_info(t.id)).encode()
            for t in tickets]


def store_events(site: Site, docs: list[bytes]) -> list[int]:
    """Store events directly (intake's code, no HTTP): the engine-alone runs."""
    ids = []
    for document in docs:
        stored = site.services.events.receive_securechange(document, "CREATE")
        assert stored is not None
        ids.append(stored.event.id)
    return ids


async def post_events(url: str, token: str, docs: list[bytes], *, rate: float | None,
                      concurrency: int) -> tuple[list[int], int]:
    """POST the documents to ``wi serve``: as fast as it answers (``rate`` None, with
    ``concurrency`` posts at once) or one every 1/``rate`` seconds; the stored event ids
    and how many posts were retried (a 5xx is retried as ``wi-trigger`` retries it)."""
    ids: list[int] = [0] * len(docs)
    retried = 0
    limit = asyncio.Semaphore(concurrency if rate is None else len(docs) or 1)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/xml"}
    async with httpx2.AsyncClient(base_url=url, headers=headers, trust_env=False,
                                  timeout=60, limits=httpx2.Limits(max_connections=64)) as client:
        async def post(index: int, document: bytes) -> None:
            nonlocal retried
            async with limit:
                for attempt in range(6):
                    try:
                        answer = await client.post(INTAKE_PATH, content=document)
                    except httpx2.TransportError:
                        if attempt == 5:
                            raise
                    else:
                        if answer.status_code < 500 or attempt == 5:
                            break
                    retried += 1
                    await asyncio.sleep(0.2 * 2**attempt)
                assert answer.status_code == 202, answer.text
                ids[index] = int(answer.json()["id"])

        begin = time.perf_counter()
        tasks = []
        for index, document in enumerate(docs):
            if rate is not None:
                pause = begin + index / rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
            tasks.append(asyncio.create_task(post(index, document)))
        await asyncio.gather(*tasks)
    return ids, retried


def finished(site: Site, event_ids: list[int]) -> list[tuple[datetime, datetime, datetime, str]]:
    """(received, planned, finished, state) of the finished deliveries of these events."""
    found: list[tuple[datetime, datetime, datetime | None, str]] = []
    with site.services.sessions() as session:
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start:start + 500]
            found += session.execute(
                select(EventRow.received_at, DeliveryRow.created_at, DeliveryRow.finished_at,
                       DeliveryRow.state)
                .join(EventRow, EventRow.id == DeliveryRow.event_id)
                .where(DeliveryRow.event_id.in_(chunk), DeliveryRow.finished_at.is_not(None))
            ).all()
    return [(r, p, f, s) for r, p, f, s in found if f is not None]


def wait_finished(site: Site, event_ids: list[int], timeout: float,
                  progress: Progress | None = None,
                  task: Any = None) -> list[tuple[datetime, datetime, datetime, str]]:
    """Wait until every event's delivery finished; all must be delivered."""
    deadline = time.monotonic() + timeout
    while True:
        done = finished(site, event_ids)
        if progress is not None and task is not None:
            progress.update(task, completed=len(done))
        if len(done) >= len(event_ids):
            bad = [state for *_, state in done if state != DeliveryState.DELIVERED]
            if bad:
                raise RuntimeError(f"{len(bad)} deliveries ended {bad[0]}")
            return done
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(done)} of {len(event_ids)} delivered in {timeout}s")
        time.sleep(0.05)


def _span(rows: list[tuple[datetime, datetime, datetime, str]], start: str) -> float:
    first = min(r[0] if start == "received" else r[1] for r in rows)
    last = max(r[2] for r in rows)
    return max((last - first).total_seconds(), 1e-6)


# -- the runs ------------------------------------------------------------------------------


async def plain_client(receiver: Receiver, count: int, concurrency: int) -> Row:
    """The same requests from a plain client loop: one token, then ``count`` POSTs."""
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    async with httpx2.AsyncClient(base_url=f"http://{receiver.host}", trust_env=False,
                                  timeout=30) as client:
        token = (await client.post("/oauth/token", data={
            "grant_type": "password", "username": USER, "password": PASSWORD,
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        })).json()["access_token"]
        auth = f"Bearer {token}"

        async def send(index: int) -> None:
            body = f'{{"short_description": "bench {index}", "correlation_id": "{index}"}}'
            async with limit:
                began = time.perf_counter()
                response = await client.post(PATH, content=body, headers={
                    "Authorization": auth, "Content-Type": "application/json",
                    "Idempotency-Key": uuid.uuid4().hex, "X-WI-Delivery-Id": str(index)})
                latencies.append(time.perf_counter() - began)
                assert response.status_code == 201, response.text

        start = time.perf_counter()
        await asyncio.gather(*(send(i) for i in range(count)))
        return Row("plain httpx2.AsyncClient loop ¹", "-", "-", count,
                   time.perf_counter() - start, latencies)


def engine_alone(site: Site, docs: list[bytes], sizes: Sizes, progress: Progress) -> Row:
    """Events stored first; one ``wi worker`` plans and sends them (first plan → last sent)."""
    ids = store_events(site, docs)
    task = progress.add_task(f"{site.database}: engine alone", total=len(ids))
    with wi_processes(site, sizes.concurrency, serve=False, workers=1):
        done = wait_finished(site, ids, 600, progress, task)
    latencies = [(f - p).total_seconds() for _, p, f, _ in done]
    return Row("engine alone, events stored first ²",
               site.database, "1 wi worker", len(ids), _span(done, "planned"), latencies)


def through_intake(site: Site, docs: list[bytes], sizes: Sizes, progress: Progress, *,
                   rate: float | None, workers: int) -> Row:
    """Events posted to ``wi serve`` (workers in it on SQLite, apart on PostgreSQL)."""
    in_serve = workers == 0
    label = "in wi serve" if in_serve else f"{workers} wi worker" + ("s" if workers > 1 else "")
    what = "saturation" if rate is None else f"intake at {rate:g}/s"
    task = progress.add_task(f"{site.database}: {what}, {label}", total=len(docs))
    with wi_processes(site, sizes.concurrency, serve=True, workers=workers,
                      serve_workers=in_serve) as (url, pids):
        assert url is not None
        settle(pids)
        cpu = cpu_seconds(pids)
        ids, retried = asyncio.run(post_events(url, site.token, docs, rate=rate,
                                               concurrency=sizes.intake_concurrency))
        done = wait_finished(site, ids, 600, progress, task)
        cpu = cpu_seconds(pids) - cpu
    latencies = [(f - r).total_seconds() for r, _, f, _ in done]
    per = cpu * 1000 / max(1, len(ids))
    return Row(f"intake→delivered, {what}", site.database, label, len(ids),
               _span(done, "received"), latencies, comparable=rate is None,
               note=f"WI CPU {per:.1f} ms/delivery"
                    + (f"; {retried} intake 5xx retried" if retried else ""),
               extra={"wi_cpu_ms_per_delivery": round(per, 2), "intake_retries": retried})


def pending_drain(site: Site, simulator: SimulatorHandle, sizes: Sizes,
                  progress: Progress) -> Row:
    """``sizes.pending`` deliveries seeded in the database, drained by one ``wi worker``:
    its peak RSS and the time to drain them (from the worker's start)."""
    seeded = seed_pending(site, simulator, sizes.pending)
    task = progress.add_task(f"{site.database}: drain {sizes.pending:,} pending",
                             total=sizes.pending)
    peak = 0
    start = time.perf_counter()
    with wi_processes(site, sizes.concurrency, serve=False, workers=1) as (_url, pids):
        while True:
            left = unfinished(site)
            progress.update(task, completed=seeded - left)
            peak = max(peak, _rss_peak(pids[0]))
            if left == 0:
                break
            if time.perf_counter() - start > 3600:
                raise RuntimeError(f"{left} deliveries still pending after an hour")
            time.sleep(0.5)
        seconds = time.perf_counter() - start
        peak = max(peak, _rss_peak(pids[0]))
    with site.services.sessions() as session:
        delivered = session.scalar(select(func.count()).select_from(DeliveryRow)
                                   .where(DeliveryRow.state == DeliveryState.DELIVERED)) or 0
    return Row(f"drain {seeded:,} seeded pending ³",
               site.database, "1 wi worker", delivered, seconds, comparable=False,
               note=f"peak RSS {peak / 2**20:.0f} MiB",
               extra={"peak_rss_mib": round(peak / 2**20, 1)})


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (0 for one that is gone)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def settle(pids: list[int], timeout: float = 120) -> None:
    """Wait until the processes are idle (started up: imports done, first polls made)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pids)
        if now - last < 0.02 * len(pids):
            return
        last = now


def _rss_peak(pid: int) -> int:
    """VmHWM (peak resident set) of a process, bytes; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def unfinished(site: Site) -> int:
    """Deliveries not finished yet."""
    with site.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(DeliveryRow)
                              .where(DeliveryRow.finished_at.is_(None))) or 0


def seed_pending(site: Site, simulator: SimulatorHandle, count: int) -> int:
    """``count`` planned events with one pending delivery each, inserted in batches (one
    ticket each, so FIFO holds none back); the ticket snapshot of one simulator ticket."""
    ticket = simulator.create_ticket("bench pending")
    info_doc = render_ticket_info(simulator.server.simulator.ticket_info(ticket.id)).encode()
    stored = site.services.events.receive_securechange(info_doc, "CREATE")
    assert stored is not None
    services = site.services
    server_id = services.servers.id_of("receiver")
    snapshot = ticket.to_dict()
    now = datetime.now(UTC)
    with services.sessions() as session:
        template = session.get(EventRow, stored.event.id)
        assert template is not None
        info, document = dict(template.info), template.document
        session.delete(template)
        session.commit()
    base = 10_000_000
    batch = 2000
    with services.engine.begin() as connection:
        for start in range(0, count, batch):
            size = min(batch, count - start)
            first = connection.execute(
                select(func.coalesce(func.max(EventRow.id), 0))).scalar() or 0
            events = [{
                "id": first + 1 + i, "source": "securechange", "ticket_id": base + start + i,
                "event": "CREATE", "update_date": "", "received_at": now,
                "state": EventState.PLANNED, "state_changed_at": now, "info": info,
                "document": document, "content_type": "application/xml",
                "dedupe_key": dedupe_key("securechange", base + start + i, "CREATE",
                                         f"seed-{start + i}"),
                "received_count": 1, "order_at": now, "plan_attempts": 1,
                "ticket_snapshot": snapshot, "ticket_read_at": now,
            } for i in range(size)]
            connection.execute(insert(EventRow), events)
            connection.execute(insert(DeliveryRow), [{
                "event_id": e["id"], "ticket_id": e["ticket_id"], "workflow": WORKFLOW,
                "point_name": "open incident", "point_index": 0, "server_id": server_id,
                "order_at": now, "state": DeliveryState.PENDING, "due_at": now, "attempts": 0,
                "give_up_at": now + timedelta(hours=24), "idempotency_key": uuid.uuid4().hex,
                "late": False, "replay_series": 0, "writeback_state": WritebackState.NONE,
                "writeback_attempts": 0, "created_at": now, "updated_at": now,
            } for e in events])
    return count


def statement_cost(site: Site, docs: list[bytes]) -> Row:
    """One engine in this process: statements and commits per delivery (planning and
    sending), counted with SQLAlchemy's ``before_cursor_execute`` and ``commit`` events."""
    ids = store_events(site, docs)
    counts = {"statements": 0, "commits": 0}
    polling = threading.local()  # the bench's own reads are not counted

    def on_statement(*_args: Any) -> None:
        if not getattr(polling, "active", False):
            counts["statements"] += 1

    def on_commit(*_args: Any) -> None:
        if not getattr(polling, "active", False):
            counts["commits"] += 1

    def poll() -> list[tuple[datetime, datetime, datetime, str]]:
        polling.active = True
        try:
            return finished(site, ids)
        finally:
            polling.active = False

    engine = site.services.engine
    queue = DatabaseDeliveryQueue(engine, site.services.sessions)
    worker = build_engine(site.services, queue, settings=WorkerSettings(concurrency=16))

    async def run() -> list[tuple[datetime, datetime, datetime, str]]:
        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "commit", on_commit)
        try:
            await worker.start()
            while True:
                done = await asyncio.to_thread(poll)
                if len(done) >= len(ids):
                    break
                await asyncio.sleep(0.05)
            await worker.stop()
        finally:
            event.remove(engine, "before_cursor_execute", on_statement)
            event.remove(engine, "commit", on_commit)
        return done

    start = time.perf_counter()
    done = asyncio.run(run())
    seconds = time.perf_counter() - start
    per = {k: v / max(1, len(ids)) for k, v in counts.items()}
    return Row("database statements per delivery ⁴", site.database,
               "in-process", len(done), seconds, comparable=False,
               note=f"{per['statements']:.1f} statements, {per['commits']:.2f} commits",
               extra={"statements_per_delivery": round(per["statements"], 2),
                      "commits_per_delivery": round(per["commits"], 2)})


# -- the runner ----------------------------------------------------------------------------


def _options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("delivery")
    default = Sizes()
    group.add_argument("--events", type=int, help=f"events per run (default {default.events})")
    group.add_argument("--paced-events", type=int,
                       help=f"events of the paced run (default {default.paced_events})")
    group.add_argument("--rate", type=float,
                       help=f"events per second of the paced run (default {default.rate:g})")
    group.add_argument("--concurrency", type=int,
                       help=f"sends at once, engine and plain client (default "
                            f"{default.concurrency})")
    group.add_argument("--postgres-cluster", metavar="ADMIN_URL",
                       help="with --postgres: create the databases in this running cluster "
                            "instead of starting one")
    group.add_argument("--pending", type=int,
                       help=f"deliveries seeded for the drain run (default {default.pending:,}; "
                            "0 skips it)")


def sizes_from(args: argparse.Namespace) -> Sizes:
    """The sizes: ``--smoke`` or the defaults, each overridable by its option."""
    base = SMOKE if args.smoke else Sizes()
    chosen = {name: getattr(args, name) for name in
              ("events", "paced_events", "rate", "concurrency", "pending")
              if getattr(args, name, None) is not None}
    return Sizes(**{**base.__dict__, **chosen})


def run_delivery(args: argparse.Namespace, folder: Path, progress: Progress) -> Result:
    """Every delivery run on SQLite (and PostgreSQL with ``--postgres``)."""
    sizes = sizes_from(args)
    rows: list[Row] = []
    tokens: dict[str, Any] = {}
    steps = progress.add_task("delivery runs", total=6 + (3 if args.postgres else 0))
    with ExitStack() as stack:
        simulator = stack.enter_context(run_simulator(None))
        receiver = stack.enter_context(receiver_process())
        docs = iter(documents(simulator, sizes.events * (4 + (2 if args.postgres else 0))
                              + sizes.paced_events + sizes.statement_events, "bench"))

        def take(count: int) -> list[bytes]:
            return [next(docs) for _ in range(count)]

        rows.append(asyncio.run(plain_client(receiver, sizes.events, sizes.concurrency)))
        progress.advance(steps)
        calls_before = receiver.stats()["token_calls"]
        delivered_before = receiver.stats()["accepted"]
        sites: list[tuple[str, str | None]] = [("sqlite", None)]
        if args.postgres:
            sites.append(("postgresql", args.postgres_cluster
                          or stack.enter_context(postgres_cluster())))
        sites_run = 3 + (3 if args.postgres else 0)
        for database, cluster in sites:
            def site(name: str, database: str = database, cluster: str | None = cluster
                     ) -> Any:
                url = create_database(cluster) if cluster is not None else None
                return wi_site(folder / f"{database}-{name}", database, url, simulator,
                               receiver, sizes.concurrency)

            with site("alone") as s:
                rows.append(engine_alone(s, take(sizes.events), sizes, progress))
            progress.advance(steps)
            if database == "sqlite":
                with site("saturation") as s:
                    rows.append(through_intake(s, take(sizes.events), sizes, progress,
                                               rate=None, workers=0))
                progress.advance(steps)
                with site("paced") as s:
                    rows.append(through_intake(s, take(sizes.paced_events), sizes, progress,
                                               rate=sizes.rate, workers=0))
                progress.advance(steps)
            else:
                for workers in (1, 2):
                    with site(f"saturation-{workers}") as s:
                        rows.append(through_intake(s, take(sizes.events), sizes, progress,
                                                   rate=None, workers=workers))
                    progress.advance(steps)
        stats = receiver.stats()
        tokens = token_figures(stats["token_calls"] - calls_before,
                               stats["accepted"] - delivered_before, sites_run, rows)
        if sizes.pending:
            with wi_site(folder / "pending", "sqlite", None, simulator, receiver,
                         sizes.concurrency) as s:
                rows.append(pending_drain(s, simulator, sizes, progress))
        progress.advance(steps)
        with wi_site(folder / "statements", "sqlite", None, simulator, receiver,
                     sizes.concurrency) as s:
            rows.append(statement_cost(s, take(sizes.statement_events)))
        progress.advance(steps)
    plain = rows[0].per_second
    figures: dict[str, Any] = {"sizes": sizes.__dict__,
                               "rows": [row.figures(plain) for row in rows],
                               "token_endpoint": tokens}
    scaling = _scaling(rows)
    if scaling is not None:
        figures["postgresql_2_vs_1_workers"] = round(scaling, 3)
    return Result([_table(rows, plain, tokens, scaling, sizes)], figures)


def token_figures(calls: int, deliveries: int, sites: int, rows: list[Row]) -> dict[str, Any]:
    """Token endpoint calls: measured over the runs, and per 10,000 deliveries.

    Every run starts on a fresh database, so each must fetch once. Calls do not grow with
    deliveries but with time: one per token lifetime (less WI's renewal margin) per site.
    10,000 deliveries at the slowest measured saturation rate take ``t`` seconds, so the
    expected count is ``ceil(t / (lifetime - margin))`` — the measured calls per site must
    be 1 for that to hold.
    """
    rates = [r.per_second for r in rows if r.comparable and r.database != "-" and r.per_second]
    slowest = min(rates) if rates else 0.0
    seconds = 10_000 / slowest if slowest else None
    renew = TOKEN_SECONDS - min(60.0, TOKEN_SECONDS * 0.1)
    per_lifetime = calls / sites if sites else None
    expected = math.ceil(seconds / renew) if seconds else None
    return {"token_calls": calls, "deliveries": deliveries, "sites": sites,
            "calls_per_site": per_lifetime, "token_lifetime_s": TOKEN_SECONDS,
            "seconds_for_10000_at_slowest_rate": round(seconds, 1) if seconds else None,
            "per_10000_deliveries": (expected * per_lifetime
                                     if expected is not None and per_lifetime is not None
                                     else None)}


def _scaling(rows: list[Row]) -> float | None:
    one = [r for r in rows if r.database == "postgresql" and r.workers == "1 wi worker"
           and r.run.startswith("intake")]
    two = [r for r in rows if r.database == "postgresql" and r.workers == "2 wi workers"]
    if one and two and one[0].per_second:
        return two[0].per_second / one[0].per_second
    return None


def _table(rows: list[Row], plain: float, tokens: dict[str, Any], scaling: float | None,
           sizes: Sizes) -> Table:
    caption = [f"token endpoint: {tokens['token_calls']} calls for {tokens['deliveries']:,} "
               f"deliveries on {tokens['sites']} fresh sites ({tokens['calls_per_site']} per "
               f"site and token lifetime of {TOKEN_SECONDS} s) → "
               f"{tokens['per_10000_deliveries']} per 10,000 deliveries (extrapolated: 10,000 "
               f"take {tokens['seconds_for_10000_at_slowest_rate']} s at the slowest rate)"]
    if scaling is not None:
        caption.append(f"PostgreSQL, 2 wi worker / 1 wi worker: {scaling:.2f}×")
    caption += ["latency: intake→delivered; ¹ per request; ² planned→delivered, rate from the "
                "first plan; ³ from the worker's start, one ticket each; ⁴ one engine in this "
                "process, planning and sending counted"]
    table = Table(title=f"Delivery: intake → delivered to an OAuth 2.0 receiver in its own "
                        f"process, {sizes.concurrency} sends at once",
                  caption="\n".join(caption))
    for column in ("run", "database", "WI processes", "requests", "seconds", "per second",
                   "p50", "p95", "p99", "vs plain", "note"):
        table.add_column(column, justify="left" if column in ("run", "note", "WI processes")
                         else "right")
    for row in rows:
        cuts = row.cuts()
        table.add_row(row.run, row.database, row.workers, f"{row.requests:,}",
                      f"{row.seconds:.2f}", f"{row.per_second:,.0f}",
                      *(f"{v * 1e3:.1f} ms" if v is not None else "-" for v in cuts.values()),
                      f"{row.per_second / plain:.2f}" if row.comparable and plain else "-",
                      row.note)
    return table


RUNNER = Runner("delivery", run_delivery, _options)
