"""Intake benchmark: events stored per second by one ``wi serve`` on SQLite
(``synchronous=FULL``), at concurrency 1 and 50, next to ``/healthz`` of the same
process asked by the same client.

``wi serve`` runs in its own process with the delivery workers off
(``WI_SERVE_WORKERS=false``), so the figures are intake's alone. Every intake request
carries a new event (a new ticket id), so each one is a durable insert. The ratio
intake / ``/healthz`` says how much of its own HTTP stack intake keeps.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
from rich.progress import Progress
from rich.table import Table
from tests.servers.uvicorn_thread import free_port

WI = str(Path(sys.executable).parent / "wi")
CONCURRENCIES = (1, 50)


@dataclass
class Run:
    """One measured run of one endpoint at one concurrency."""

    endpoint: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    #: Answers other than the expected one (a 500 "database is locked", say).
    failed: int = 0

    @property
    def per_second(self) -> float:
        """Requests answered per second over the run."""
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        """The ``p``-th percentile latency in seconds."""
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {"endpoint": self.endpoint, "concurrency": self.concurrency,
                "requests": self.requests, "failed": self.failed,
                "seconds": round(self.seconds, 3),
                "per_second": round(self.per_second, 1),
                **{f"p{p}_ms": round(self.percentile(p) * 1e3, 2) for p in (50, 95, 99)}}


@dataclass
class IntakeReport:
    """Every run, and the events the database holds afterwards."""

    events: int
    runs: list[Run] = field(default_factory=list)
    stored: int = 0

    def ratio(self, concurrency: int) -> float:
        """Intake's rate over ``/healthz``'s at this concurrency."""
        rates = {r.endpoint: r.per_second for r in self.runs if r.concurrency == concurrency}
        return rates["intake"] / rates["healthz"] if rates.get("healthz") else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able figures, ratios included."""
        return {"events_per_run": self.events, "stored": self.stored,
                "runs": [r.as_dict() for r in self.runs],
                "ratios": {str(c): round(self.ratio(c), 3)
                           for c in sorted({r.concurrency for r in self.runs})}}

    def table(self) -> Table:
        """The figures as a table."""
        table = Table(title=f"Intake, one wi serve, SQLite synchronous=FULL, {self.events} "
                            f"requests per run ({self.stored} events stored)")
        for column in ("endpoint", "concurrency", "per second", "p50", "p95", "p99", "failed",
                       "intake / healthz"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        for run in self.runs:
            ratio = f"{self.ratio(run.concurrency):.2f}" if run.endpoint == "intake" else ""
            table.add_row(run.endpoint, str(run.concurrency), f"{run.per_second:,.0f}",
                          *(f"{run.percentile(p) * 1e3:.1f} ms" for p in (50, 95, 99)),
                          str(run.failed), ratio)
        return table


@contextmanager
def wi_serve(folder: Path) -> Iterator[tuple[str, str]]:
    """``wi serve`` on a fresh data folder, workers off; its URL and an admin token."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WI_")}
    env.update(WI_DATA_DIR=str(folder / "data"), WI_SERVE_WORKERS="false",
               WI_LOG_LEVEL="warning", WI_LOG_FORMAT="text")
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen([WI, "serve", "--port", str(port)], cwd=folder, env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(f"{url}/healthz", trust_env=False).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("wi serve did not start: "
                                   + (folder / "serve.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield url, (folder / "data" / "initial-admin-token").read_text().strip()
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _run(name: str, count: int, concurrency: int,
               send: Callable[[], Awaitable[bool]], advance: Callable[[], None]) -> Run:
    latencies: list[float] = []
    failed = 0
    numbers = iter(range(count))

    async def worker() -> None:
        nonlocal failed
        for _ in numbers:
            began = time.perf_counter()
            try:
                answered = await send()
            except httpx2.TransportError:
                answered = False
            if not answered:
                failed += 1
            latencies.append(time.perf_counter() - began)
            advance()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(name, concurrency, count, time.perf_counter() - start, latencies, failed)


async def _measure(url: str, token: str, events: int, progress: Progress) -> list[Run]:
    tickets = itertools.count(1)
    runs = []
    limits = httpx2.Limits(max_connections=max(CONCURRENCIES),
                           max_keepalive_connections=max(CONCURRENCIES))
    async with httpx2.AsyncClient(base_url=url, trust_env=False, timeout=60, limits=limits,
                                  headers={"Authorization": f"Bearer {token}"}) as client:
        async def healthz() -> bool:
            return (await client.get("/healthz")).status_code == 200

        async def intake() -> bool:
            ticket = next(tickets)
            response = await client.post("/api/v1/events", json={
                "event": "CREATE", "ticket": {"id": ticket, "subject": f"bench {ticket}",
                                              "update_date": str(ticket)}})
            return response.status_code == 202

        for send in (healthz, intake):  # warm up both paths and the connection pool
            await _run("warm-up", max(CONCURRENCIES), max(CONCURRENCIES), send, lambda: None)
        for concurrency in CONCURRENCIES:
            for name, send in (("healthz", healthz), ("intake", intake)):
                task = progress.add_task(f"{name} at concurrency {concurrency}", total=events)
                runs.append(await _run(name, events, concurrency, send,
                                       partial(progress.advance, task)))
    return runs


def _stored(folder: Path) -> int:
    with sqlite3.connect(folder / "data" / "wi.db") as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def run_intake_bench(folder: Path, events: int = 2000) -> IntakeReport:
    """Serve WI on a fresh SQLite folder and measure; ``events`` requests per run."""
    report = IntakeReport(events)
    with wi_serve(folder) as (url, token), Progress(transient=True) as progress:
        report.runs = asyncio.run(_measure(url, token, events, progress))
    report.stored = _stored(folder)
    return report
