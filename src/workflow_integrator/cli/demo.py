"""``wi demo``: WI working end to end on this machine, in one command, until Ctrl-C."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from workflow_integrator import logs
from workflow_integrator.cli.context import console, errors, fail
from workflow_integrator.demo.stage import Demo, DemoFailed, DemoStopped, Report


def demo(
    data: Annotated[
        Path | None,
        typer.Option(help="New or empty data folder to keep (default: a temporary folder, "
                     "removed on exit)."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port of WI's web UI and API.")] = 8080,
    sim_port: Annotated[
        int, typer.Option(help="Port of the SecureChange simulator (0: any free one).")] = 0,
    itsm_port: Annotated[
        int, typer.Option(help="Port of the sample ITSM (0: any free one).")] = 0,
) -> None:
    """Start WI with a SecureChange simulator and an HTTPS ITSM taking OAuth 2.0, move a few
    tickets through a workflow, show what happened, and keep running until Ctrl-C."""
    if data is not None and data.exists() and (not data.is_dir() or any(data.iterdir())):
        fail(f"--data: {data} is not an empty folder; give a new or empty one, or leave "
             "--data out for a temporary folder")
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    logs.configure("warning", "text")
    folder = data or Path(tempfile.mkdtemp(prefix="wi-demo-"))
    stage = Demo(folder, port=port, sim_port=sim_port, itsm_port=itsm_port, stopping=stopping,
                 say=lambda line: console.print(line, highlight=False, soft_wrap=True),
                 remove_data=data is None)
    try:
        try:
            report = stage.run()
        except DemoStopped:
            console.print("stopping")
            return
        except DemoFailed as exc:
            errors.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            errors.print(f"[bold red]error:[/] {exc}; choose free ports with --port, "
                         "--sim-port and --itsm-port", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        _print(report, kept=data is not None)
        stopping.wait()
        console.print("stopping")
    finally:
        stage.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    console.print("stopped: nothing of the demo is running or listening")


def _print(report: Report, *, kept: bool) -> None:
    out = console.print
    out("")
    out("[bold]What happened[/]", highlight=False)
    for ticket in report.tickets:
        written = ", ".join(f"{k} = {v}" for k, v in ticket.written_back.items())
        out(f"  ticket {ticket.id} '{ticket.subject}', now in {ticket.step}: {written}",
            highlight=False, soft_wrap=True)
        for delivery in ticket.deliveries:
            out(f"    delivery {delivery['id']} '{delivery['point']}' → {delivery['server']}: "
                f"{delivery['state']} (HTTP {delivery['last_status']}, write-back "
                f"{delivery['writeback']['state']})", highlight=False, soft_wrap=True)
    out(f"  the ITSM issued {report.token_requests} OAuth 2.0 token(s) for all of it",
        highlight=False, soft_wrap=True)
    out("")
    out("[bold]Where to look[/]", highlight=False)
    user, password = report.sign_in
    first = report.tickets[0].id if report.tickets else ""
    lines = [
        f"  web UI        {report.wi_url}/sign-in  user {user}  password {password}",
        f"  a ticket      {report.wi_url}/tickets/{first}",
        f"  deliveries    {report.wi_url}/deliveries   (API: {report.wi_url}/api/v1/deliveries)",
        f"  API token     {report.token_file}",
        f"  ITSM          {report.itsm_url}/   (what it received, as JSON; its CA certificate "
        f"is {report.itsm_ca_file})",
        f"  SecureChange  {report.simulator_url}  user {report.simulator_login[0]}  password "
        f"{report.simulator_login[1]}",
        f"  data folder   {report.data_dir}" + ("" if kept else " (removed on exit)"),
    ]
    for line in lines:
        out(line, highlight=False, soft_wrap=True)
    out("")
    out("ready: press Ctrl-C to stop everything the demo started")
