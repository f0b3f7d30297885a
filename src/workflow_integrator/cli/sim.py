"""``wi sim securechange``: run the SecureChange simulator and drive its tickets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx2
import typer

from workflow_integrator.cli.context import console, fail, print_json
from workflow_integrator.securechange.simulator import Move, SimulatorServer, TriggerConfig
from workflow_integrator.securechange.simulator.triggers import parse_command

app = typer.Typer(help="Simulators of the systems WI talks to.", no_args_is_help=True)
securechange = typer.Typer(
    help="A SecureChange simulator: REST API, tickets, trigger runs.", no_args_is_help=True
)
app.add_typer(securechange, name="securechange")

UrlOpt = Annotated[str, typer.Option(envvar="WI_SIM_URL", help="The running simulator's URL.")]
UserOpt = Annotated[str, typer.Option(envvar="WI_SIM_USER", help="Its user name.")]
PasswordOpt = Annotated[
    str, typer.Option(envvar="WI_SIM_PASSWORD", help="Its password.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@securechange.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8443,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    state_file: Annotated[
        Path, typer.Option(help="JSON file keeping tickets across restarts.")
    ] = Path("data/securechange-sim.json"),
    user: Annotated[str, typer.Option(envvar="WI_SIM_USER", help="Basic-auth user.")] = "admin",
    password: Annotated[
        str | None,
        typer.Option(envvar="WI_SIM_PASSWORD", help="Basic-auth password (default: random, "
                     "printed at start).", show_default=False),
    ] = None,
    trigger: Annotated[
        str | None,
        typer.Option(help="Command run on each ticket move, e.g. 'wi-trigger' (SCW_EVENT set, "
                     "<ticket_info> on stdin)."),
    ] = None,
    retry_delay: Annotated[
        float, typer.Option(help="Seconds before the first retry of a failed trigger "
                            "(doubling).")
    ] = 1.0,
) -> None:
    """Serve the simulator in the foreground until Ctrl-C."""
    delays = tuple(retry_delay * 2**i for i in range(4))
    server = SimulatorServer(
        state_file=state_file, username=user, password=password, host=host, port=port,
        trigger=TriggerConfig(command=parse_command(trigger), delays=delays),
    )
    console.print(
        f"SecureChange simulator on http://{host}:{port} (REST base "
        f"/securechangeworkflow/api/securechange), user [bold]{user}[/], password "
        f"[bold]{server.password}[/], state in {state_file}",
        highlight=False,
    )
    if not trigger:
        console.print("[yellow]no --trigger: ticket moves fire no trigger command[/]")
    server.serve_forever()


def _client(url: str, user: str, password: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, auth=(user, password), trust_env=False, timeout=30)


def _call(url: str, user: str, password: str, method: str, path: str,
          body: dict[str, Any] | None = None) -> Any:
    try:
        with _client(url, user, password) as client:
            response = client.request(method, path, json=body)
    except httpx2.TransportError as exc:
        fail(f"cannot reach the simulator at {url}: {exc}", code=1)
    if response.status_code == 401:
        fail("the simulator refused the user name or password", code=1)
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        fail(str(detail))
    return response.json()


def _field_values(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--field takes NAME=VALUE (VALUE may be JSON), got {pair!r}")
        try:
            values[name.strip()] = json.loads(raw)
        except ValueError:
            values[name.strip()] = raw
    return values


@securechange.command("create")
def create(
    subject: Annotated[str, typer.Option(help="Ticket subject.")],
    workflow: Annotated[str, typer.Option(help="Workflow name.")] = "Firewall Change Request",
    requester: Annotated[str, typer.Option(help="Requester's user name.")] = "api",
    field: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE of a first-step field (JSON values allowed); repeatable."),
    ] = None,
    url: UrlOpt = "http://127.0.0.1:8443",
    user: UserOpt = "admin",
    password: PasswordOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a ticket (fires CREATE)."""
    ticket = _call(url, user, password, "POST", "/sim/api/tickets", {
        "subject": subject, "workflow": workflow, "requester": requester,
        "fields": _field_values(field or []),
    })
    if as_json:
        print_json(ticket)
    else:
        console.print(f"ticket {ticket['id']} created in step "
                      f"{ticket['current_step']['name']!r}", highlight=False)


@securechange.command("move")
def move(
    ticket_id: int,
    action: Annotated[str, typer.Argument(help=", ".join(m.value for m in Move))],
    to_step: Annotated[str | None, typer.Option(help="Step a redo returns to.")] = None,
    field: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE to fill in the current step first.")
    ] = None,
    url: UrlOpt = "http://127.0.0.1:8443",
    user: UserOpt = "admin",
    password: PasswordOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Move a ticket: advance, redo, reject, cancel, close, resolve, reopen, resubmit,
    automation-failure (each fires its trigger event)."""
    body: dict[str, Any] = {"fields": _field_values(field or [])}
    if to_step:
        body["to_step"] = to_step
    ticket = _call(url, user, password, "POST", f"/sim/api/tickets/{ticket_id}/{action}", body)
    if as_json:
        print_json(ticket)
    else:
        step = ticket["current_step"]["name"] if ticket["current_step"] else "-"
        console.print(f"ticket {ticket_id}: {ticket['status']}, current step {step!r}",
                      highlight=False)


@securechange.command("runs")
def runs(
    url: UrlOpt = "http://127.0.0.1:8443",
    user: UserOpt = "admin",
    password: PasswordOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Show the trigger command's runs (event, attempt, exit code, stderr)."""
    found = _call(url, user, password, "GET", "/sim/api/trigger/runs")
    if as_json:
        print_json(found)
        return
    for run in found:
        console.print(f"ticket {run['ticket_id']} {run['event']} attempt {run['attempt']}: "
                      f"exit {run['exit_code']} {run['stderr']}", highlight=False)

