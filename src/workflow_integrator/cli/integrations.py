"""``wi integrations``: list, show, add, edit, delete, import, export and preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, fail, handled, print_json, run_async, services
from workflow_integrator.cli.documents import (
    Format,
    print_import,
    read_many,
    read_one,
    write_export,
)
from workflow_integrator.services.integrations import IntegrationView
from workflow_integrator.services.previews import PreviewResult

app = typer.Typer(
    help="Workflow integrations: which requests WI sends for a SecureChange workflow.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
FileOpt = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="YAML or JSON integration document ('-' = stdin)."),
]


@app.command("list")
def list_integrations(as_json: JsonOpt = False) -> None:
    """List integrations."""
    with handled():
        views = services().integrations.list_all()
    if as_json:
        print_json([v.model_dump(mode="json") for v in views])
        return
    table = Table(title="Integrations")
    for column in ("Workflow", "Default server", "Routes", "Points", "Enabled"):
        table.add_column(column)
    for view in views:
        table.add_row(
            view.workflow,
            view.default_server,
            str(len(view.routes)),
            str(len(view.points)),
            "yes" if view.enabled else "no",
        )
    console.print(table)


@app.command("show")
def show(workflow: str, as_json: JsonOpt = False) -> None:
    """Show one integration with its points."""
    with handled():
        view = services().integrations.get(workflow)
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(
        f"[bold]{view.workflow}[/] → {view.default_server}"
        f" ({'enabled' if view.enabled else 'disabled'}, revision {view.revision})"
    )
    for index, candidate in enumerate(view.routes, 1):
        console.print(f"  route {index}: {json.dumps(candidate.when)} → {candidate.server}")
    table = Table(title="Points")
    for column in ("Name", "When", "Request", "Server", "Enabled"):
        table.add_column(column)
    for point in view.points:
        table.add_row(
            point.name,
            point.on.describe(),
            f"{point.request.method} {point.request.path or '/'}",
            point.server or "(routes/default)",
            "yes" if point.enabled else "no",
        )
    console.print(table)
    for warning in view.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@app.command("add")
def add(
    file: Annotated[Path, typer.Argument(help="YAML or JSON integration document ('-' = stdin).")],
    as_json: JsonOpt = False,
) -> None:
    """Add an integration from a document."""
    body = read_one(file, "integration")
    with handled():
        view = services().integrations.create(body)
    _done(view, "created", as_json)


@app.command("edit")
def edit(
    workflow: Annotated[str, typer.Argument(help="Workflow of the integration to change.")],
    file: FileOpt = None,
    default_server: Annotated[
        str | None, typer.Option(help="Send to this outbound server by default.")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Send requests?")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an integration: --file replaces it; options change single fields."""
    patch: dict[str, Any] = {}
    if default_server is not None:
        patch["default_server"] = default_server
    if enabled is not None:
        patch["enabled"] = enabled
    if file is None and not patch:
        fail("nothing to change: give --file, --default-server or --enabled/--disabled")
    with handled():
        integrations = services().integrations
        view = integrations.get(workflow)
        if file is not None:
            view = integrations.replace(workflow, read_one(file, "integration"))
        if patch:
            view = integrations.update(view.workflow, patch)
    _done(view, "updated", as_json)


