"""``wi securechange``: the SecureChange connection WI reads tickets through."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workflow_integrator.cli.context import (
    console,
    fail,
    handled,
    print_json,
    run_async,
    services,
)
from workflow_integrator.securechange.settings_service import SecureChangeSettingsService

app = typer.Typer(help="SecureChange connection settings.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _service() -> SecureChangeSettingsService:
    return services().securechange


def _print(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    if not view.get("configured"):
        console.print("SecureChange is not configured: run `wi securechange set --host ... "
                      "--user ... --password -`.")
        return
    for key in ("host", "protocol", "username", "password", "verify_certificate",
                "timeout_seconds", "base_url"):
        console.print(f"[bold]{key}[/]: {view[key]}", highlight=False)
    if view.get("certificate"):
        console.print("[bold]certificate[/]: (uploaded)")
    for warning in view.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command("show")
def show(as_json: JsonOpt = False) -> None:
    """Show the settings (the password only as ********)."""
    with handled():
        view = _service().view()
    _print(view, as_json)


@app.command("set")
def set_settings(
    host: Annotated[str | None, typer.Option(help="Host[:port] or URL of SecureChange.")] = None,
    user: Annotated[str | None, typer.Option(help="REST API user name.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Password; '-' asks for it without echo.")
    ] = None,
    protocol: Annotated[str | None, typer.Option(help="https (default) or http.")] = None,
    verify: Annotated[
        str | None, typer.Option(help="TLS verification: enable, certificate or disable.")
    ] = None,
    certificate: Annotated[
        Path | None, typer.Option(help="PEM file trusted with --verify certificate.")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the settings; options left out keep their current value."""
    service = _service()
    with handled():
        current = service.view()
    body: dict[str, Any] = {k: current[k] for k in (
        "host", "protocol", "username", "verify_certificate", "certificate", "timeout_seconds"
    )} if current.get("configured") else {}
    body["password"] = current.get("password") or None
    if password == "-":  # noqa: S105 - the "ask me" marker, not a password
        password = typer.prompt("SecureChange password", hide_input=True)
    if certificate is not None:
        try:
            body["certificate"] = certificate.read_text()
        except OSError as exc:
            fail(f"cannot read {certificate}: {exc.strerror}")
    for key, value in (("host", host), ("username", user), ("password", password),
                       ("protocol", protocol), ("verify_certificate", verify),
                       ("timeout_seconds", timeout)):
        if value is not None:
            body[key] = value
    if host is not None and protocol is None and "://" in host:
        body.pop("protocol", None)
    if verify is not None and verify != "certificate" and certificate is None:
        body["certificate"] = None
    with handled():
        view = service.replace({k: v for k, v in body.items() if v is not None or k in (
            "password", "certificate")})
    _print(view, as_json)


@app.command("test")
def test(as_json: JsonOpt = False) -> None:
    """Test the saved settings against SecureChange (exit 1 when it fails)."""
    with handled():
        result = run_async(lambda found: found.securechange.test())
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        console.print(f"[green]OK[/] {result.message} ({result.duration_ms} ms)", highlight=False)
    else:
        console.print(f"[red]FAILED[/] {result.message}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)
