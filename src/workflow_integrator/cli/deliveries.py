"""``wi deliveries``: read deliveries with their attempts, replay and cancel them."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from workflow_integrator.cli.context import console, errors, handled, print_json, services
from workflow_integrator.domain.delivery import DeliveryState
from workflow_integrator.services.deliveries import (
    DeliveryQuery,
    DeliveryService,
    DeliveryView,
    replayed_message,
)

app = typer.Typer(help="Deliveries: requests to outbound servers and their attempts.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
StateOption = Annotated[list[str] | None, typer.Option(
    "--state", help=f"{', '.join(DeliveryState)} (repeatable).")]
ServerOption = Annotated[str | None, typer.Option(help="Only this outbound server (name).")]
WorkflowOption = Annotated[str | None, typer.Option(help="Only this workflow (name).")]
TicketOption = Annotated[int | None, typer.Option("--ticket", help="Only this ticket id.")]
EventOption = Annotated[int | None, typer.Option("--event", help="Only this event id.")]
SinceOption = Annotated[datetime | None, typer.Option(help="Created at or after (ISO, UTC).")]
UntilOption = Annotated[datetime | None, typer.Option(help="Created before (ISO, UTC).")]


def _deliveries() -> DeliveryService:
    return services().deliveries


def _who() -> str:
    """Who replays or cancels from the command line (recorded with the change)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


@app.command("list")
def list_deliveries(
    state: StateOption = None,
    server: ServerOption = None,
    workflow: WorkflowOption = None,
    ticket: TicketOption = None,
    event: EventOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    limit: Annotated[int, typer.Option(help="At most this many (1-1000).")] = 50,
    cursor: Annotated[int | None, typer.Option(help="Continue a list (its next cursor).")]
    = None,
    as_json: JsonOption = False,
) -> None:
    """List deliveries, newest first."""
    query = DeliveryQuery(states=tuple(state or ()), server=server, workflow=workflow,
                          ticket_id=ticket, event_id=event, since=since, until=until)
    with handled():
        page = _deliveries().list(query, cursor=cursor, limit=limit)
    if as_json:
        print_json({"items": [d.summary() for d in page.items],
                    "next_cursor": page.next_cursor})
        return
    table = Table(title="Deliveries")
    for column in ("Id", "State", "Ticket", "Workflow", "Point", "Server", "Attempts",
                   "Next attempt", "Last status", "Reason"):
        table.add_column(column)
    for d in page.items:
        table.add_row(str(d.id), d.state.value, str(d.ticket_id), d.workflow, d.point_name,
                      d.server or "(deleted)", str(d.attempts_made), _when(d.next_attempt_at),
                      str(d.last_status or ""), d.reason or "")
    console.print(table)
    if page.next_cursor is not None:
        console.print(f"More: --cursor {page.next_cursor}", highlight=False)


def _print(view: DeliveryView) -> None:
    for key, value in view.summary().items():
        if value not in (None, ""):
            console.print(f"[bold]{key}[/]: {value}", highlight=False)
    for a in view.attempts:
        console.rule(f"series {a.series} attempt {a.number}: {a.outcome} "
                     f"({_when(a.started_at)}, {a.duration_ms} ms)")
        console.print(a.request_line, highlight=False, markup=False)
        for name, value in a.request_headers:
            console.print(f"  {name}: {value}", highlight=False, markup=False)
        if a.request_body:
            console.print(a.request_body, highlight=False, markup=False)
        if a.response_status is not None:
            console.print(f"→ {a.response_status}", highlight=False)
            for name, value in a.response_headers:
                console.print(f"  {name}: {value}", highlight=False, markup=False)
            if a.response_body:
                console.print(a.response_body, highlight=False, markup=False)
        if a.error_class:
            console.print(f"error ({a.stage or 'unknown stage'}): {a.error_class}: "
                          f"{a.error_message or ''}", highlight=False, markup=False)
        console.print(f"reason: {a.reason}", highlight=False, markup=False)


@app.command("show")
def show(delivery_id: int, as_json: JsonOption = False) -> None:
    """Show one delivery with every attempt (secrets masked)."""
    with handled():
        found = _deliveries().get(delivery_id)
    if as_json:
        print_json(found.detail())
        return
    _print(found)


@app.command("replay")
def replay(
    delivery_id: Annotated[int | None, typer.Argument(
        help="The delivery to send again; without it, every one the filters select.")] = None,
    state: StateOption = None,
    server: ServerOption = None,
    workflow: WorkflowOption = None,
    ticket: TicketOption = None,
    event: EventOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send deliveries again: one by id, or all the filters select (dead unless --state)."""
    if delivery_id is not None:
        with handled():
            found = _deliveries().replay(delivery_id, _who())
        if as_json:
            print_json(found.summary())
        else:
            console.print(f"Delivery {found.id} is {found.state.value} again "
                          f"(series {found.replay_series}).", highlight=False)
        return
    query = DeliveryQuery(states=tuple(state or ()), server=server, workflow=workflow,
                          ticket_id=ticket, event_id=event, since=since, until=until)
    with Progress(TextColumn("Replaying"), BarColumn(), MofNCompleteColumn(),
                  console=errors, disable=as_json) as bar:
        task = bar.add_task("replay", total=None)

        def moved(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with handled():
            count = _deliveries().replay_matching(query, _who(), progress=moved)
    if as_json:
        print_json({"replayed": count})
    else:
        console.print(replayed_message(count), highlight=False)


@app.command("cancel")
def cancel(
    delivery_id: int,
    reason: Annotated[str, typer.Option(help="Why (recorded with who cancelled).")],
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or held delivery."""
    with handled():
        found = _deliveries().cancel(delivery_id, _who(), reason)
    if as_json:
        print_json(found.summary())
    else:
        console.print(f"Delivery {found.id} cancelled.", highlight=False)
