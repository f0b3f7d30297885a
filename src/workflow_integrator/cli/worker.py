"""``wi worker``: deliver events without serving the API or the UI."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from workflow_integrator.app import Services, build_services
from workflow_integrator.cli.context import console
from workflow_integrator.delivery.engine import DeliveryEngine, delivery_engine, run_until_stopped
from workflow_integrator.settings import Settings


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Requests sent at once (WI_WORKER_CONCURRENCY)."),
    ] = None,
) -> None:
    """Plan and send deliveries and write responses back, until stopped (Ctrl-C, SIGTERM).

    Runs beside `wi serve` on the same database: on PostgreSQL any number of processes on
    any number of machines; on SQLite processes on the same host.
    """
    settings = Settings()
    services = build_services(settings)
    engine = delivery_engine(services, concurrency=concurrency)
    console.print(
        f"WI worker delivering ({engine.settings.concurrency} at once, database "
        f"{services.engine.url.render_as_string()}); Ctrl-C stops it"
    )
    try:
        asyncio.run(_run(services, engine))
    finally:
        services.close()
    console.print("WI worker stopped")


async def _run(services: Services, engine: DeliveryEngine) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    try:
        await run_until_stopped(engine, stop, engine.drain_seconds)
    finally:
        await services.aclose()
