"""``wi events``: the workflow events WI received."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, handled, print_json, services
from workflow_integrator.delivery.intake import EventIntake
from workflow_integrator.store.events import EventFilter

app = typer.Typer(help="Workflow events received from SecureChange.", no_args_is_help=True)


def _intake() -> EventIntake:
    return services().events


@app.command("list")
def list_events(
    ticket: Annotated[int | None, typer.Option(help="Only this ticket id.")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event, e.g. ADVANCE.")] = None,
    state: Annotated[str | None, typer.Option(help="pending, planned, ignored, failed.")] = None,
    source: Annotated[str | None, typer.Option(help="securechange or api.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Received at or after (ISO).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
    = False,
) -> None:
    """List events, newest first."""
    flt = EventFilter(ticket_id=ticket, event=event, state=state, source=source, since=since,
                      limit=limit)
    with handled():
        found = _intake().list(flt)
    if as_json:
        print_json([e.summary() for e in found])
        return
    table = Table(title="Events")
    for column in ("Id", "Received", "Source", "Ticket", "Event", "State", "Subject"):
        table.add_column(column)
    for e in found:
        table.add_row(str(e.id), f"{e.received_at:%Y-%m-%d %H:%M:%S}", e.source,
                      str(e.ticket_id), e.event, e.state, str(e.info.get("subject", "")))
    console.print(table)


@app.command("show")
def show(
    event_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
    = False,
) -> None:
    """Show one event with the document as received."""
    with handled():
        found = _intake().get(event_id)
    if as_json:
        print_json(found.detail())
        return
    for key, value in found.summary().items():
        console.print(f"[bold]{key}[/]: {value}", highlight=False)
    console.print("[bold]document[/]:")
    typer.echo(found.document)
