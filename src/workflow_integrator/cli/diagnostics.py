"""``wi servers fetch-token`` and ``wi servers test``: one real attempt, reported."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, handled, print_json, run_async
from workflow_integrator.outbound import Diagnosis
from workflow_integrator.services.diagnostics import DiagnosticsService

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]

EXIT_FAILED = 1


def _run(action: Callable[[DiagnosticsService], Awaitable[Diagnosis]]) -> Diagnosis:
    return run_async(lambda found: action(found.diagnostics))


def _report(diagnosis: Diagnosis, title: str, as_json: bool) -> None:
    if as_json:
        print_json(diagnosis.as_dict())
    else:
        verdict = "[green]OK[/]" if diagnosis.ok else f"[red]FAILED[/] at stage {diagnosis.stage}"
        table = Table(show_header=False, title=f"{title}: {verdict}")
        table.add_column("Field", style="bold")
        table.add_column("Value")
        for key, value in diagnosis.as_dict().items():
            if key not in ("ok", "notes") and value is not None:
                table.add_row(key, str(value))
        for note in diagnosis.notes:
            table.add_row("note", note)
        console.print(table)
    if not diagnosis.ok:
        raise typer.Exit(EXIT_FAILED)


def fetch_token(name: str, as_json: JsonOpt = False) -> None:
    """Fetch a new token for a saved server now and report (the token is never shown)."""
    with handled():
        diagnosis = _run(lambda d: d.fetch_token(name))
    _report(diagnosis, f"Fetch Token {name}", as_json)


def test(
    name: str,
    method: Annotated[str, typer.Option(help="HTTP method of the test request.")] = "GET",
    path: Annotated[str, typer.Option(help="Path below the server's base path.")] = "/",
    as_json: JsonOpt = False,
) -> None:
    """Send one request to a saved server with its auth, TLS and proxy, and report."""
    with handled():
        diagnosis = _run(lambda d: d.test(name, method, path))
    _report(diagnosis, f"Test connection {name}", as_json)
