"""``wi smtp``: the mail server WI sends failure e-mails through."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from workflow_integrator.cli.context import console, fail, handled, print_json, services

app = typer.Typer(help="Mail server (SMTP) settings for failure e-mails.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
_EDITABLE = ("host", "port", "security", "verify_certificate", "certificate", "username",
             "password", "sender", "timeout_seconds")


def _print(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    if not view.get("configured"):
        console.print("The mail server is not configured: run `wi smtp set --host ... "
                      "--sender ...`.")
        return
    for key in ("host", "effective_port", "security", "verify_certificate", "username",
                "password", "sender", "timeout_seconds"):
        label = "port" if key == "effective_port" else key
        console.print(f"[bold]{label}[/]: {view[key]}", highlight=False)
    if view.get("certificate"):
        console.print("[bold]certificate[/]: (uploaded)")
    for warning in view.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command("show")
def show(as_json: JsonOpt = False) -> None:
    """Show the settings (the password only as ********)."""
    with handled():
        view = services().smtp.view()
    _print(view, as_json)


@app.command("set")
def set_settings(
    host: Annotated[str | None, typer.Option(help="Mail server name or address.")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port; default 25 plain, 587 starttls, 465 tls.")
    ] = None,
    security: Annotated[
        str | None, typer.Option(help="plain, starttls (default) or tls (implicit TLS).")
    ] = None,
    verify: Annotated[
        str | None, typer.Option(help="TLS verification: enable, certificate or disable.")
    ] = None,
    certificate: Annotated[
        Path | None, typer.Option(help="PEM file trusted with --verify certificate.")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Login user; '' for no login.")] = None,
    password: Annotated[
        str | None, typer.Option(help="Login password; '-' asks for it without echo.")
    ] = None,
    sender: Annotated[str | None, typer.Option(help="From address of WI's e-mails.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per connection.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the settings; options left out keep their current value."""
    service = services().smtp
    with handled():
        current = service.view()
    body: dict[str, Any] = (
        {k: current[k] for k in _EDITABLE} if current.get("configured") else {}
    )
    if password == "-":  # noqa: S105 - the "ask me" marker, not a password
        password = typer.prompt("Mail server password", hide_input=True)
    if certificate is not None:
        try:
            body["certificate"] = certificate.read_text()
        except OSError as exc:
            fail(f"cannot read {certificate}: {exc.strerror}")
    for key, value in (("host", host), ("port", port), ("security", security),
                       ("verify_certificate", verify), ("username", user),
                       ("password", password), ("sender", sender),
                       ("timeout_seconds", timeout)):
        if value is not None:
            body[key] = value
    if user == "":
        body["password"] = None
    if security is not None and port is None and current.get("configured"):
        body["port"] = None  # the new security's usual port, unless one is given
    if verify is not None and verify != "certificate" and certificate is None:
        body["certificate"] = None
    with handled():
        view = service.replace(body)
    _print(view, as_json)


@app.command("outbox")
def outbox(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Failure e-mails queued, sent or given up, newest first."""
    with handled():
        mails = services().failure_mails.recent(limit)
    if as_json:
        print_json(mails)
        return
    if not mails:
        console.print("No failure e-mails yet.")
        return
    for mail in mails:
        when = mail["sent_at"] or mail["next_attempt_at"] or mail["created_at"]
        line = (f"{mail['id']:>6} {mail['state']:<8} {when[:19]} {mail['recipient']}: "
                f"{mail['subject']}")
        if mail["last_error"]:
            line += f" ({mail['attempts']} attempts; {mail['last_error']})"
        console.print(line, highlight=False, soft_wrap=True)


@app.command("test")
def test(
    to: Annotated[str, typer.Option("--to", help="Address to send the test e-mail to.")],
    as_json: JsonOpt = False,
) -> None:
    """Send a test e-mail through the saved settings (exit 1 when it fails)."""
    with handled():
        result = asyncio.run(services().smtp.send_test(to))
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        console.print(f"[green]OK[/] {result.message} ({result.duration_ms} ms)",
                      highlight=False)
    else:
        console.print(f"[red]FAILED[/] {result.message}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)
