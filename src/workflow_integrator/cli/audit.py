"""``wi audit``: who changed which configuration, when and from where."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from workflow_integrator.cli.context import console, fail, handled, print_json, services
from workflow_integrator.services.audit import MAX_PAGE, SUBJECT_KINDS
from workflow_integrator.store.audit import AuditFilter

app = typer.Typer(help="The audit log of configuration changes.", no_args_is_help=True)


@app.command("list")
def list_audit(
    kind: Annotated[str | None, typer.Option(
        help=f"Only changes of this kind: {', '.join(SUBJECT_KINDS)}.")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this name, e.g. a server's.")]
    = None,
    actor: Annotated[str | None, typer.Option(help="Only changes by this token or user.")]
    = None,
    since: Annotated[datetime | None, typer.Option(help="At or after (ISO 8601).")] = None,
    before_id: Annotated[int | None, typer.Option(help="Page: records older than this id.")]
    = None,
    limit: Annotated[int, typer.Option(help=f"At most this many (1-{MAX_PAGE}).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
    = False,
) -> None:
    """List configuration changes, newest first (secrets show as ********)."""
    if kind is not None and kind not in SUBJECT_KINDS:
        fail(f"--kind must be one of {', '.join(SUBJECT_KINDS)}, not {kind!r}")
    if not 1 <= limit <= MAX_PAGE:
        fail(f"--limit must be between 1 and {MAX_PAGE}")
    flt = AuditFilter(subject_kind=kind, subject=subject, actor=actor, since=since,
                      before_id=before_id, limit=limit)
    with handled():
        found = services().audit.list(flt)
    if as_json:
        print_json(found)
        return
    table = Table(title="Audit log")
    for column in ("Id", "At", "Actor", "From", "Action", "What", "Changes"):
        table.add_column(column)
    for r in found:
        table.add_row(str(r["id"]), r["at"][:19], f"{r['actor']} ({r['actor_kind']})",
                      r["address"] or "", r["action"], f"{r['subject_kind']} {r['subject']}",
                      json.dumps(r["changes"], ensure_ascii=False)[:200])
    console.print(table)
