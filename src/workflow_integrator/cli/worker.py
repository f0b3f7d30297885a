"""``wi worker``: deliver events without serving the API or the UI."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from workflow_integrator import logs
from workflow_integrator.app import BackgroundRunner, Services, build_services
from workflow_integrator.cli.context import console
from workflow_integrator.cli.metrics_listener import metrics_listener
from workflow_integrator.delivery.runners import DeliveryRunners, delivery_runners
from workflow_integrator.settings import Settings


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Requests sent at once (WI_WORKER_CONCURRENCY)."),
    ] = None,
) -> None:
    """Plan and send deliveries, write responses back and send failure e-mails, until
    stopped (Ctrl-C, SIGTERM).

    Runs beside `wi serve` on the same database: on PostgreSQL any number of processes on
    any number of machines; on SQLite processes on the same host.
    """
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    services = build_services(settings)
    runners = delivery_runners(services, concurrency=concurrency)
    console.print(
        f"WI worker delivering ({runners.engine.settings.concurrency} at once, database "
        f"{services.engine.url.render_as_string()}); Ctrl-C stops it"
    )
    try:
        with metrics_listener(services):
            asyncio.run(_run(services, runners))
    finally:
        services.close()
    console.print("WI worker stopped")


async def _run(services: Services, runners: DeliveryRunners) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    started: list[BackgroundRunner] = []
    try:
        for runner in runners.in_start_order:
            await runner.start()
            started.append(runner)
        with contextlib.suppress(asyncio.CancelledError):
            await stop.wait()
    finally:
        # The engine first: it stops claiming and drains its sends (WI_DELIVERY_DRAIN_SECONDS).
        for runner in reversed(started):
            await runner.stop()
        await services.aclose()