@app.command("delete")
def delete(
    workflow: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an integration."""
    if not yes and not typer.confirm(f"Delete the integration of workflow '{workflow}'?"):
        raise typer.Exit(1)
    with handled():
        services().integrations.delete(workflow)
    console.print(f"deleted the integration of [bold]{workflow}[/]")


@app.command("export")
def export(
    workflows: Annotated[
        list[str] | None, typer.Argument(help="Workflows to export (default all).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="yaml or json.")] = Format.yaml,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default stdout).")
    ] = None,
) -> None:
    """Export integrations (servers by name; they hold no secrets)."""
    with handled():
        docs = services().integrations.export(workflows or None)
    write_export("integrations", docs, fmt, output, "integration(s)")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="YAML or JSON export ('-' = stdin).")],
    dry_run: Annotated[bool, typer.Option(help="Validate and report; change nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import integrations: all are validated first; any error changes nothing."""
    docs = read_many(file, "integrations", "workflow", "integrations")
    with handled():
        report = services().integrations.import_(docs, dry_run=dry_run)
    print_import(report, dry_run=dry_run, as_json=as_json)


@app.command("preview")
def preview(
    workflow: Annotated[str, typer.Argument(help="Workflow of the integration.")],
    event: Annotated[str, typer.Option(help="CREATE, ADVANCE, REDO, REJECT, CLOSE, ...")],
    ticket: Annotated[
        int | None, typer.Option("--ticket", help="Ticket id, read from SecureChange.")
    ] = None,
    ticket_file: Annotated[
        Path | None,
        typer.Option("--ticket-file", help="A ticket document (XML or JSON; '-' = stdin)."),
    ] = None,
    completed_step: Annotated[
        str | None, typer.Option(help="For ADVANCE: the step just completed.")
    ] = None,
    current_step: Annotated[
        str | None, typer.Option(help="The step after the event (default: the ticket's).")
    ] = None,
    point: Annotated[
        str | None, typer.Option(help="Render only this point, whether or not it fires.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what an event would send for a ticket, without sending anything."""
    if (ticket is None) == (ticket_file is None):
        fail("give the ticket: --ticket ID (from SecureChange) or --ticket-file FILE")
    document: Any = None
    if ticket_file is not None:
        try:
            document = (
                typer.get_text_stream("stdin").read()
                if str(ticket_file) == "-"
                else ticket_file.read_text()
            )
        except OSError as exc:
            fail(f"cannot read {ticket_file}: {exc.strerror}")
    with handled():
        result = run_async(
            lambda found: found.previews.preview(
                workflow,
                event=event,
                ticket=document,
                ticket_id=ticket,
                completed_step=completed_step,
                current_step=current_step,
                point=point,
            )
        )
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    _print_preview(result)


def _print_preview(result: PreviewResult) -> None:
    console.print(
        f"[bold]{result.event}[/] on ticket {result.ticket_id} of {result.workflow}"
        f" (step: {result.current_step or '-'}) — nothing was sent"
    )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    for item in result.points:
        fires = "" if item.fires else " [dim](does not fire for this event)[/]"
        console.print(f"\n[bold]{item.name}[/] — {item.on}{fires}")
        if item.error:
            console.print(f"  [red]error:[/] {item.error}", highlight=False)
            continue
        console.print(f"  server: {item.server}", highlight=False)
        console.print(f"  {item.method} {item.url}", highlight=False)
        for name, value in item.headers:
            console.print(f"  {name}: {value}", highlight=False, markup=False)
        if item.body is not None:
            console.print(item.body, highlight=False, markup=False)
    if result.undeclared_fields:
        console.print(
            f"\nticket fields not declared in the integration: "
            f"{', '.join(result.undeclared_fields)}",
            highlight=False,
        )


def _done(view: IntegrationView, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(view.model_dump(mode="json"))
        return
    console.print(
        f"{verb} the integration of [bold]{view.workflow}[/] "
        f"({len(view.points)} point(s), default server {view.default_server})"
    )
    for warning in view.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@app.command("placeholders")
def placeholders(
    workflow: Annotated[
        str | None, typer.Argument(help="Include this integration's declared fields.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the placeholder names templates may use."""
    with handled():
        catalog = services().integrations.placeholders(workflow)
    if as_json:
        print_json(catalog.model_dump())
        return
    table = Table(title="Placeholders")
    for column in ("Name", "Kind", "Value"):
        table.add_column(column)
    for item in catalog.placeholders:
        table.add_row(item.name, item.kind, item.description)
    console.print(table)
    if catalog.custom_functions_error:
        console.print(f"[red]custom functions:[/] {catalog.custom_functions_error}")
    elif catalog.custom_functions_file:
        console.print(f"custom functions from {catalog.custom_functions_file}")
